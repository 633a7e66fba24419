/**
 * State pruning: a finished window leaves the state `retentionBlocks` after it settled.
 *
 * A window is finished when it has closed, the aggregation of each of its subnets is done or
 * has spent its attempts (windows.ts), every one of its claims (submissions and aggregates) is past its challenge period, every dispute on them
 * has settled and no reward of theirs is still waiting to vest. Then, `retentionBlocks` after
 * the last of these, its
 * window record, tasks, commitments, claims, settled challenges and first-seen CID records are
 * deleted together. Windows go strictly in id order, so one watermark (`meta.prunedWindows`)
 * tells a query whether something it cannot find was pruned or never existed. A window whose
 * dispute runs long simply holds back the pruning of the windows after it.
 *
 * Copy detection after pruning: a CID first revealed in a pruned window is forgotten, so a
 * miner re-revealing it on a new task is not flagged as a copy at L1. The claim is still
 * disputable at L2/L3, where re-execution on the new task's data gives a different CID.
 *
 * Everything here runs at the end of a block on state only, in key order: deterministic.
 */
import type { BlockContext } from './context.ts'
import type { Aggregation, ChainState, Claim } from './state.ts'
import { aggregationKey, windowKey } from './windows.ts'

/** Bound on windows pruned in one block (a governance change to a shorter retention catches up over a few blocks). */
const MAX_WINDOWS_PER_BLOCK = 4

/** The window a task id (`window.shard.subnet`) belongs to; NaN when the id is not a task id. */
export function windowOfTask(taskId: string): number {
  const head = taskId.split('.')[0] ?? ''
  return /^(0|[1-9][0-9]*)$/.test(head) ? Number(head) : Number.NaN
}

/** The window a claim id (`task/miner`, `agg/window/subnet` or `agg/window/subnet/attempt`) belongs to; NaN when not a claim id. */
export function windowOfClaim(claimId: string): number {
  if (claimId.startsWith('agg/')) {
    const w = claimId.split('/')[1] ?? ''
    return /^(0|[1-9][0-9]*)$/.test(w) ? Number(w) : Number.NaN
  }
  return windowOfTask(claimId)
}

/** Whether everything of window `id` has been pruned. */
export function isWindowPruned(state: ChainState, id: number): boolean {
  return id < state.globals.prunedWindows
}

/** The height from which window `w` may be pruned, or undefined while it is not finished. */
export function prunableHeight(state: ChainState, windowId: number): number | undefined {
  const p = state.params
  const w = state.windows.get(windowKey(windowId))
  if (w === undefined || !w.closed) return undefined
  let settled = w.closeHeight
  for (const a of aggregationsOf(state, windowId)) {
    if (a.finishedHeight === null) return undefined
    if (a.finishedHeight > settled) settled = a.finishedHeight
  }
  const claims = claimsOf(state, windowId)
  for (const c of claims) {
    if (c.status === 'challenged' || state.credits.has(c.id)) return undefined
    if (c.challengeUntil > settled) settled = c.challengeUntil
  }
  const ids = new Set(claims.map((c) => c.id))
  for (const [, ch] of state.challenges.entries()) {
    if (!ids.has(ch.claimId)) continue
    if (ch.settledHeight === null) return undefined
    if (ch.settledHeight > settled) settled = ch.settledHeight
  }
  return settled + p.retentionBlocks
}

function aggregationsOf(state: ChainState, windowId: number): Aggregation[] {
  const prefix = `${windowKey(windowId)}/`
  return state.aggregations
    .entries()
    .filter(([key]) => key.startsWith(prefix))
    .map(([, a]) => a)
}

function claimsOf(state: ChainState, windowId: number): Claim[] {
  return state.claims
    .entries()
    .filter(([id]) => windowOfClaim(id) === windowId)
    .map(([, c]) => c)
}

/** End of block: prune the oldest finished windows whose retention has run out. */
export function pruneFinished(state: ChainState, ctx: BlockContext): void {
  for (let i = 0; i < MAX_WINDOWS_PER_BLOCK; i++) {
    const id = state.globals.prunedWindows
    const w = state.windows.get(windowKey(id))
    // Cheap bound first: nothing of this window can go before closeHeight + retentionBlocks.
    if (w === undefined || !w.closed || ctx.height < w.closeHeight + state.params.retentionBlocks) return
    const from = prunableHeight(state, id)
    if (from === undefined || ctx.height < from) return
    pruneWindow(state, id)
    state.setMeta({ prunedWindows: id + 1 })
  }
}

function pruneWindow(state: ChainState, id: number): void {
  const claimIds = new Set(claimsOf(state, id).map((c) => c.id))
  for (const [key, c] of state.challenges.entries()) if (claimIds.has(c.claimId)) state.challenges.delete(key)
  for (const key of claimIds) state.claims.delete(key)
  for (const [key, seen] of state.cidFirstSeen.entries())
    if (windowOfTask(seen.taskId) === id) state.cidFirstSeen.delete(key)
  for (const key of state.commits.sortedKeys()) if (windowOfTask(key) === id) state.commits.delete(key)
  for (const key of state.tasks.sortedKeys()) if (windowOfTask(key) === id) state.tasks.delete(key)
  for (const a of aggregationsOf(state, id)) state.aggregations.delete(aggregationKey(a.window, a.subnet))
  state.windows.delete(windowKey(id))
}
