/**
 * What the miner role uses, and nothing else: the chain's state, the pace of its blocks, the
 * transaction sender, the content store, the model pieces, the training setup, the tensor
 * inbox and sender, and (when the subnet's presence gossip runs) who is ready for a window.
 */
import type { KeyPair } from '../../chain/keys.ts'
import type { ChainReader } from '../../chain/reader.ts'
import type { Clock } from '../../runtime/clock.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { Misbehaviour } from '../../topology/roles.ts'
import type { ContentFetcher } from '../services/content-fetcher.ts'
import type { NodeMetrics } from '../services/metrics.ts'
import type { ModelPieces } from '../services/model-pieces.ts'
import type { TrainingSetup } from '../services/training-setup.ts'
import type { TensorInbox } from '../training/tensor-inbox.ts'
import type { TensorSender } from '../training/tensor-sender.ts'
import type { TxSender } from '../tx-sender.ts'

/** How long a block takes on this network now (the chain node measures it). */
export interface BlockPace {
  readonly blockIntervalMs: number
}

/**
 * The miner's side of its subnet's topics: who announced they are ready for a window
 * (pipeline neighbours are chosen among them), and this miner's own announcements (ready for
 * a window, holding what it stored). Announcements are hints: one that does not go out
 * costs a neighbour a retry, never the task.
 */
export interface MinerPresence {
  readyMiners(subnet: number, window: number): ReadonlySet<string>
  /** Say this miner holds its range and the adapters at `pointer`, and is ready for `window`. */
  announceReady(subnet: number, window: number, pointer: string | null): Promise<void>
  /** Say this miner holds and serves `cids` (its gradient, boundary tensors, trace) of `window`. */
  announceHeld(subnet: number, window: number, cids: readonly string[]): Promise<void>
}

export interface MinerComponents {
  readonly chain: Pick<
    ChainReader,
    'height' | 'params' | 'currentWindow' | 'window' | 'tasks' | 'commits' | 'claims' | 'claim' | 'finalAdapterPointer'
  >
  readonly pace: BlockPace
  readonly tx: Pick<TxSender, 'send'>
  readonly content: Pick<ContentFetcher, 'store'>
  readonly model: Pick<ModelPieces, 'stageWeights' | 'adapterState' | 'aggregatorOf'>
  readonly training: TrainingSetup
  readonly inbox: Pick<TensorInbox, 'takeFirst'>
  readonly tensors: TensorSender
  readonly presence?: MinerPresence
  readonly metrics: NodeMetrics
  readonly key: KeyPair
  readonly clock: Clock
  readonly logger: Logger
  readonly misbehaviours: ReadonlySet<Misbehaviour>
}
