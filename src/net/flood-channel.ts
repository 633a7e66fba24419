/**
 * A flood channel: messages for every peer (or addressed to one), carried on one long-lived
 * stream per connected peer and relayed by peers, as CometBFT's consensus reactor carries
 * proposals and votes on its own peer channels rather than through a pubsub router. Consensus
 * messages are few, small and urgent: on this channel a message costs one length-prefixed
 * frame per peer that needs it; through gossipsub it cost an RPC envelope, a seen-cache lookup
 * and score bookkeeping per copy, and a full mesh of four nodes handed every node each
 * message three times.
 *
 * Relaying without duplicates in a full mesh: every peer tells its neighbours which peers it
 * has a stream to (a `neighbours` frame, sent again whenever that set changes). A node that
 * takes in a message for the first time passes it to each of its peers except the one it
 * came from, the author, and the neighbours of either (they had it from them). In a full
 * mesh nothing is relayed; where the author is not connected to everyone, the message goes
 * round. Every message has an id (sha2-256 of its frame), and a message seen before is
 * dropped, so no topology makes it loop. The author numbers its messages, so the same body
 * sent again (consensus re-sends its votes when it makes no progress) is a new message that
 * relays pass on, not a duplicate they swallow before it reaches the peer that lost it.
 *
 * Frames on the wire: an unsigned varint length, then
 *   message:    0x00, sequence (u32), author (u8 length + peer id), addressee (u8 length +
 *               peer id, 0 = all), body
 *   neighbours: 0x01, count (u16), then count × (u8 length + peer id)
 *   ping, pong: 0x02 / 0x03, nonce (u32): a round trip on the stream itself, as CometBFT's
 *               connections ping (the consensus benchmark's message delay is measured so)
 * The author is what its sender says it is: it is an address for replies, not a proof;
 * bodies that need an author prove it themselves (consensus votes and proposals are signed).
 *
 * Faults: loss and delay from the node's fault injector apply per frame received from a peer,
 * as they do to gossip; partitions cut the connections, and with them the streams.
 */
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import * as varint from 'uint8-varint'
import type { Uint8ArrayList } from 'uint8arraylist'
import { sha256 } from '../codec/hash.ts'
import { type Clock, deadlineSignal, type TimerHandle } from '../runtime/clock.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import {
  FLOOD_SEEN_CACHE_SIZE,
  MAX_CONSENSUS_STREAMS_PER_CONNECTION,
  MAX_FLOOD_QUEUED_BYTES_PER_PEER,
  MAX_PARTIAL_FRAME_BYTES_TOTAL,
  PARTIAL_FRAME_IDLE_MS,
} from '../runtime/limits.ts'
import type { Logger } from '../runtime/logger.ts'
import { BadFrameError, DeadlineExceededError, MessageTooLargeError } from './errors.ts'
import type { FaultInjector } from './faults.ts'

/** Who a message is from, as far as this node can tell. */
export interface FloodContext {
  /** The peer that wrote the message (as its sender states it). */
  readonly author: string
  /** The neighbour that handed it to us (authenticated by the connection). */
  readonly from: string
}

export interface FloodSubscriber {
  /** Throw to refuse a message: it is neither handled nor relayed. */
  validate?(body: Uint8Array, context: FloodContext): void
  handle(body: Uint8Array, context: FloodContext): void
}

export interface FloodChannelInit {
  /** The stream protocol, e.g. `/r3mes/<chainId>/consensus/1.0.0`. */
  readonly protocol: string
  /** The largest body accepted or sent. */
  readonly maxBodyBytes: number
  /** Message ids remembered to drop duplicates. @default 16384 */
  readonly seenCacheSize?: number
  /** Bytes queued for one slow peer beyond which its frames are dropped. @default 64 MiB */
  readonly maxQueuedBytesPerPeer?: number
  /** Bytes of unfinished frames all inbound streams together may hold. @default MAX_PARTIAL_FRAME_BYTES_TOTAL */
  readonly maxPartialFrameBytesTotal?: number
  /** A stream holding an unfinished frame that sends nothing for this long is closed. @default PARTIAL_FRAME_IDLE_MS */
  readonly partialFrameIdleMs?: number
}

export interface FloodChannelComponents {
  readonly libp2p: Libp2p
  readonly logger: Logger
  readonly faults: FaultInjector
  readonly clock: Clock
}

export interface FloodStats {
  /** Messages handed to the subscribers. */
  delivered: number
  /** Copies of messages already seen. */
  duplicates: number
  /** Messages a subscriber refused, and frames that did not parse. */
  invalid: number
  /** Frames this node passed on for others. */
  relayed: number
  /** Frames lost to injected faults or to a peer too slow to take them. */
  dropped: number
  /** Inbound streams closed for holding an unfinished frame too long or past the node's total. */
  stalled: number
}

const KIND_MESSAGE = 0
const KIND_NEIGHBOURS = 1
const KIND_PING = 2
const KIND_PONG = 3
const MAX_PEER_ID_BYTES = 255
const MAX_NEIGHBOURS = 0xffff

interface Outbound {
  stream: Stream
  /** Bytes handed to the stream since it last asked us to wait. */
  pendingBytes: number
}

export class FloodChannel {
  readonly protocol: string
  readonly stats: FloodStats = {
    delivered: 0,
    duplicates: 0,
    invalid: 0,
    relayed: 0,
    dropped: 0,
    stalled: 0,
  }
  readonly #libp2p: Libp2p
  readonly #log: Logger
  readonly #faults: FaultInjector
  readonly #clock: Clock
  readonly #self: string
  readonly #maxBody: number
  readonly #maxFrame: number
  readonly #seenCap: number
  readonly #maxQueued: number
  readonly #maxPartialTotal: number
  readonly #partialIdleMs: number
  /** Bytes of unfinished frames held across all inbound streams. */
  #partialBytes = 0
  readonly #subscribers = new Set<FloodSubscriber>()
  readonly #out = new Map<string, Outbound>()
  /** Streams peers opened to us, by peer: closed when a peer sends what we refuse. */
  readonly #inbound = new Map<string, Set<Stream>>()
  readonly #opening = new Set<string>()
  readonly #neighbours = new Map<string, ReadonlySet<string>>()
  /** Ids of messages seen, oldest first (a Map keeps insertion order). */
  readonly #seen = new Map<string, true>()
  /** Pings awaiting their pong, by nonce. */
  readonly #pings = new Map<number, () => void>()
  #nextNonce = 1
  /** Sequence number of this node's next message; starts from the clock so a restart does not reuse them. */
  #nextSeq: number
  #topologyId: string | undefined
  #announceQueued = false
  #running = false
  readonly #onPeerUpdate = (evt: CustomEvent<{ peer: { id: PeerId; protocols: string[] } }>): void => {
    const { peer } = evt.detail
    if (peer.protocols.includes(this.protocol)) this.#connectTo(peer.id)
  }

  constructor(init: FloodChannelInit, components: FloodChannelComponents) {
    this.protocol = init.protocol
    this.#libp2p = components.libp2p
    this.#log = components.logger.child({ component: 'flood', protocol: init.protocol })
    this.#faults = components.faults
    this.#clock = components.clock
    this.#self = components.libp2p.peerId.toString()
    this.#maxBody = init.maxBodyBytes
    this.#maxFrame = init.maxBodyBytes + 2 * (MAX_PEER_ID_BYTES + 1) + 5
    this.#seenCap = init.seenCacheSize ?? FLOOD_SEEN_CACHE_SIZE
    this.#maxQueued = init.maxQueuedBytesPerPeer ?? MAX_FLOOD_QUEUED_BYTES_PER_PEER
    this.#maxPartialTotal = init.maxPartialFrameBytesTotal ?? MAX_PARTIAL_FRAME_BYTES_TOTAL
    this.#partialIdleMs = init.partialFrameIdleMs ?? PARTIAL_FRAME_IDLE_MS
    this.#nextSeq = Math.floor(components.clock.nowMs()) >>> 0
  }

  async start(): Promise<void> {
    this.#running = true
    await this.#libp2p.handle(this.protocol, (stream, connection) => this.#accept(stream, connection), {
      maxInboundStreams: MAX_CONSENSUS_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_CONSENSUS_STREAMS_PER_CONNECTION,
    })
    this.#topologyId = await this.#libp2p.register(this.protocol, {
      onConnect: (peer) => this.#connectTo(peer),
      onDisconnect: (peer) => this.#forget(peer.toString()),
    })
    // Peers identified before the handler existed, or that added the protocol later.
    this.#libp2p.addEventListener('peer:update', this.#onPeerUpdate as never)
    for (const connection of this.#libp2p.getConnections()) {
      const peer = await this.#libp2p.peerStore.get(connection.remotePeer).catch(() => undefined)
      if (peer?.protocols.includes(this.protocol) === true) this.#connectTo(connection.remotePeer)
    }
  }

  async stop(): Promise<void> {
    this.#running = false
    this.#subscribers.clear()
    this.#libp2p.removeEventListener('peer:update', this.#onPeerUpdate as never)
    if (this.#topologyId !== undefined) this.#libp2p.unregister(this.#topologyId)
    await this.#libp2p.unhandle(this.protocol).catch(() => {})
    for (const out of this.#out.values()) out.stream.abort(new Error('flood channel stopped'))
    this.#out.clear()
  }

  subscribe(subscriber: FloodSubscriber): () => void {
    this.#subscribers.add(subscriber)
    return () => this.#subscribers.delete(subscriber)
  }

  /** Peers this node has a stream to. */
  peers(): string[] {
    return [...this.#out.keys()]
  }

  /** The peers `peer` last said it has streams to; undefined before it said anything. */
  knownNeighbours(peer: string): readonly string[] | undefined {
    const known = this.#neighbours.get(peer)
    return known === undefined ? undefined : [...known]
  }

  /**
   * Send `body` to every peer (`to` empty) or to the one peer `to` (straight to it when it is
   * a neighbour, else round the network). Never delivered to this node itself.
   */
  publish(body: Uint8Array, to = ''): void {
    if (body.byteLength > this.#maxBody)
      throw new MessageTooLargeError(`a message on ${this.protocol}`, body.byteLength, this.#maxBody)
    const frame = encodeMessageFrame(this.#nextSeq, this.#self, to, body)
    this.#nextSeq = (this.#nextSeq + 1) >>> 0
    this.#remember(messageId(frame.payload))
    for (const peer of this.#nextHops(this.#self, to, this.#self)) this.#write(peer, frame.wire)
  }

  /**
   * One round trip to the neighbour `peer` on this channel's streams, in ms: a ping frame out,
   * the pong back. Rejects when `peer` is not a neighbour or no pong comes within `timeoutMs`.
   */
  async roundTripMs(peer: string, timeoutMs = 2_000): Promise<number> {
    if (!this.#out.has(peer)) throw new InvalidArgumentError(`no stream to ${peer} on ${this.protocol}`, { peer })
    const nonce = this.#nextNonce
    this.#nextNonce = (this.#nextNonce + 1) >>> 0 || 1
    const start = this.#clock.monotonicMs()
    await new Promise<void>((resolve, reject) => {
      const timer = this.#clock.setTimer(timeoutMs, () => {
        this.#pings.delete(nonce)
        reject(new DeadlineExceededError(`a pong from ${peer}`, timeoutMs))
      })
      this.#pings.set(nonce, () => {
        timer.cancel()
        resolve()
      })
      this.#write(peer, withLengthPrefix(encodePingFrame(KIND_PING, nonce)))
    })
    return this.#clock.monotonicMs() - start
  }

  /**
   * Close the streams `peer` opened to us: a subscriber found it misbehaving after the fact
   * (e.g. a flood of invalid transactions that each decoded fine). It may open a new one.
   */
  closePeer(peer: string, reason: string): void {
    this.#refuse(peer, new BadFrameError(reason), reason)
  }

  // ---------------------------------------------------------------- receiving

  #accept(stream: Stream, connection: Connection): void {
    const from = connection.remotePeer.toString()
    // The peer reached us first: answer with our own stream, so we can write to it too.
    if (!this.#out.has(from)) this.#connectTo(connection.remotePeer)
    const parser = new FrameParser(this.#maxFrame)
    const streams = this.#inbound.get(from) ?? new Set<Stream>()
    this.#inbound.set(from, streams)
    streams.add(stream)
    // An unfinished frame costs memory for as long as its sender likes: bounded in total across
    // streams, and a stream that holds one and goes quiet is closed after `#partialIdleMs`.
    let held = 0
    let lastDataMs = 0
    let idleTimer: TimerHandle | undefined
    const setHeld = (bytes: number): void => {
      this.#partialBytes += bytes - held
      held = bytes
    }
    const stall = (why: string): void => {
      this.stats.stalled++
      this.#log.warn({ peer: from, heldBytes: held }, `${why}: closing the stream`)
      setHeld(0)
      stream.abort(new BadFrameError(why))
    }
    const watchIdle = (delayMs: number): void => {
      idleTimer = this.#clock.setTimer(delayMs, () => {
        idleTimer = undefined
        if (held === 0) return
        const quietMs = this.#clock.monotonicMs() - lastDataMs
        if (quietMs >= this.#partialIdleMs) stall(`no byte of an unfinished frame for ${this.#partialIdleMs} ms`)
        else watchIdle(this.#partialIdleMs - quietMs)
      })
    }
    stream.addEventListener('close', () => {
      idleTimer?.cancel()
      setHeld(0)
      streams.delete(stream)
      if (streams.size === 0 && this.#inbound.get(from) === streams) this.#inbound.delete(from)
    })
    stream.addEventListener('message', (evt) => {
      let frames: Uint8Array[]
      try {
        frames = parser.push(evt.data)
      } catch (error) {
        setHeld(0)
        this.#refuse(from, error, 'bad frame')
        return
      }
      setHeld(parser.heldBytes)
      for (const frame of frames) this.#receiveFrame(frame, from)
      if (held === 0) return
      if (this.#partialBytes > this.#maxPartialTotal) {
        stall(`unfinished frames over ${this.#maxPartialTotal} bytes in all`)
        return
      }
      lastDataMs = this.#clock.monotonicMs()
      if (idleTimer === undefined) watchIdle(this.#partialIdleMs)
    })
  }

  #receiveFrame(frame: Uint8Array, from: string): void {
    if (this.#faults.shouldDrop(from)) {
      this.stats.dropped++
      return
    }
    const { delayMs } = this.#faults.linkFaults(from)
    if (delayMs > 0) {
      this.#clock.setTimer(delayMs, () => this.#process(frame, from))
      return
    }
    this.#process(frame, from)
  }

  #process(frame: Uint8Array, from: string): void {
    if (!this.#running) return
    let parsed: ParsedFrame
    try {
      parsed = parseFrame(frame)
    } catch (error) {
      this.#refuse(from, error, 'malformed frame')
      return
    }
    if (parsed.kind === 'neighbours') {
      this.#neighbours.set(from, new Set(parsed.peers))
      return
    }
    if (parsed.kind === 'ping') {
      this.#write(from, withLengthPrefix(encodePingFrame(KIND_PONG, parsed.nonce)))
      return
    }
    if (parsed.kind === 'pong') {
      const done = this.#pings.get(parsed.nonce)
      this.#pings.delete(parsed.nonce)
      done?.()
      return
    }
    const id = messageId(frame)
    if (this.#seen.has(id)) {
      this.stats.duplicates++
      return
    }
    this.#remember(id)
    const context: FloodContext = { author: parsed.author, from }
    const forMe = parsed.to === '' || parsed.to === this.#self
    // Checked even when only passing it on: garbage goes no further than its first honest hop.
    try {
      for (const s of this.#subscribers) s.validate?.(parsed.body, context)
    } catch (error) {
      this.#refuse(from, error, `message from ${parsed.author} refused`)
      return
    }
    if (parsed.to !== this.#self) this.#relay(frame, parsed.author, parsed.to, from)
    if (!forMe) return
    this.stats.delivered++
    for (const s of this.#subscribers) {
      try {
        s.handle(parsed.body, context)
      } catch (error) {
        this.#log.error({ err: error }, 'flood subscriber failed')
      }
    }
  }

  /**
   * `from` sent something no honest peer sends (honest peers check before they relay): count
   * it and close the streams it opened to us, as gossipsub prunes a peer below its score
   * threshold. It may open a new one; consensus re-sends what was lost meanwhile.
   */
  #refuse(from: string, error: unknown, what: string): void {
    this.stats.invalid++
    this.#log.warn({ err: error, peer: from }, `${what}: closing the peer's stream`)
    for (const stream of this.#inbound.get(from) ?? []) stream.abort(new BadFrameError(what))
  }

  #relay(payload: Uint8Array, author: string, to: string, from: string): void {
    const hops = this.#nextHops(author, to, from)
    if (hops.length === 0) return
    const wire = withLengthPrefix(payload)
    for (const peer of hops) {
      this.stats.relayed++
      this.#write(peer, wire)
    }
  }

  /**
   * Where a message by `author` for `to`, taken from `from`, goes next: straight to `to` when
   * it is a neighbour; otherwise to every neighbour except `from`, the author and the known
   * neighbours of either (they had it from them). For this node's own messages, every neighbour.
   */
  #nextHops(author: string, to: string, from: string): string[] {
    if (to !== '' && this.#out.has(to)) return [to]
    const theirsFrom = this.#neighbours.get(from)
    const theirsAuthor = this.#neighbours.get(author)
    return [...this.#out.keys()].filter(
      (peer) => peer !== from && peer !== author && theirsFrom?.has(peer) !== true && theirsAuthor?.has(peer) !== true,
    )
  }

  #remember(id: string): void {
    this.#seen.set(id, true)
    if (this.#seen.size > this.#seenCap) {
      const oldest = this.#seen.keys().next().value
      if (oldest !== undefined) this.#seen.delete(oldest)
    }
  }

  // ---------------------------------------------------------------- sending

  #write(peer: string, wire: Uint8Array): void {
    const out = this.#out.get(peer)
    if (out === undefined) return
    if (out.stream.writableNeedsDrain && out.pendingBytes + wire.byteLength > this.#maxQueued) {
      // Consensus re-sends what a peer still lacks; a peer this far behind catches up later.
      this.stats.dropped++
      return
    }
    try {
      if (out.stream.writableNeedsDrain) out.pendingBytes += wire.byteLength
      else out.pendingBytes = 0
      out.stream.send(wire)
    } catch (error) {
      this.#log.debug({ err: error, peer }, 'write failed')
      this.#dropStream(peer, out.stream)
    }
  }

  #connectTo(peerId: PeerId): void {
    const peer = peerId.toString()
    if (!this.#running || this.#out.has(peer) || this.#opening.has(peer) || peer === this.#self) return
    const connection = this.#libp2p.getConnections(peerId).find((c) => c.status === 'open')
    if (connection === undefined) return
    this.#opening.add(peer)
    connection
      .newStream(this.protocol, { signal: deadlineSignal(this.#clock, 10_000, `opening the flood channel to ${peer}`) })
      .then((stream) => {
        this.#opening.delete(peer)
        if (!this.#running) {
          stream.abort(new Error('flood channel stopped'))
          return
        }
        const out: Outbound = { stream, pendingBytes: 0 }
        this.#out.set(peer, out)
        stream.addEventListener('drain', () => {
          out.pendingBytes = 0
        })
        stream.addEventListener('close', () => this.#dropStream(peer, stream))
        this.#scheduleAnnounce()
      })
      .catch((error: unknown) => {
        this.#opening.delete(peer)
        this.#log.debug({ err: error, peer }, 'could not open a stream')
      })
  }

  #dropStream(peer: string, stream: Stream): void {
    if (this.#out.get(peer)?.stream !== stream) return
    this.#out.delete(peer)
    this.#scheduleAnnounce()
    // A stream reset on a live connection is opened again; a gone connection is not.
    if (this.#running)
      this.#clock.setTimer(500, () => {
        const id = this.#libp2p.getConnections().find((c) => c.remotePeer.toString() === peer)?.remotePeer
        if (id !== undefined) this.#connectTo(id)
      })
  }

  #forget(peer: string): void {
    this.#neighbours.delete(peer)
    const out = this.#out.get(peer)
    if (out !== undefined) {
      this.#out.delete(peer)
      out.stream.abort(new Error('peer disconnected'))
      this.#scheduleAnnounce()
    }
  }

  /** Tell every neighbour our current neighbours, once per burst of changes. */
  #scheduleAnnounce(): void {
    if (this.#announceQueued) return
    this.#announceQueued = true
    queueMicrotask(() => {
      this.#announceQueued = false
      if (!this.#running) return
      const wire = withLengthPrefix(encodeNeighboursFrame([...this.#out.keys()]))
      for (const peer of this.#out.keys()) this.#write(peer, wire)
    })
  }
}

// ---------------------------------------------------------------- frames

type ParsedFrame =
  | { kind: 'message'; seq: number; author: string; to: string; body: Uint8Array }
  | { kind: 'neighbours'; peers: string[] }
  | { kind: 'ping'; nonce: number }
  | { kind: 'pong'; nonce: number }

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder('utf-8', { fatal: true })

function messageId(payload: Uint8Array): string {
  return Buffer.from(sha256(payload)).toString('base64')
}

function withLengthPrefix(payload: Uint8Array): Uint8Array {
  const prefix = varint.encodingLength(payload.byteLength)
  const wire = new Uint8Array(prefix + payload.byteLength)
  varint.encode(payload.byteLength, wire)
  wire.set(payload, prefix)
  return wire
}

function peerIdBytes(peer: string): Uint8Array {
  const bytes = utf8.encode(peer)
  if (bytes.byteLength > MAX_PEER_ID_BYTES)
    throw new InvalidArgumentError(`peer id of ${bytes.byteLength} bytes, over ${MAX_PEER_ID_BYTES}`, { peer })
  return bytes
}

/** A message frame: `payload` (kind, sequence, author, addressee, body) and `wire` (payload with its length). */
export function encodeMessageFrame(
  seq: number,
  author: string,
  to: string,
  body: Uint8Array,
): { payload: Uint8Array; wire: Uint8Array } {
  const a = peerIdBytes(author)
  const t = peerIdBytes(to)
  const length = 7 + a.byteLength + t.byteLength + body.byteLength
  const prefix = varint.encodingLength(length)
  const wire = new Uint8Array(prefix + length)
  varint.encode(length, wire)
  let o = prefix
  wire[o++] = KIND_MESSAGE
  new DataView(wire.buffer).setUint32(o, seq)
  o += 4
  wire[o++] = a.byteLength
  wire.set(a, o)
  o += a.byteLength
  wire[o++] = t.byteLength
  wire.set(t, o)
  o += t.byteLength
  wire.set(body, o)
  return { payload: wire.subarray(prefix), wire }
}

export function encodeNeighboursFrame(peers: readonly string[]): Uint8Array {
  if (peers.length > MAX_NEIGHBOURS) throw new BadFrameError(`${peers.length} neighbours`)
  const ids = peers.map(peerIdBytes)
  const out = new Uint8Array(3 + ids.reduce((s, b) => s + 1 + b.byteLength, 0))
  out[0] = KIND_NEIGHBOURS
  out[1] = peers.length >> 8
  out[2] = peers.length & 0xff
  let o = 3
  for (const id of ids) {
    out[o++] = id.byteLength
    out.set(id, o)
    o += id.byteLength
  }
  return out
}

function encodePingFrame(kind: number, nonce: number): Uint8Array {
  const out = new Uint8Array(5)
  out[0] = kind
  new DataView(out.buffer).setUint32(1, nonce)
  return out
}

export function parseFrame(payload: Uint8Array): ParsedFrame {
  let o = 0
  const need = (n: number, what: string): void => {
    if (o + n > payload.byteLength) throw new BadFrameError(`frame ends inside its ${what}`)
  }
  const peerId = (what: string): string => {
    need(1, what)
    const n = payload[o++] as number
    need(n, what)
    let s: string
    try {
      s = fromUtf8.decode(payload.subarray(o, o + n))
    } catch (error) {
      // The fatal decoder's TypeError is the one way this field can be bad beyond its length.
      if (error instanceof TypeError) throw new BadFrameError(`${what} is not UTF-8`, {}, { cause: error })
      throw error
    }
    o += n
    return s
  }
  need(1, 'kind')
  const kind = payload[o++]
  if (kind === KIND_MESSAGE) {
    need(4, 'sequence number')
    const seq = new DataView(payload.buffer, payload.byteOffset + o, 4).getUint32(0)
    o += 4
    const author = peerId('author')
    if (author === '') throw new BadFrameError('message without an author')
    const to = peerId('addressee')
    return { kind: 'message', seq, author, to, body: payload.subarray(o) }
  }
  if (kind === KIND_NEIGHBOURS) {
    need(2, 'neighbour count')
    const count = ((payload[o] as number) << 8) | (payload[o + 1] as number)
    o += 2
    const peers: string[] = []
    for (let i = 0; i < count; i++) peers.push(peerId('neighbour'))
    if (o !== payload.byteLength) throw new BadFrameError('bytes after the neighbour list')
    return { kind: 'neighbours', peers }
  }
  if (kind === KIND_PING || kind === KIND_PONG) {
    if (payload.byteLength !== 5) throw new BadFrameError('ping or pong frame not 5 bytes')
    const nonce = new DataView(payload.buffer, payload.byteOffset, 5).getUint32(1)
    return kind === KIND_PING ? { kind: 'ping', nonce } : { kind: 'pong', nonce }
  }
  throw new BadFrameError(`unknown frame kind ${kind}`)
}

/**
 * Splits a stream's chunks into frames (unsigned varint length, then bytes), synchronously, so
 * a frame is handled in the same turn its last byte arrives. A frame inside one chunk is a
 * view of it; one spread over chunks is copied together once.
 *
 * Linear in the bytes pushed however they are cut: pieces are consumed by moving an index
 * (the array is compacted only once most of it is consumed), and a length prefix is read
 * once, not again on every push while the frame's body trickles in. After a push the parser
 * holds at most one unfinished frame (`heldBytes`), which the frame cap bounds.
 */
export class FrameParser {
  readonly #maxFrame: number
  #pieces: Uint8Array[] = []
  /** Index of the first piece not yet consumed, and the bytes of it already consumed. */
  #head = 0
  #headOffset = 0
  #pendingBytes = 0
  /** Length of the frame whose prefix has been read, its body not yet complete. */
  #expected: number | undefined

  constructor(maxFrameBytes: number) {
    this.#maxFrame = maxFrameBytes
  }

  /** Bytes held for a frame not yet complete (the part of it that has arrived, less its prefix once read). */
  get heldBytes(): number {
    return this.#pendingBytes
  }

  push(chunk: Uint8Array | Uint8ArrayList): Uint8Array[] {
    if (chunk instanceof Uint8Array) this.#append(chunk)
    else for (const part of chunk) this.#append(part)
    const frames: Uint8Array[] = []
    for (;;) {
      const frame = this.#next()
      if (frame === undefined) break
      frames.push(frame)
    }
    if (this.#head > 64 && this.#head * 2 >= this.#pieces.length) {
      this.#pieces = this.#pieces.slice(this.#head)
      this.#head = 0
    }
    return frames
  }

  #append(part: Uint8Array): void {
    if (part.byteLength === 0) return
    this.#pieces.push(part)
    this.#pendingBytes += part.byteLength
  }

  #next(): Uint8Array | undefined {
    if (this.#expected === undefined) {
      const length = this.#readPrefix()
      if (length === undefined) return undefined
      this.#expected = length
    }
    const length = this.#expected
    if (this.#pendingBytes < length) return undefined
    this.#expected = undefined
    // An empty frame may follow the last byte held: there is no piece to take a view of.
    if (length === 0) return new Uint8Array(0)
    const first = this.#pieces[this.#head] as Uint8Array
    if (first.byteLength - this.#headOffset >= length) {
      const frame = first.subarray(this.#headOffset, this.#headOffset + length)
      this.#consume(length)
      return frame
    }
    const frame = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      const piece = this.#pieces[this.#head] as Uint8Array
      const take = Math.min(piece.byteLength - this.#headOffset, length - filled)
      frame.set(piece.subarray(this.#headOffset, this.#headOffset + take), filled)
      filled += take
      this.#consume(take)
    }
    return frame
  }

  /** Read and consume a complete length prefix (refusing one over the cap), or undefined while it is incomplete. */
  #readPrefix(): number | undefined {
    let length = 0
    let scale = 1
    let prefix = 0
    let index = this.#head
    let offset = this.#headOffset
    while (index < this.#pieces.length) {
      const piece = this.#pieces[index] as Uint8Array
      if (offset >= piece.byteLength) {
        index++
        offset = 0
        continue
      }
      const byte = piece[offset++] as number
      length += (byte & 0x7f) * scale
      prefix++
      if (byte < 0x80) {
        if (length > this.#maxFrame)
          throw new BadFrameError(`frame of ${length} bytes over the cap of ${this.#maxFrame}`)
        this.#consume(prefix)
        return length
      }
      scale *= 0x80
      if (prefix >= 9) throw new BadFrameError('bad frame length prefix')
    }
    return undefined
  }

  #consume(n: number): void {
    this.#pendingBytes -= n
    while (n > 0) {
      const piece = this.#pieces[this.#head] as Uint8Array
      const left = piece.byteLength - this.#headOffset
      if (left <= n) {
        n -= left
        this.#pieces[this.#head] = EMPTY
        this.#head++
        this.#headOffset = 0
      } else {
        this.#headOffset += n
        n = 0
      }
    }
  }
}

const EMPTY = new Uint8Array(0)
