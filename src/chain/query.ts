/**
 * Read-only queries for the CLI and the role actors. Paths are `kind` or `kind/key`; answers
 * are JSON-able (bigints as decimal strings).
 *
 *   height, params, supply, model, subnets, datasets, validators, stakers, staker/<addr>,
 *   account/<addr>, unbonding/<addr>, window (current), window/<id>, tasks/<window>,
 *   tasks/<window>/<addr> (a miner's tasks), claim/<id>, claims/<window>, credits/<addr>,
 *   challenge/<id>, challenges (open ones), proposal/<id>, proposals, audit
 */
import { R3mesError } from '../runtime/errors.ts'
import { paramsToJson } from './params.ts'
import type { ChainState } from './state.ts'
import { toJson } from './store.ts'
import { currentWindow, windowKey } from './windows.ts'

export class UnknownQueryError extends R3mesError {
  constructor(path: string) {
    super('ERR_UNKNOWN_QUERY', `no query ${path}`, { path })
  }
}

export function runQuery(s: ChainState, path: string, _data?: string): unknown {
  const [kind, a, b] = path.split('/')
  const m = s.m
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
      return toJson((a === undefined ? currentWindow(s) : s.windows.get(windowKey(Number(a)))) ?? null)
    case 'tasks':
      return toJson(
        s.tasks
          .entries()
          .map(([, t]) => t)
          .filter((t) => String(t.window) === a && (b === undefined || t.miners.includes(b))),
      )
    case 'claim':
      return toJson(s.claims.get(path.slice('claim/'.length)) ?? null)
    case 'claims':
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
    case 'challenge':
      return toJson(s.challenges.get(a ?? '') ?? null)
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
