/**
 * What a miner's task computes, apart from what it decides: the seam between the miner
 * machines (miner.ts, miner-window.ts, miner-task.ts), which decide when to fetch, train,
 * store, commit, wait for the replicas, reveal and watch, and the work itself, which needs
 * kernels, tensors and the network. On a node the work is `kernelTaskWork`
 * (kernel-task-work.ts: the backbone range and adapters fetched, the stage trained with its
 * neighbours over activation streams, the pieces a verifier needs stored); in the simulator,
 * its cost model (src/sim/hosted-miners.ts). The machines run the same whatever computes.
 *
 * What a shard and a trained stage hold is the work's own business: the machines only carry
 * them from one step to the next (and read the pointer a shard was fetched at).
 */
import type { Task } from '../../chain/state.ts'

/** A subnet's pieces, as the work fetched them for a window's tasks. */
export interface TaskShard {
  /** The adapter-state CID the subnet's final pointer named (null: the initial state). */
  readonly pointer: string | null
}

/** What training a stage of `task` needs besides the shard. */
export interface TrainRequest<Shard extends TaskShard = TaskShard> {
  readonly task: Task
  readonly windowSeed: string
  /** This miner's index among the task's miners. */
  readonly replica: number
  /** The path's tasks before and after this one (undefined at either end). */
  readonly upstream: Task | undefined
  readonly downstream: Task | undefined
  readonly shard: Shard
  /** Each wait on a neighbour's tensor gives up after this long (and never past `untilMs`). */
  readonly waitMs: number
  /** Monotonic time after which a send to a neighbour, or a wait for one, is given up. */
  readonly untilMs: number
  /** The planted `wrongGradient` fault: the submission comes out off by a little. */
  readonly wrongGradient: boolean
}

/** What storing a trained stage needs. */
export interface StoreRequest<Trained = unknown> {
  readonly task: Task
  /** The pointer the shard was fetched at (the trace names it). */
  readonly pointer: string | null
  readonly trained: Trained
  /** Whether the stage is the path's first (it received no activations) or last (no output gradients). */
  readonly first: boolean
  readonly last: boolean
  /** The planted `withholdingMiner` fault: the CIDs are computed, nothing is stored or announced. */
  readonly withhold: boolean
}

/** The CIDs a stored task names on chain: its submission, and the trace a verifier re-executes from. */
export interface StoredTask {
  readonly cid: string
  readonly traceCid: string
}

/**
 * The work of a miner's tasks. Each call stops (rejects with the signal's reason) when
 * `signal` aborts: a task abandoned at the window's close stops its work.
 */
export interface TaskWork<Shard extends TaskShard = TaskShard, Trained = unknown> {
  /** The pieces of each of `subnets` a window's tasks compute with; then ready for `window` there. */
  fetchShards(subnets: readonly number[], window: number, signal: AbortSignal): Promise<ReadonlyMap<number, Shard>>
  /** Train this miner's stage of the task for every inner step. */
  trainStage(request: TrainRequest<Shard>, signal: AbortSignal): Promise<Trained>
  /** Store what a verifier needs of the trained stage; the CIDs the reveal names. */
  storeResults(request: StoreRequest<Trained>, signal: AbortSignal): Promise<StoredTask>
}
