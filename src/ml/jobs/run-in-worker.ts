/**
 * Run a job in a worker thread so that heavy compute stays off the caller's event loop.
 * Typed errors thrown in the worker come back as R3mesErrors with the same code.
 */
import { Worker } from 'node:worker_threads'
import { R3mesError } from '../../runtime/errors.ts'
import type { Job, JobEvent, JobResult } from './job.ts'

type WorkerMessage =
  | { type: 'event'; event: JobEvent }
  | { type: 'done'; result: JobResult }
  | {
      type: 'error'
      error: { name: string; message: string; code?: string; details?: Record<string, unknown>; stack?: string }
    }

export function runJobInWorker<R extends JobResult>(
  job: Job,
  onEvent: (e: JobEvent) => void,
  signal?: AbortSignal,
): Promise<R> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker-entry.ts', import.meta.url), { workerData: job })
    let settled = false
    const finish = (fn: () => void): void => {
      if (settled) return
      settled = true
      signal?.removeEventListener('abort', onAbort)
      fn()
    }
    const onAbort = (): void => {
      void worker.terminate()
      finish(() => reject(signal?.reason ?? new Error('aborted')))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'event') onEvent(m.event)
      else if (m.type === 'done') finish(() => resolve(m.result as R))
      else {
        const e = m.error
        const error =
          e.code !== undefined
            ? new R3mesError(e.code, e.message, e.details ?? {})
            : Object.assign(new Error(e.message), { stack: e.stack })
        finish(() => reject(error))
      }
      if (m.type !== 'event') void worker.terminate()
    })
    worker.on('error', (error) => finish(() => reject(error)))
    worker.on('exit', (code) => finish(() => reject(new Error(`ML worker exited with code ${code} before finishing`))))
  })
}
