/**
 * Who a miner exchanges tensors with on a task's pipeline path. A window's shard is one path
 * through every subnet, in subnet order; each task on it has r replicas.
 *
 * Without news of who is alive, the miner at replica i works with replica i mod n of each
 * neighbouring task, and also sends to every neighbouring replica whose own partner it is,
 * so uneven replica counts still close every path. When the subnets' presence says which
 * miners are ready for the window (this task's subnet and the neighbour's), a neighbouring
 * replica none of whose usual senders on this side is ready is served as well by the first
 * ready replica of this task (a stand-in): a dead miner then starves no neighbour. A stage
 * takes its input from any replica of the neighbouring task (honest replicas compute
 * identical bytes), so the first tensor that arrives is the one used.
 */
import type { Task } from '../../chain/state.ts'

/** The tasks of one window's shard across every subnet, in subnet order (the path). */
export function pathOf(tasks: readonly Task[], shard: number): Task[] {
  return tasks.filter((t) => t.shard === shard).sort((a, b) => a.subnet - b.subnet)
}

/** Miners of `neighbour` this replica exchanges with: its partner and those whose partner it is. */
export function partners(neighbour: Task | undefined, mine: Task, replica: number): string[] {
  if (neighbour === undefined) return []
  const out = new Set<string>([neighbour.miners[replica % neighbour.miners.length] as string])
  neighbour.miners.forEach((m, j) => {
    if (j % mine.miners.length === replica) out.add(m)
  })
  return [...out]
}

/**
 * Who presence says is ready for the window: the miners of this task's subnet and of the
 * neighbour's. Empty sets from both say nothing (no presence heard yet).
 */
export interface PipelineReadiness {
  readonly mine: ReadonlySet<string>
  readonly neighbour: ReadonlySet<string>
}

/** Replicas of `mine` whose tensors go to `neighbour`'s replica `j` by the replica rule (`partners` read the other way). */
export function usualSenders(neighbour: Task, mine: Task, j: number): string[] {
  return mine.miners.filter((_, i) => partners(neighbour, mine, i).includes(neighbour.miners[j] as string))
}

/**
 * Miners of `neighbour` that `mine`'s replica `replica` sends its tensor to: its `partners`,
 * and, when this replica is the stand-in (the first replica of `mine` that is ready; the
 * replica running this counts as ready, as it is), every neighbouring replica none of whose
 * usual senders is ready. Extra copies go only to a neighbour presence shows ready (or to any
 * when nothing is heard from its subnet): one that never said it is ready may be dead.
 */
export function sendTargets(
  neighbour: Task | undefined,
  mine: Task,
  replica: number,
  ready?: PipelineReadiness,
): string[] {
  const out = new Set(partners(neighbour, mine, replica))
  // Nothing heard from either subnet: presence says nothing yet (the gossip does not echo a
  // node's own presence, so hearing only the neighbour's subnet means this task's other
  // replicas did not say they are ready).
  if (neighbour === undefined || ready === undefined || ready.mine.size + ready.neighbour.size === 0) return [...out]
  const self = mine.miners[replica] as string
  const isReady = (m: string): boolean => m === self || ready.mine.has(m)
  if (mine.miners.find(isReady) !== self) return [...out]
  neighbour.miners.forEach((m, j) => {
    const live = ready.neighbour.size === 0 || ready.neighbour.has(m)
    if (live && !usualSenders(neighbour, mine, j).some(isReady)) out.add(m)
  })
  return [...out]
}

/**
 * Miners of `neighbour` whose tensor this stage takes (the first to arrive): every replica,
 * ready ones first (the order only says whom a log names; any of them answers the wait).
 */
export function receiveSources(neighbour: Task | undefined, ready?: ReadonlySet<string>): string[] {
  if (neighbour === undefined) return []
  if (ready === undefined) return [...neighbour.miners]
  return [...neighbour.miners.filter((m) => ready.has(m)), ...neighbour.miners.filter((m) => !ready.has(m))]
}
