/**
 * The simulated network in place of libp2p: every message is the encoded consensus message a
 * real node sends (`encodeMessage`), decoded by each receiver (`decodeMessage`), as over the
 * consensus flood channel (src/net/flood-channel.ts) in a full mesh. One seeded stream decides
 * each delivery, so a seed replays the same schedule: latency (a base plus an exponential tail,
 * which also reorders), loss, duplication, partitions (timed cuts into groups), nodes that are
 * down, and each node's upload bandwidth (a broadcast queues its copies one after the other on
 * the sender's link).
 *
 * What the flood channel does with copies, modelled as it is: every publish (a broadcast or a
 * send to one peer) is a new message, numbered by its author, so the same body published again
 * (consensus re-sending its votes) reaches every peer again and is decoded there. A receiver
 * drops a message it has seen before (a duplicated copy) before decoding it, and remembers
 * FLOOD_SEEN_CACHE_SIZE message ids, the oldest forgotten first. The channel's id is a hash of
 * the frame (sequence, author, addressee, body); honest authors never number two frames alike,
 * so here the id is the author and its sequence number, which names the same frames without
 * hashing each one. A full mesh relays nothing (every peer had the message from its author).
 */

import { inMemoScope } from '../codec/memo-scope.ts'
import { type ConsensusMessage, type ConsensusTransport, decodeMessage, encodeMessage } from '../consensus/messages.ts'
import { BoundedMemo } from '../runtime/bounded-memo.ts'
import type { SimulatedClock } from '../runtime/clock.ts'
import { FLOOD_SEEN_CACHE_SIZE } from '../runtime/limits.ts'
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
  /** Message ids each node remembers. @default FLOOD_SEEN_CACHE_SIZE */
  readonly seenCacheSize?: number
  /**
   * Each receiver decodes its own copy and verifies in its own memo scope (codec/memo-scope.ts),
   * as nodes in processes of their own do, instead of sharing one decoding and one verification
   * of each message among all receivers. For measuring a node's consensus CPU. @default false
   */
  readonly isolateReceivers?: boolean
}

export interface SimNetworkComponents {
  readonly clock: SimulatedClock
  /** Runs a receiver's decoding, so the caller can count it as that node's host time. @default runs it */
  readonly measure?: (work: () => void) => void
}

/** Where received bytes go: the receiving node's handler (undefined while the node is down). */
export type Receiver = (message: ConsensusMessage, from: string) => void

let nextInstance = 0

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
  /** Copies dropped by their receiver as seen before, undecoded. */
  duplicates = 0
  /** Messages decoded and handed to a receiver. */
  delivered = 0
  readonly #measure: (work: () => void) => void
  /** Names this network's memo scopes apart from another run's in the same process (whose memos would answer). */
  readonly #instance = nextInstance++
  /** Each node's next sequence number (kept across its restarts, as the channel's starts from the clock). */
  readonly #nextSeq: number[]
  /** Each node's seen message ids, the oldest forgotten first (a BoundedMemo evicts in O(1)). */
  readonly #seen: BoundedMemo<number, true>[]
  /**
   * Each published frame decoded once, for all its receivers: messages are never changed once
   * decoded, so every receiver can hold the same object, and per-object memos (a block's body
   * checked against its header) then hold for all of them. The first receiver's measured work
   * includes the decoding; the others' does not (docs/BENCHMARKS.md says so of the figures).
   */
  readonly #decoded = new WeakMap<Uint8Array, ConsensusMessage | 'undecodable'>()
  /** Encoded proposal and decided messages by block and by proposal or commit (`#encodeBlockMessage`). */
  readonly #blockFrames = new WeakMap<object, WeakMap<object, Uint8Array>>()

  constructor(init: SimNetworkInit, components: SimNetworkComponents) {
    this.#init = init
    this.#clock = components.clock
    this.#measure = components.measure ?? ((work) => work())
    this.#receivers = Array.from({ length: init.nodes }, () => undefined)
    this.#uploadFreeAtMs = Array.from({ length: init.nodes }, () => 0)
    this.#nextSeq = Array.from({ length: init.nodes }, () => 0)
    this.#seen = Array.from(
      { length: init.nodes },
      () => new BoundedMemo<number, true>(init.seenCacheSize ?? FLOOD_SEEN_CACHE_SIZE),
    )
  }

  /**
   * Route node `index`'s incoming messages to `receiver` (undefined: the node is down, and
   * forgets the messages it had seen, as a restarted process does).
   */
  attach(index: number, receiver: Receiver | undefined): void {
    this.#receivers[index] = receiver
    if (receiver === undefined) this.#seen[index]?.clear()
  }

  cut(partition: Partition): void {
    this.#partitions.push(partition)
  }

  /** The transport node `index` sends through: peers are named `v<index>`. */
  transportFor(index: number): ConsensusTransport {
    const peers = Array.from({ length: this.#init.nodes }, (_, i) => `v${i}`).filter((_, i) => i !== index)
    return {
      peers: () => peers,
      broadcast: (m) => {
        const bytes = this.#encodeBlockMessage(m)
        const id = this.#publish(index)
        for (let to = 0; to < this.#init.nodes; to++) if (to !== index) this.send(index, to, bytes, m.kind, id)
      },
      send: (peer, m) => {
        const to = Number(peer.slice(1))
        if (!Number.isSafeInteger(to) || to < 0 || to >= this.#init.nodes || to === index) return
        this.send(index, to, this.#encodeBlockMessage(m), m.kind, this.#publish(index))
      },
    }
  }

  /**
   * `encodeMessage(m)`, the same bytes object for a block's proposal or decided message sent
   * again (a node answers each peer that lacks a proposal with a copy of its own): the copies
   * then decode once, to one block object, whose body is hashed against its header once for
   * all its receivers instead of once per answer.
   */
  #encodeBlockMessage(m: ConsensusMessage): Uint8Array {
    if (m.kind !== 'proposal' && m.kind !== 'decided') return encodeMessage(m)
    const known = this.#blockFrames.get(m.block)?.get(m.kind === 'proposal' ? m.proposal : m.commit)
    if (known !== undefined) return known
    const bytes = encodeMessage(m)
    this.#rememberBlockFrame(m, bytes)
    return bytes
  }

  /**
   * Remembers `bytes` as the encoding of block message `m`. Decoded messages are remembered
   * too: a node that passes on a proposal it received re-sends the frame it decoded (the
   * encoding is canonical, so the bytes are the same), and its receivers share that decoding.
   */
  #rememberBlockFrame(m: ConsensusMessage, bytes: Uint8Array): void {
    if (m.kind !== 'proposal' && m.kind !== 'decided') return
    let bySecond = this.#blockFrames.get(m.block)
    if (bySecond === undefined) {
      bySecond = new WeakMap()
      this.#blockFrames.set(m.block, bySecond)
    }
    bySecond.set(m.kind === 'proposal' ? m.proposal : m.commit, bytes)
  }

  /** A new message by `author`: its id, remembered as seen by its author (as the channel does). */
  #publish(author: number): number {
    const seq = this.#nextSeq[author] as number
    this.#nextSeq[author] = seq + 1
    const id = seq * this.#init.nodes + author
    this.#remember(author, id)
    return id
  }

  /** The id a receiver keeps of a message; a new message unless the same `id` is given again. */
  #remember(node: number, id: number): void {
    this.#seen[node]?.set(id, true)
  }

  /**
   * One copy of `bytes` from `from` to `to`, subject to the network's faults; `id` names the
   * message it is a copy of (omitted: a message of its own).
   */
  send(from: number, to: number, bytes: Uint8Array, kind: string, id: number = this.#publish(from)): void {
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
      this.#clock.setTimer(Math.ceil(departMs - now + latency), () => this.#deliver(from, to, bytes, id))
    }
  }

  #deliver(from: number, to: number, bytes: Uint8Array, id: number): void {
    const receiver = this.#receivers[to]
    if (receiver === undefined || this.#cutBetween(from, to, this.#clock.monotonicMs())) {
      this.dropped++
      return
    }
    if (this.#seen[to]?.get(id) === true) {
      this.duplicates++
      return
    }
    this.#remember(to, id)
    if (this.#init.isolateReceivers === true) {
      this.#measure(() => inMemoScope(`sim${this.#instance}/v${to}`, () => this.#hand(receiver, from, bytes)))
      return
    }
    this.#measure(() => {
      let message = this.#decoded.get(bytes)
      if (message === undefined) {
        try {
          message = decodeMessage(bytes)
          this.#rememberBlockFrame(message, bytes)
        } catch {
          message = 'undecodable'
        }
        this.#decoded.set(bytes, message)
      }
      if (message === 'undecodable') {
        this.undecodable++
        return
      }
      this.delivered++
      receiver(message, `v${from}`)
    })
  }

  /** `bytes` decoded afresh and handed to `receiver` (isolated receivers). */
  #hand(receiver: Receiver, from: number, bytes: Uint8Array): void {
    let message: ConsensusMessage
    try {
      message = decodeMessage(bytes)
    } catch {
      this.undecodable++
      return
    }
    this.delivered++
    receiver(message, `v${from}`)
  }

  #cutBetween(a: number, b: number, atMs: number): boolean {
    for (const p of this.#partitions)
      if (atMs >= p.fromMs && atMs < p.untilMs && p.groupOf[a] !== p.groupOf[b]) return true
    return false
  }
}
