/**
 * The serving role: follow the chain's model pointers, load the whole current model (every
 * subnet's backbone range and its adapters, by CID) when they move, evaluate it on the
 * held-out data, and hand it to the completion API through a swappable model source.
 *
 * The loading itself is the serving machine's (serving-machine.ts): this work only tells it
 * the pointer at every block and provides its `loadModel` actor. Testnet reports read the
 * held-out loss history from the node's status.
 */
import { type Actor, createActor, fromPromise } from 'xstate'
import type { NodeServices } from '../node-services.ts'
import { type ServedModel, SwappableModelSource } from '../serving/model-source.ts'
import { servingMachine } from '../serving/serving-machine.ts'
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

/** The served model's name: every subnet's adapter-state CID, in subnet order ('initial' before the first aggregate). */
export function modelIdOf(pointers: readonly (string | null)[]): string {
  return pointers.map((p) => p ?? 'initial').join('+')
}

export class ServingWork implements RoleWork {
  readonly #s: NodeServices
  readonly #heldOut: Uint8Array
  readonly #maxTokens: number
  /** What the completion API answers with: the latest model loaded. */
  readonly source = new SwappableModelSource()
  /** Held-out loss of every model loaded, in order. */
  readonly history: LossRecord[] = []
  readonly actor: Actor<typeof servingMachine>

  constructor(services: NodeServices, heldOut: Uint8Array, maxTokens = 2048) {
    this.#s = services
    this.#heldOut = heldOut
    this.#maxTokens = maxTokens
    const machine = servingMachine.provide({
      actors: { loadModel: fromPromise<ServedModel, { pointer: string }>(async () => this.#load()) },
    })
    this.actor = createActor(machine, { id: 'serving', input: { source: this.source } })
    this.actor.start()
  }

  async run(): Promise<void> {
    const s = this.#s
    this.actor.send({ type: 'model.pointer', pointer: modelIdOf(s.subnetIds().map((k) => s.adapterPointer(k))) })
  }

  stop(): void {
    this.actor.stop()
  }

  /** The model at the chain's pointers now (a pointer that moved since is loaded next). */
  async #load(): Promise<ServedModel> {
    const s = this.#s
    const height = s.chain.height
    const current = await s.currentModel()
    const loss = heldOutLoss(s.cpuKernels, current.model, current.adapters, s.protocol, this.#heldOut, this.#maxTokens)
    this.history.push({ height, window: s.window()?.id ?? 0, pointers: current.pointers, loss })
    s.c.logger.info({ height, loss, model: modelIdOf(current.pointers) }, 'model loaded')
    return {
      id: modelIdOf(current.pointers),
      kernels: s.cpuKernels,
      backbone: current.model,
      adapters: current.adapters,
      lora: s.protocol.lora,
    }
  }
}
