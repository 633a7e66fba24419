/**
 * Who a miner exchanges tensors with on a task's pipeline path. A window's shard is one path
 * through every subnet, in subnet order; each task on it has r replicas.
 *
 * Without news of who is alive, the miner at replica i works with replica i mod n of each
 * neighbouring task, and also sends to every neighbouring replica whose own partner it is,
 * so uneven replica counts still close every path. When the subnet's presence says which
 * miners are ready for the window, a replica whose usual partner on this side is not ready
 * is served as well by the first ready replica of this task: a dead miner then starves no
 * neighbour. A stage takes its input from any replica of the neighbouring task (honest
 * replicas compute identical bytes), so the first tensor that arrives is the one used.
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
 * Miners of `neighbour` that `mine`'s replica `replica` sends its tensor to: its `partners`,
 * and, when `ready` is known and this replica is the first ready one of `mine`, every
 * neighbouring replica whose usual partner in `mine` is not ready.
 */
export function sendTargets(
  neighbour: Task | undefined,
  mine: Task,
  replica: number,
  ready?: ReadonlySet<string>,
): string[] {
  const out = new Set(partners(neighbour, mine, replica))
  if (neighbour === undefined || ready === undefined) return [...out]
  const standIn = mine.miners.find((m) => ready.has(m))
  if (standIn === undefined || standIn !== mine.miners[replica]) return [...out]
  neighbour.miners.forEach((m, j) => {
    const usual = mine.miners[j % mine.miners.length] as string
    if (!ready.has(usual)) out.add(m)
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
