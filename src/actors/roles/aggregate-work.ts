/**
 * The aggregator's work at window close, for one subnet: fetch the gradients of the accepted
 * submissions (one per task: replicas of a task carry the same bytes), aggregate them
 * weighted by tokens in the chain's order, clip, apply AdamW to the subnet's adapter state,
 * store the new state and name it in an aggregate transaction. Every step is deterministic,
 * so any node can recompute the aggregate and dispute a wrong one.
 */
import type { Claim } from '../../chain/state.ts'
import { aggregateGradients } from '../../ml/aggregate.ts'
import { adamwStep } from '../../ml/optimizer.ts'
import { clipGradients } from '../../ml/train.ts'
import type { Params } from '../../ml/weights.ts'
import type { NodeServices } from '../node-services.ts'
import { type AdapterState, decodeGradient, encodeAdapterState } from '../training/protocol.ts'

const copyParams = (p: Params): Params => new Map([...p].map(([k, v]) => [k, v.slice()]))

export function copyAdapterState(a: AdapterState): AdapterState {
  return {
    ...a,
    adapters: copyParams(a.adapters),
    optimizer: { step: a.optimizer.step, m: copyParams(a.optimizer.m), v: copyParams(a.optimizer.v) },
  }
}

/** The accepted submissions of a window's subnet, in the chain's order (what the aggregate must name). */
export function acceptedClaims(s: NodeServices, window: number, subnet: number): Claim[] {
  return s.chain
    .query<Claim[]>(`claims/${window}`)
    .filter((c) => c.kind === 'submission' && c.subnet === subnet && c.status === 'accepted')
}

/** The new adapter state of `subnet` after `claims`, from the state `pointer` names. */
export async function aggregateState(
  s: NodeServices,
  subnet: number,
  pointer: string | null,
  claims: readonly Claim[],
): Promise<AdapterState> {
  const seen = new Set<string>()
  const contributions: { grads: Params; tokens: number }[] = []
  for (const c of claims) {
    if (c.taskId === null || seen.has(c.taskId)) continue
    seen.add(c.taskId)
    const g = decodeGradient(await s.fetch(c.cid, undefined, c.owner))
    contributions.push({ grads: g.grads, tokens: g.tokens })
  }
  const next = copyAdapterState(await s.adapterState(subnet, pointer))
  const grads = aggregateGradients(s.kernels, contributions)
  clipGradients(grads, s.protocol.clipNorm)
  adamwStep(s.kernels, next.adapters, grads, next.optimizer, s.protocol.optimizer)
  return next
}

/** Aggregate and submit; returns the new adapter CID, or null when there was nothing to aggregate. */
export async function aggregateSubnet(s: NodeServices, window: number, subnet: number): Promise<string | null> {
  const claims = acceptedClaims(s, window, subnet)
  if (claims.length === 0) return null
  s.c.logger.debug({ window, subnet, height: s.chain.height, claims: claims.length }, 'aggregating')
  const pointer = s.adapterPointer(subnet)
  const next = await aggregateState(s, subnet, pointer, claims)
  const cid = await s.store(encodeAdapterState(next))
  s.c.logger.debug({ window, subnet, height: s.chain.height }, 'aggregate computed')
  const result = await s.tx.send({
    type: 'aggregate',
    window,
    subnet,
    claims: claims.map((c) => c.id),
    adapterCid: cid,
  })
  if (result.code !== 'OK') {
    s.c.logger.warn({ window, subnet, code: result.code, log: result.log }, 'aggregate rejected')
    return null
  }
  return cid
}
