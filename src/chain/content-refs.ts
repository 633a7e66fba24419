/**
 * Every content CID the chain state names: what a node's content garbage collection must keep.
 *
 * The genesis backbone, approved and proposed data sets, every subnet's adapter pointer, and
 * every claim (its content and, for an aggregate, the adapter it replaced, which a slash
 * restores), challenge step trace and first-seen record still in the state. Claims, challenges
 * and aggregations leave the state when pruning.ts prunes their window; only then does their
 * content stop being live.
 */
import type { ChainState } from './state.ts'

export function contentNamedByState(state: ChainState): Set<string> {
  const named = new Set<string>()
  for (const b of state.globals.model.backbone) named.add(b.cid)
  for (const [, d] of state.datasets.entries()) named.add(d.cid)
  for (const [, p] of state.proposals.entries()) if (p.content.kind === 'dataset') named.add(p.content.cid)
  for (const [, cid] of state.adapters.entries()) named.add(cid)
  for (const [, c] of state.claims.entries()) {
    named.add(c.cid)
    if (c.previousCid !== null) named.add(c.previousCid)
  }
  for (const [, c] of state.challenges.entries()) if (c.challengerTrace !== null) named.add(c.challengerTrace)
  for (const [cid] of state.cidFirstSeen.entries()) named.add(cid)
  return named
}
