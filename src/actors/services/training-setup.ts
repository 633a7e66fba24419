/**
 * What a node computes with: the model configuration, the training protocol of each window, the approved
 * data set's training bytes, and the kernels (the node's backend for training and L2
 * verification; the CPU backend for the L3 panel, so its verdict depends on no accelerator).
 */
import type { ModelConfig } from '../../ml/config.ts'
import type { Kernels } from '../../ml/kernels/contract.ts'
import type { TrainingProtocol } from '../training/protocol.ts'

export interface TrainingData {
  /** The approved data set's training bytes (its CID is in the genesis). */
  readonly train: Uint8Array
  readonly shardCount: number
}

export interface TrainingSetup {
  readonly config: ModelConfig
  /**
   * The protocol of a window, from the training parameters it recorded when it opened
   * (window-protocol.ts): what a task, an aggregate and their re-executions compute with.
   */
  readonly protocolAt: (window: number) => TrainingProtocol
  readonly data: TrainingData
  readonly kernels: Kernels
  /** The kernels of re-execution on the L3 panel: the CPU backend (or the reference). */
  readonly cpuKernels: Kernels
}
