/**
 * The simulated network in place of libp2p: every message is the encoded consensus message a
 * real node sends (`encodeMessage`), decoded by each receiver (`decodeMessage`), as over the
 * consensus topic. One seeded stream decides each delivery, so a seed replays the same
 * schedule: latency (a base plus an exponential tail, which also reorders), loss, duplication,
 * partitions (timed cuts into groups), nodes that are down, and each node's upload bandwidth
 * (a broadcast queues its copies one after the other on the sender's link).
 */
import { type ConsensusMessage, type ConsensusTransport, decodeMessage, encodeMessage } from '../consensus/messages.ts'
import type { SimulatedClock } from '../runtime/clock.ts'
import type { SeededRandom } from '../runtime/random.ts'

export interface NetworkProfile {
  /** One-way latency floor, ms. */
  readonly baseLatencyMs: number
  /** Mean of the exponential tail added to the floor, ms (0: none). */
  readonly jitterMs: number
  /** Probability that one copy of a message is lost. */
  readonly loss: number
  /** Probability that a delivered message arrives twice. */
  readonly duplicate: number
  /** Each node's upload, bytes per second (0: unlimited). */
  readonly uploadBytesPerS: number
}

export const CALM_NETWORK: NetworkProfile = {
  baseLatencyMs: 20,
  jitterMs: 30,
  loss: 0,
  duplicate: 0,
  uploadBytesPerS: 12_500_000,
}

/** A cut: while it lasts, messages between nodes of different groups are lost. */
export interface Partition {
  readonly fromMs: number
  readonly untilMs: number
  /** Group of each node index. */
  readonly groupOf: readonly number[]
}

export interface TrafficCounters {
  messages: number
  bytes: number
  /** Messages of each kind, sent (each copy to each peer counts once). */
  readonly byKind: Map<string, number>
}

export interface SimNetworkInit {
  readonly nodes: number
  readonly profile: NetworkProfile
  readonly random: SeededRandom
}

export interface SimNetworkComponents {
  readonly clock: SimulatedClock
}

/** Where received bytes go: the receiving node's handler (undefined while the node is down). */
export type Receiver = (message: ConsensusMessage, from: string) => void

export class SimNetwork {
  readonly #init: SimNetworkInit
  readonly #clock: SimulatedClock
  readonly #receivers: (Receiver | undefined)[]
  readonly #uploadFreeAtMs: number[]
  readonly #partitions: Partition[] = []
  readonly sent: TrafficCounters = { messages: 0, bytes: 0, byKind: new Map() }
  /** Copies lost to loss, partitions or a down receiver. */
  dropped = 0
  /** Received bytes that did not decode (none from honest senders). */
  undecodable = 0

  constructor(init: SimNetworkInit, components: SimNetworkComponents) {
    this.#init = init
    this.#clock = components.clock
    this.#receivers = Array.from({ length: init.nodes }, () => undefined)
    this.#uploadFreeAtMs = Array.from({ length: init.nodes }, () => 0)
  }

  /** Route node `index`'s incoming messages to `receiver` (undefined: the node is down). */
  attach(index: number, receiver: Receiver | undefined): void {
    this.#receivers[index] = receiver
  }

  cut(partition: Partition): void {
    this.#partitions.push(partition)
  }

  /** The transport node `index` sends through: peers are named `v<index>`. */
  transportFor(index: number): ConsensusTransport {
    return {
      broadcast: (m) => {
        const bytes = encodeMessage(m)
        for (let to = 0; to < this.#init.nodes; to++) if (to !== index) this.send(index, to, bytes, m.kind)
      },
      send: (peer, m) => {
        const to = Number(peer.slice(1))
        if (!Number.isSafeInteger(to) || to < 0 || to >= this.#init.nodes || to === index) return
        this.send(index, to, encodeMessage(m), m.kind)
      },
    }
  }

  /** One copy of `bytes` from `from` to `to`, subject to the network's faults. */
  send(from: number, to: number, bytes: Uint8Array, kind: string): void {
    const { profile, random } = this.#init
    const now = this.#clock.monotonicMs()
    this.sent.messages++
    this.sent.bytes += bytes.byteLength
    this.sent.byKind.set(kind, (this.sent.byKind.get(kind) ?? 0) + 1)
    // The copy leaves once the sender's link has sent what was queued before it.
    let departMs = now
    if (profile.uploadBytesPerS > 0) {
      departMs =
        Math.max(now, this.#uploadFreeAtMs[from] as number) + (bytes.byteLength * 1000) / profile.uploadBytesPerS
      this.#uploadFreeAtMs[from] = departMs
    }
    if (random.chance(profile.loss) || this.#cutBetween(from, to, now)) {
      this.dropped++
      return
    }
    const copies = random.chance(profile.duplicate) ? 2 : 1
    for (let c = 0; c < copies; c++) {
      const latency =
        profile.baseLatencyMs + (profile.jitterMs > 0 ? -Math.log(1 - random.nextFloat()) * profile.jitterMs : 0)
      this.#clock.setTimer(Math.ceil(departMs - now + latency), () => this.#deliver(from, to, bytes))
    }
  }

  #deliver(from: number, to: number, bytes: Uint8Array): void {
    const receiver = this.#receivers[to]
    if (receiver === undefined || this.#cutBetween(from, to, this.#clock.monotonicMs())) {
      this.dropped++
      return
    }
    let message: ConsensusMessage
    try {
      message = decodeMessage(bytes)
    } catch {
      this.undecodable++
      return
    }
    receiver(message, `v${from}`)
  }

  #cutBetween(a: number, b: number, atMs: number): boolean {
    for (const p of this.#partitions)
      if (atMs >= p.fromMs && atMs < p.untilMs && p.groupOf[a] !== p.groupOf[b]) return true
    return false
  }
}
