/** Messages between the WorkerRunner and its generation worker (plain data: structured clone). */
import type { LoraConfig } from '../../ml/config.ts'
import type { GenerationOptions } from '../../ml/generate.ts'
import type { Params, StageWeights } from '../../ml/weights.ts'
import type { CompletionOutcome } from './completion-runner.ts'

export type ToWorker =
  /** A model to keep under `key`; the worker picks the kernels of `backend` itself. */
  | {
      readonly type: 'model'
      readonly key: number
      readonly backend: string
      readonly backbone: StageWeights
      readonly adapters: Params
      readonly lora: LoraConfig
      /** The bytes of each token id; absent for byte tokens. */
      readonly tokenPieces?: readonly Uint8Array[] | undefined
    }
  | { readonly type: 'drop'; readonly key: number }
  | {
      readonly type: 'start'
      readonly id: number
      readonly key: number
      readonly prompt: Int32Array
      readonly options: GenerationOptions
    }
  | { readonly type: 'cancel'; readonly id: number }

export type ToMain =
  | { readonly type: 'piece'; readonly id: number; readonly bytes: Uint8Array }
  | { readonly type: 'done'; readonly id: number; readonly outcome: CompletionOutcome }
  | { readonly type: 'error'; readonly id: number; readonly message: string; readonly code?: string }
