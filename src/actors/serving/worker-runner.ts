/**
 * Completions in one worker thread (generation-worker.ts), so that a forward pass never holds
 * the node's event loop. Each model is sent to the worker once (structured clone of its typed
 * arrays) and kept there while a completion uses it or while it is the latest model asked for;
 * older ones are dropped when their last completion ends. Completions in the worker take
 * turns one token at a time. If the worker dies, the completions in flight reject and the next
 * one starts a fresh worker.
 */
import { Worker } from 'node:worker_threads'
import type { GenerationOptions } from '../../ml/generate.ts'
import { R3mesError } from '../../runtime/errors.ts'
import type { CompletionOutcome, CompletionRunner } from './completion-runner.ts'
import type { ServedModel } from './model-source.ts'
import type { ToMain, ToWorker } from './worker-protocol.ts'

interface Run {
  readonly onPiece: (bytes: Uint8Array) => void
  readonly settle: (error: Error | undefined, outcome?: CompletionOutcome) => void
}

export class WorkerRunner implements CompletionRunner {
  #worker: Worker | undefined
  #nextKey = 1
  #nextId = 1
  /** Models the worker holds, with the number of completions using each. */
  readonly #sent = new Map<ServedModel, { key: number; users: number }>()
  #latest: ServedModel | undefined
  readonly #runs = new Map<number, Run>()

  #post(message: ToWorker): void {
    this.#worker?.postMessage(message)
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker
    const worker = new Worker(new URL('./generation-worker.ts', import.meta.url))
    // Open HTTP requests keep the process alive; an idle worker should not.
    worker.unref()
    worker.on('message', (message: ToMain) => this.#receive(message))
    worker.on('error', (error) => this.#lost(worker, error))
    worker.on('exit', (code) => this.#lost(worker, new Error(`the generation worker exited with code ${code}`)))
    this.#worker = worker
    return worker
  }

  #lost(worker: Worker, error: Error): void {
    if (this.#worker !== worker) return
    this.#worker = undefined
    this.#sent.clear()
    for (const run of [...this.#runs.values()]) run.settle(error)
  }

  #receive(message: ToMain): void {
    const run = this.#runs.get(message.id)
    if (run === undefined) return
    if (message.type === 'piece') run.onPiece(message.bytes)
    else if (message.type === 'done') run.settle(undefined, message.outcome)
    else run.settle(new R3mesError(message.code ?? 'ERR_GENERATION', message.message))
  }

  #release(model: ServedModel): void {
    const entry = this.#sent.get(model)
    if (entry !== undefined) entry.users--
    for (const [held, e] of this.#sent) {
      if (e.users === 0 && held !== this.#latest) {
        this.#post({ type: 'drop', key: e.key })
        this.#sent.delete(held)
      }
    }
  }

  run(
    model: ServedModel,
    prompt: Int32Array,
    options: GenerationOptions,
    onPiece: (bytes: Uint8Array) => void,
    signal: AbortSignal,
  ): Promise<CompletionOutcome> {
    signal.throwIfAborted()
    this.#start()
    let entry = this.#sent.get(model)
    if (entry === undefined) {
      entry = { key: this.#nextKey++, users: 0 }
      this.#sent.set(model, entry)
      const { backbone, adapters, lora, tokenPieces } = model
      this.#post({ type: 'model', key: entry.key, backend: model.kernels.name, backbone, adapters, lora, tokenPieces })
    }
    entry.users++
    this.#latest = model
    const id = this.#nextId++
    const outcome = new Promise<CompletionOutcome>((resolve, reject) => {
      const onAbort = (): void => {
        this.#post({ type: 'cancel', id })
        settle(signal.reason as Error)
      }
      const settle = (error: Error | undefined, result?: CompletionOutcome): void => {
        this.#runs.delete(id)
        signal.removeEventListener('abort', onAbort)
        if (error !== undefined) reject(error)
        else resolve(result as CompletionOutcome)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#runs.set(id, { onPiece, settle })
    })
    this.#post({ type: 'start', id, key: entry.key, prompt, options })
    return outcome.finally(() => this.#release(model))
  }

  async close(): Promise<void> {
    const worker = this.#worker
    if (worker === undefined) return
    this.#lost(worker, new Error('the generation worker was stopped'))
    await worker.terminate()
  }
}
