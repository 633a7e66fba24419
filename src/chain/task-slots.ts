/**
 * How many tasks a window has and which miners train each: task slots follow the registered
 * miners, and every eligible miner gets an even share of them.
 *
 * A window's shard is one pipeline path: one task on every subnet, each trained by
 * `replication` miners. A subnet with n eligible miners fills its shards × replication slots
 * by a seeded round-robin: passes over the miners, each pass a fresh Fisher–Yates
 * permutation drawn from the window seed, each task taking the next miners of the pass that
 * it does not hold yet. Every miner is taken once per pass, so the counts differ by at most
 * one (⌊slots / n⌋ or ⌈slots / n⌉ tasks each), and a task's replicas are always distinct.
 *
 * Stake gates eligibility (at least `minStakeMiner`); beyond it an identity counts once, so
 * an operator with k of a subnet's n miners holds both replicas of a given task with
 * probability k(k − 1) / (n(n − 1)), and each identity costs the minimum stake. Integers only.
 */
import { deriveKey, PhiloxStream } from '../codec/prng.ts'
import { assert } from '../runtime/assert.ts'
import type { Params } from './params.ts'

/** The parameters that size a window. */
export type SlotParams = Pick<Params, 'tasksPerMiner' | 'replication' | 'shardsPerWindow'>

/**
 * Shards of a window whose subnets have `minersPerSubnet` eligible miners each: enough that
 * the smallest subnet's miners get `tasksPerMiner` tasks each, ⌈least × tasksPerMiner /
 * replication⌉, at most `shardsPerWindow` (the cap that bounds a window's state and
 * transactions). Larger subnets share the same slots, so past the ratio tasksPerMiner their
 * miners take turns across windows. A path needs every stage: with a subnet that has no miner,
 * nothing can be trained and the window has no shard.
 */
export function shardCount(minersPerSubnet: readonly number[], p: SlotParams): number {
  if (minersPerSubnet.length === 0) return 0
  const least = Math.min(...minersPerSubnet)
  if (least === 0) return 0
  // ⌈slots / replication⌉ in exact integer steps.
  const slots = least * p.tasksPerMiner
  const wanted = (slots - (slots % p.replication)) / p.replication + (slots % p.replication === 0 ? 0 : 1)
  return Math.min(wanted, p.shardsPerWindow)
}

/**
 * The miners of each of a subnet's `shards` tasks (min(replication, miners) distinct ones
 * each, sorted), by seeded round-robin over `miners`. Deterministic from (seed, subnet) and
 * the set of miners, whatever their order.
 */
export function assignSlots(
  seed: Uint8Array,
  subnet: number,
  miners: readonly string[],
  shards: number,
  replication: number,
): string[][] {
  const pool = [...new Set(miners)].sort()
  if (pool.length === 0) return Array.from({ length: shards }, () => [])
  const stream = new PhiloxStream(deriveKey(seed, `r3mes/slots/1/${subnet}`))
  const perTask = Math.min(replication, pool.length)
  // The rest of the current pass, in its drawn order.
  let pass: string[] = []
  const out: string[][] = []
  for (let shard = 0; shard < shards; shard++) {
    const task: string[] = []
    while (task.length < perTask) {
      if (pass.length === 0) pass = permutation(pool, stream)
      const next = pass.findIndex((m) => !task.includes(m))
      // The pass holds only miners this task took from the previous one: impossible while
      // perTask ≤ miners, since a pass begun inside a task is otherwise untouched.
      assert(next >= 0, 'a pass ran out of miners for one task')
      task.push(pass.splice(next, 1)[0] as string)
    }
    out.push(task.sort())
  }
  return out
}

/** A uniform permutation of `items` (Fisher–Yates, unbiased draws). */
function permutation(items: readonly string[], stream: PhiloxStream): string[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = stream.nextInt(i + 1)
    const t = out[i] as string
    out[i] = out[j] as string
    out[j] = t
  }
  return out
}
