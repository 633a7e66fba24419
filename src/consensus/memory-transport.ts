/**
 * An in-process network for tests and the in-process benchmark: every message is encoded to
 * bytes and decoded again (as on a real wire) and delivered after `latencyMs` on the
 * component clock. Not a substitute for the network layer (src/net), which implements the
 * same two interfaces over libp2p.
 */
import type { Clock } from '../runtime/clock.ts'
import { onNextTurn } from '../runtime/event-loop.ts'
import type { ConsensusInbox } from './consensus-actor.ts'
import { type ConsensusMessage, type ConsensusTransport, decodeMessage, encodeMessage } from './messages.ts'

type Handler = (message: ConsensusMessage, from: string) => void

export class MemoryHub {
  readonly #clock: Clock
  /** Delivery delay on the clock; 'immediate' delivers on the next event-loop turn (setImmediate). */
  readonly #latencyMs: number | 'immediate'
  readonly #handlers = new Map<string, Set<Handler>>()
  /** Peers whose traffic is dropped (both ways). */
  readonly isolated = new Set<string>()
  messages = 0
  bytes = 0

  constructor(clock: Clock, latencyMs: number | 'immediate') {
    this.#clock = clock
    this.#latencyMs = latencyMs
  }

  connect(id: string): ConsensusTransport & ConsensusInbox {
    if (!this.#handlers.has(id)) this.#handlers.set(id, new Set())
    const deliver = (to: string, bytes: Uint8Array): void => {
      if (this.isolated.has(id) || this.isolated.has(to)) return
      this.messages++
      this.bytes += bytes.byteLength
      const arrive = (): void => {
        const message = decodeMessage(bytes)
        for (const h of this.#handlers.get(to) ?? []) h(message, id)
      }
      if (this.#latencyMs === 'immediate') onNextTurn(arrive)
      else this.#clock.setTimer(this.#latencyMs, arrive)
    }
    return {
      broadcast: (m) => {
        const bytes = encodeMessage(m)
        for (const peer of this.#handlers.keys()) if (peer !== id) deliver(peer, bytes)
      },
      send: (peer, m) => deliver(peer, encodeMessage(m)),
      peers: () => [...this.#handlers.keys()].filter((peer) => peer !== id),
      subscribe: (handler) => {
        const set = this.#handlers.get(id) as Set<Handler>
        set.add(handler)
        return () => set.delete(handler)
      },
    }
  }
}
