/**
 * Worker-thread entry of the WorkerRunner (worker-runner.ts): holds the models it is sent and
 * runs the completions it is asked for, one token of each in turn (round robin), taking new
 * messages (requests, cancellations, models) between tokens.
 */
import { parentPort } from 'node:worker_threads'
import { Generation, type GenerationModel } from '../../ml/generate.ts'
import { selectBackend } from '../../ml/kernels/select.ts'
import { onNextTurn } from '../../runtime/event-loop.ts'
import type { ToMain, ToWorker } from './worker-protocol.ts'

const port = parentPort
if (port === null) throw new Error('generation-worker.ts must run in a worker thread')

const models = new Map<number, GenerationModel>()
const active = new Map<number, Generation>()
let scheduled = false

function post(message: ToMain): void {
  ;(port as NonNullable<typeof port>).postMessage(message)
}

function fail(id: number, error: unknown): void {
  active.delete(id)
  const e = error as Error & { code?: unknown }
  post({ type: 'error', id, message: e.message, ...(typeof e.code === 'string' ? { code: e.code } : {}) })
}

/** One token of each active completion, then back to the message queue. */
function turn(): void {
  scheduled = false
  for (const [id, generation] of active) {
    try {
      const bytes = generation.step()
      if (bytes.length > 0) post({ type: 'piece', id, bytes })
      if (generation.done) {
        active.delete(id)
        post({
          type: 'done',
          id,
          outcome: {
            finishReason: generation.finishReason ?? 'length',
            promptTokens: generation.promptTokens,
            completionTokens: generation.completionTokens,
          },
        })
      }
    } catch (error) {
      fail(id, error)
    }
  }
  schedule()
}

function schedule(): void {
  if (scheduled || active.size === 0) return
  scheduled = true
  onNextTurn(turn)
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'model':
      models.set(message.key, {
        kernels: selectBackend(message.backend).kernels,
        backbone: message.backbone,
        adapters: message.adapters,
        lora: message.lora,
        ...(message.tokenPieces !== undefined ? { tokenPieces: message.tokenPieces } : {}),
      })
      break
    case 'drop':
      models.delete(message.key)
      break
    case 'start': {
      const model = models.get(message.key)
      try {
        if (model === undefined) throw new Error(`model ${message.key} was not sent to the generation worker`)
        active.set(message.id, new Generation(model, message.prompt, message.options))
        schedule()
      } catch (error) {
        fail(message.id, error)
      }
      break
    }
    case 'cancel':
      active.delete(message.id)
      break
  }
})
