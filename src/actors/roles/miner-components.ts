/**
 * What the miner role uses, and nothing else: the chain's state, the pace of its blocks, the
 * transaction sender, and the work its tasks compute with (task-work.ts: the kernels, tensors
 * and content store on a node, kernel-task-work.ts; the cost model in the simulator).
 */
import type { KeyPair } from '../../chain/keys.ts'
import type { ChainReader } from '../../chain/reader.ts'
import type { Clock } from '../../runtime/clock.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { Misbehaviour } from '../../topology/roles.ts'
import type { NodeMetrics } from '../services/metrics.ts'
import type { TxSender } from '../tx-sender.ts'
import type { TaskWork } from './task-work.ts'

/** How long a block takes on this network now (the chain node measures it). */
export interface BlockPace {
  readonly blockIntervalMs: number
}

export interface MinerComponents {
  readonly chain: Pick<
    ChainReader,
    'height' | 'params' | 'currentWindow' | 'window' | 'tasks' | 'commits' | 'claims' | 'claim'
  >
  readonly pace: BlockPace
  readonly tx: Pick<TxSender, 'send'>
  readonly work: TaskWork
  readonly metrics: Pick<NodeMetrics, 'submissions'>
  readonly key: KeyPair
  readonly clock: Clock
  readonly logger: Logger
  /** The planted faults (wrongGradient, withholdingMiner, copiedCid): the machines decide them, the work carries them out. */
  readonly misbehaviours: ReadonlySet<Misbehaviour>
}
