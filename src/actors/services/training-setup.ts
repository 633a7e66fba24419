/**
 * What a node computes with: the model configuration, the training protocol of each window, the
 * approved data set's training token ids, and the kernels (the node's backend for training and L2
 * verification; the CPU backend for the L3 panel, so its verdict depends on no accelerator).
 */
import type { ModelConfig } from '../../ml/config.ts'
import type { Kernels } from '../../ml/kernels/contract.ts'
import type { Tokenizer } from '../../ml/tokenizer/tokenizer.ts'
import type { TrainingProtocol } from '../training/protocol.ts'

export interface TrainingData {
  /** The approved data set's training token ids (the CID of its bytes is in the genesis). */
  readonly train: Int32Array
  readonly shardCount: number
}

export interface TrainingSetup {
  readonly config: ModelConfig
  /** Turns text into the model's token ids (the data set, prompts). @default byte tokens */
  readonly tokenizer?: Tokenizer
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
