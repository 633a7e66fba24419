/** Worker-thread entry: runs the job in workerData and reports events, then the result. */
import { parentPort, workerData } from 'node:worker_threads'
import { isR3mesError } from '../../runtime/errors.ts'
import { SystemClock } from '../../runtime/system-clock.ts'
import type { Job } from './job.ts'
import { runJob } from './run-job.ts'

const port = parentPort
if (port === null) throw new Error('worker-entry.ts must run in a worker thread')
try {
  const result = runJob(workerData as Job, new SystemClock(), (event) => port.postMessage({ type: 'event', event }))
  port.postMessage({ type: 'done', result })
} catch (error) {
  const e = error as Error & { code?: string; details?: unknown }
  port.postMessage({
    type: 'error',
    error: {
      name: e.name,
      message: e.message,
      code: isR3mesError(error) ? e.code : undefined,
      details: e.details,
      stack: e.stack,
    },
  })
}
