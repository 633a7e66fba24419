/**
 * Where completions are computed. The API hands a runner a model and a request and gets the
 * completion's bytes piece by piece. Two runners:
 *
 * - `inlineRunner`: on the caller's event loop, yielding to it (`setImmediate`) after every
 *   token. Simple, but each token holds the loop for one forward pass of the whole context.
 * - `WorkerRunner` (worker-runner.ts): in a worker thread, so the node's event loop (consensus,
 *   gossip, status) never waits on a forward pass. The default of the serving node.
 *
 * Both run the same `Generation`, so they give the same bytes.
 */
import { type FinishReason, Generation, type GenerationOptions } from '../../ml/generate.ts'
import { nextTurn } from '../../runtime/event-loop.ts'
import type { ServedModel } from './model-source.ts'

export interface CompletionOutcome {
  readonly finishReason: FinishReason
  readonly promptTokens: number
  readonly completionTokens: number
}

export interface CompletionRunner {
  /**
   * Generate a completion of `prompt` (token ids) with `model`, handing each final piece of bytes to
   * `onPiece`. Rejects with the signal's reason once `signal` aborts (the client went away).
   */
  run(
    model: ServedModel,
    prompt: Int32Array,
    options: GenerationOptions,
    onPiece: (bytes: Uint8Array) => void,
    signal: AbortSignal,
  ): Promise<CompletionOutcome>
  /** Stop computing; runs in flight reject. */
  close(): Promise<void>
}

export const inlineRunner: CompletionRunner = {
  async run(model, prompt, options, onPiece, signal) {
    const generation = new Generation(model, prompt, options)
    while (!generation.done) {
      signal.throwIfAborted()
      onPiece(generation.step())
      await nextTurn()
    }
    return {
      finishReason: generation.finishReason as FinishReason,
      promptTokens: generation.promptTokens,
      completionTokens: generation.completionTokens,
    }
  },
  async close() {},
}
