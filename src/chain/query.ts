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
 *   arbiter-duties/<addr> (panel seats waiting for the arbiter's vote), pruned (the watermark),
 *   aggregations (those not finished), aggregation/<window>/<subnet>,
 *   final-pointer/<subnet> (the adapter state no dispute can undo)
 *
 * A window, task, claim or challenge that was pruned (pruning.ts) is not answered with null
 * but refused with `PrunedError` (code ERR_PRUNED), so "gone" is never mistaken for "never was".
 */
import { R3mesError } from '../runtime/errors.ts'
import { paramsToJson } from './params.ts'
import { ChainReader, PrunedError } from './reader.ts'
import type { ChainState } from './state.ts'
import { toJson } from './store.ts'

export class UnknownQueryError extends R3mesError {
  constructor(path: string) {
    super('ERR_UNKNOWN_QUERY', `no query ${path}`, { path })
  }
}

export { PrunedError }

/** Run a reader call, naming the query path in a pruning refusal. */
function retained<T>(path: string, read: () => T): T {
  try {
    return read()
  } catch (error) {
    if (error instanceof PrunedError) throw new PrunedError(String(error.details.what), retainedFromOf(error), path)
    throw error
  }
}

function retainedFromOf(error: PrunedError): number {
  return Number(error.details.retainedFrom)
}

/** A window id from a path segment: only a canonical decimal names one (anything else matches nothing). */
function windowId(segment: string | undefined): number {
  return segment !== undefined && /^(0|[1-9][0-9]{0,15})$/.test(segment) ? Number(segment) : Number.NaN
}

export function runQuery(s: ChainState, path: string, _data?: string): unknown {
  const [kind, a, b] = path.split('/')
  const m = s.globals
  const read = new ChainReader(s)
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
      return toJson({
        ...m.model,
        adapters: Object.fromEntries(s.adapters.entries()),
        finalAdapters: Object.fromEntries(read.subnets().map((k) => [String(k.id), read.finalAdapterPointer(k.id)])),
      })
    case 'final-pointer':
      return read.finalAdapterPointer(windowId(a))
    case 'aggregations':
      return toJson(read.openAggregations())
    case 'aggregation':
      return toJson(retained(path, () => read.aggregation(windowId(a), windowId(b))))
    case 'subnets':
      return toJson(s.subnets.entries().map(([, v]) => v))
    case 'datasets':
      return toJson(s.datasets.entries().map(([, v]) => v))
    case 'validators':
      return toJson(
        s.withRole('validator').map((v) => {
          const staker = s.stakers.get(v.address)
          return {
            address: v.address,
            power: v.weight,
            pubKey: staker?.pubKey,
            consensusKey: staker?.consensusKey,
            peerId: staker?.peerId,
          }
        }),
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
      return toJson(a === undefined ? read.currentWindow() : retained(path, () => read.window(windowId(a))))
    case 'tasks':
      return toJson(retained(path, () => read.tasks(windowId(a), b)))
    case 'commits':
      // The miners of task `a` that have committed (a miner reveals once its replicas have,
      // so an honest replica's identical CID is never mistaken for a copy).
      return toJson(read.commits(String(a)))
    case 'claim': {
      const id = path.slice('claim/'.length)
      return toJson(retained(path, () => read.claim(id)))
    }
    case 'task':
      return toJson(retained(path, () => read.task(a ?? '')))
    case 'claims':
      return toJson(retained(path, () => read.claims(windowId(a))))
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
        throw new PrunedError(`challenge ${a}`, s.globals.prunedWindows, path)
      return toJson(c ?? null)
    }
    case 'verifier-draws':
      return toJson(read.verifierDraws(a))
    case 'arbiter-duties':
      return toJson(read.arbiterDuties(a ?? ''))
    case 'pruned':
      return { prunedWindows: s.globals.prunedWindows, retentionBlocks: s.params.retentionBlocks }
    case 'challenges':
      return toJson(read.openChallenges())
    case 'proposal':
      return toJson(s.proposals.get(a ?? '') ?? null)
    case 'proposals':
      return toJson(s.proposals.entries().map(([, p]) => p))
    default:
      throw new UnknownQueryError(path)
  }
}
