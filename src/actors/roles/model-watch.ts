/**
 * Follows the model: whenever a subnet's pointer moves, evaluate the whole current model on
 * the held-out data and record the loss. Serving nodes run it (they hold the whole model
 * anyway); testnet reports read the history from their status.
 */
import type { NodeServices } from '../node-services.ts'
import { heldOutLoss } from '../training/evaluate.ts'
import type { RoleWork } from './role-machine.ts'

export interface LossRecord {
  readonly height: number
  readonly window: number
  /** Adapter-state CID of each subnet (null: the initial state). */
  readonly pointers: readonly (string | null)[]
  /** Held-out cross-entropy, nats per byte. */
  readonly loss: number
}

export class ModelWatchWork implements RoleWork {
  readonly #s: NodeServices
  readonly #heldOut: Uint8Array
  readonly #maxTokens: number
  readonly history: LossRecord[] = []
  #last = ''

  constructor(services: NodeServices, heldOut: Uint8Array, maxTokens = 4096) {
    this.#s = services
    this.#heldOut = heldOut
    this.#maxTokens = maxTokens
  }

  async run(height: number): Promise<void> {
    const s = this.#s
    const pointers = s.subnetIds().map((k) => s.adapterPointer(k))
    const key = pointers.join()
    if (key === this.#last) return
    const current = await s.currentModel()
    const loss = heldOutLoss(s.cpuKernels, current.model, current.adapters, s.protocol, this.#heldOut, this.#maxTokens)
    this.#last = key
    this.history.push({ height, window: s.window()?.id ?? 0, pointers, loss })
    s.c.logger.info({ height, loss }, 'model evaluated')
  }
}
