/**
 * Read-only queries for the CLI and the role actors. Paths are `kind` or `kind/key`; answers
 * are JSON-able (bigints as decimal strings).
 *
 *   height, params, supply, model, subnets, datasets, validators, stakers, staker/<addr>,
 *   account/<addr>, unbonding/<addr>, window (current), window/<id>, tasks/<window>,
 *   tasks/<window>/<addr> (a miner's tasks), commits/<taskId> (its miners that committed),
 *   claim/<id>, claims/<window>, credits/<addr>,
 *   challenge/<id>, challenges (open ones), proposal/<id>, proposals, audit,
 *   verifier-draws[/<addr>] (open L2 attempts: what a verifier needs to compute its ticket),
 *   arbiter-duties/<addr> (panel seats waiting for the arbiter's vote), pruned (the watermark)
 *
 * A window, task, claim or challenge that was pruned (pruning.ts) is not answered with null
 * but refused with `PrunedError` (code ERR_PRUNED), so "gone" is never mistaken for "never was".
 */
import { R3mesError } from '../runtime/errors.ts'
import { paramsToJson } from './params.ts'
import { isWindowPruned, windowOfClaim, windowOfTask } from './pruning.ts'
import type { ChainState, Challenge } from './state.ts'
import { toJson } from './store.ts'
import { currentWindow, submissionId, windowKey } from './windows.ts'

export class UnknownQueryError extends R3mesError {
  constructor(path: string) {
    super('ERR_UNKNOWN_QUERY', `no query ${path}`, { path })
  }
}

/** The thing asked for existed but has been pruned: the state keeps only windows from `retainedFrom` on. */
export class PrunedError extends R3mesError {
  constructor(path: string, what: string, retainedFrom: number) {
    super('ERR_PRUNED', `${what} was pruned: the state keeps windows from ${retainedFrom} on (query ${path})`, {
      path,
      retainedFrom,
    })
  }
}

/** An open L2 attempt as a verifier node needs it to compute its ticket (verifier-draw.ts). */
export interface VerifierDrawInfo {
  readonly challengeId: string
  readonly claimId: string
  readonly seed: string
  readonly attempt: number
  /** Claims are accepted up to this height, answers after it. */
  readonly claimUntil: number
  readonly deadline: number
  readonly totalStake: string
  readonly expectedCount: number
  /** Stakes of the eligible verifiers, fixed when the attempt opened. */
  readonly stakes: Readonly<Record<string, string>>
  /** The verifier holding the seat, or null. */
  readonly seat: string | null
  readonly claim: unknown
}

function verifierDraws(s: ChainState, address: string | undefined): VerifierDrawInfo[] {
  return s.challenges
    .entries()
    .map(([, c]) => c)
    .filter((c) => c.stage === 'l2' && (address === undefined || Object.hasOwn(c.eligible, address)))
    .map((c) => ({
      challengeId: c.id,
      claimId: c.claimId,
      seed: c.seed,
      attempt: c.attempt,
      claimUntil: c.claimUntil,
      deadline: c.deadline,
      totalStake: c.eligibleStake.toString(),
      expectedCount: s.params.verifierExpectedCount,
      stakes: toJson(c.eligible) as Record<string, string>,
      seat: c.verifier,
      claim: toJson(s.claims.get(c.claimId) ?? null),
    }))
}

function arbiterDuties(s: ChainState, address: string): unknown[] {
  return s.challenges
    .entries()
    .map(([, c]) => c)
    .filter((c: Challenge) => c.stage === 'l3' && c.panel.includes(address) && c.votes[address] === undefined)
    .map((c) => ({
      challengeId: c.id,
      claimId: c.claimId,
      round: c.panelRound,
      deadline: c.deadline,
      claim: toJson(s.claims.get(c.claimId) ?? null),
    }))
}

/** Refuse a query for something of a pruned window. */
function checkRetained(s: ChainState, path: string, what: string, window: number): void {
  if (Number.isSafeInteger(window) && isWindowPruned(s, window)) throw new PrunedError(path, what, s.globals.prunedWindows)
}

export function runQuery(s: ChainState, path: string, _data?: string): unknown {
  const [kind, a, b] = path.split('/')
  const m = s.globals
  switch (kind) {
    case 'height':
      return m.height
    case 'params':
      return paramsToJson(s.params)
    case 'supply':
      return toJson({
        supply: m.supply,
        genesis: m.genesisSupply,
        minted: m.minted,
        slashed: m.slashed,
        communityPool: m.communityPool,
      })
    case 'audit':
      return toJson(s.audit())
    case 'model':
      return toJson({ ...m.model, adapters: Object.fromEntries(s.adapters.entries()) })
    case 'subnets':
      return toJson(s.subnets.entries().map(([, v]) => v))
    case 'datasets':
      return toJson(s.datasets.entries().map(([, v]) => v))
    case 'validators':
      return toJson(
        s
          .withRole('validator')
          .map((v) => ({ address: v.address, power: v.weight, pubKey: s.stakers.get(v.address)?.pubKey })),
      )
    case 'stakers':
      return toJson(s.stakers.entries().map(([address, v]) => ({ address, ...v })))
    case 'staker':
      return toJson(s.stakers.get(a ?? '') ?? null)
    case 'account':
      return toJson(s.accounts.get(a ?? '') ?? null)
    case 'unbonding':
      return toJson(
        s.unbonding
          .entries()
          .map(([, u]) => u)
          .filter((u) => u.address === a),
      )
    case 'window':
      if (a !== undefined) checkRetained(s, path, `window ${a}`, Number(a))
      return toJson((a === undefined ? currentWindow(s) : s.windows.get(windowKey(Number(a)))) ?? null)
    case 'tasks':
      checkRetained(s, path, `the tasks of window ${a}`, Number(a))
      return toJson(
        s.tasks
          .entries()
          .map(([, t]) => t)
          .filter((t) => String(t.window) === a && (b === undefined || t.miners.includes(b))),
      )
    case 'commits': {
      // The miners of task `a` that have committed (a miner reveals once its replicas have,
      // so an honest replica's identical CID is never mistaken for a copy).
      const task = s.tasks.get(String(a))
      if (task === undefined) return toJson([])
      return toJson(task.miners.filter((m) => s.commits.has(submissionId(task.id, m))))
    }
    case 'claim': {
      const id = path.slice('claim/'.length)
      const claim = s.claims.get(id)
      if (claim === undefined) checkRetained(s, path, `claim ${id}`, windowOfClaim(id))
      return toJson(claim ?? null)
    }
    case 'task': {
      const id = a ?? ''
      const task = s.tasks.get(id)
      if (task === undefined) checkRetained(s, path, `task ${id}`, windowOfTask(id))
      return toJson(task ?? null)
    }
    case 'claims':
      checkRetained(s, path, `the claims of window ${a}`, Number(a))
      return toJson(
        s.claims
          .entries()
          .map(([, c]) => c)
          .filter((c) => String(c.window) === a),
      )
    case 'credits':
      return toJson(
        s.credits
          .entries()
          .map(([id, c]) => ({ claimId: id, ...c }))
          .filter((c) => c.address === a),
      )
    case 'challenge': {
      const c = s.challenges.get(a ?? '')
      const n = /^ch-(0|[1-9][0-9]*)$/.exec(a ?? '')
      // Challenge ids are never reused and only pruning deletes one: a missing id below the counter was pruned.
      if (c === undefined && n !== null && Number(n[1]) < s.globals.nextChallenge)
        throw new PrunedError(path, `challenge ${a}`, s.globals.prunedWindows)
      return toJson(c ?? null)
    }
    case 'verifier-draws':
      return verifierDraws(s, a)
    case 'arbiter-duties':
      return arbiterDuties(s, a ?? '')
    case 'pruned':
      return { prunedWindows: s.globals.prunedWindows, retentionBlocks: s.params.retentionBlocks }
    case 'challenges':
      return toJson(
        s.challenges
          .entries()
          .map(([, c]) => c)
          .filter((c) => c.stage === 'l2' || c.stage === 'l3'),
      )
    case 'proposal':
      return toJson(s.proposals.get(a ?? '') ?? null)
    case 'proposals':
      return toJson(s.proposals.entries().map(([, p]) => p))
    default:
      throw new UnknownQueryError(path)
  }
}
