/**
 * Direct block exchange: ask one named peer for one block by CID, over a protocol of its own
 * (`/r3mes/<chainId>/block/1.0.0`), one stream per block. The request is the CID's bytes; the
 * answer is a status byte, then the block (length-prefixed frames, `framedStream`). A reply is
 * hashed against the CID where it landed, before a byte of it is copied anywhere the caller
 * reads: a provider that lies, early or late, cannot put its bytes in the caller's buffer.
 *
 * Why next to bitswap: the network usually knows who holds a block (a claim names its miner,
 * an aggregate its aggregator, the genesis its seeders), and on loopback 8 peers fetching
 * 100 KB blocks from each other (56 transfers) took 3–12 s through helia's bitswap, with some
 * wants never answered (a round of want updates waits for the slowest peer's send, and a want
 * that is lost is not sent again), against 0.3–0.7 s for the same bytes over plain streams.
 * The content store asks the named holders this way first and falls back to bitswap.
 */
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { type Clock, deadlineSignal, sleep } from '../runtime/clock.ts'
import { R3mesError } from '../runtime/errors.ts'
import {
  BLOCK_SERVE_DEADLINE_MS,
  MAX_BLOCK_REQUEST_BYTES,
  MAX_BLOCK_REQUESTS_SERVED_PER_PEER,
  MAX_BLOCK_STREAMS_PER_CONNECTION,
  MAX_CONTENT_BLOCK_BYTES,
} from '../runtime/limits.ts'
import type { Logger } from '../runtime/logger.ts'
import { FaultInjectedError, MalformedMessageError, TooManyRequestsError } from './errors.ts'
import type { FaultInjector } from './faults.ts'
import { verifyBlock } from './hashing.ts'
import { framedStream, readFramed } from './length-prefixed.ts'
import type { ContentTraffic } from './metrics.ts'

export function blockProtocol(chainId: string): string {
  return `/r3mes/${chainId}/block/1.0.0`
}

const FOUND = 0
const NOT_FOUND = 1

export interface BlockExchangeInit {
  readonly chainId: string
  /** Largest block served or accepted. @default MAX_CONTENT_BLOCK_BYTES (4 MiB) */
  readonly maxBlockBytes?: number
  /** Longest a served request may take, from stream open to the last byte. @default BLOCK_SERVE_DEADLINE_MS (30 s) */
  readonly serveDeadlineMs?: number
  /** Requests served at once per connection. @default MAX_BLOCK_STREAMS_PER_CONNECTION (32) */
  readonly maxInboundStreams?: number
  /** Requests served at once per peer, over all its connections. @default MAX_BLOCK_REQUESTS_SERVED_PER_PEER (32) */
  readonly maxRequestsPerPeer?: number
}

export interface BlockExchangeComponents {
  readonly libp2p: Libp2p
  readonly clock: Clock
  readonly logger: Logger
  readonly faults: FaultInjector
  /** This node's blocks: undefined when it does not hold `cid` (never asks the network). */
  readonly localBlock: (cid: CID) => Promise<Uint8Array | undefined>
  /** Counts the bytes of blocks served. @default counts nothing */
  readonly traffic?: ContentTraffic
}

export class BlockExchange {
  readonly protocol: string
  readonly #components: BlockExchangeComponents
  readonly #maxBlockBytes: number
  readonly #serveDeadlineMs: number
  readonly #maxInboundStreams: number
  readonly #maxRequestsPerPeer: number
  /** Requests being served, per peer (entries removed at zero). */
  readonly #serving = new Map<string, number>()
  /**
   * Served requests that failed, per error code (ERR_UNKNOWN when the error has none): a peer's
   * malformed request, a deadline. For tests, metrics and chaos checks.
   */
  readonly refused = new Map<string, number>()
  readonly #log: Logger

  constructor(init: BlockExchangeInit, components: BlockExchangeComponents) {
    this.protocol = blockProtocol(init.chainId)
    this.#components = components
    this.#maxBlockBytes = init.maxBlockBytes ?? MAX_CONTENT_BLOCK_BYTES
    this.#serveDeadlineMs = init.serveDeadlineMs ?? BLOCK_SERVE_DEADLINE_MS
    this.#maxInboundStreams = init.maxInboundStreams ?? MAX_BLOCK_STREAMS_PER_CONNECTION
    this.#maxRequestsPerPeer = init.maxRequestsPerPeer ?? MAX_BLOCK_REQUESTS_SERVED_PER_PEER
    this.#log = components.logger.child({ component: 'blocks' })
  }

  async start(): Promise<void> {
    await this.#components.libp2p.handle(
      this.protocol,
      (stream, connection) => {
        const peer = connection.remotePeer.toString()
        const serving = this.#serving.get(peer) ?? 0
        if (serving >= this.#maxRequestsPerPeer) {
          // Over its share: the stream is reset unread, and the peer asks elsewhere.
          stream.abort(new TooManyRequestsError('block requests', peer, this.#maxRequestsPerPeer))
          return
        }
        this.#serving.set(peer, serving + 1)
        this.#serve(stream, connection.remotePeer)
          .catch((error: unknown) => {
            const code = error instanceof R3mesError ? error.code : 'ERR_UNKNOWN'
            this.refused.set(code, (this.refused.get(code) ?? 0) + 1)
            this.#log.debug({ err: error, peer, code }, 'block request failed')
            stream.abort(error instanceof Error ? error : new Error(String(error)))
          })
          .finally(() => {
            const left = (this.#serving.get(peer) ?? 1) - 1
            if (left === 0) this.#serving.delete(peer)
            else this.#serving.set(peer, left)
          })
      },
      { maxInboundStreams: this.#maxInboundStreams },
    )
  }

  async stop(): Promise<void> {
    await this.#components.libp2p.unhandle(this.protocol)
  }

  /**
   * The block `cid` from `peer`, checked against its CID; undefined when the peer says it does
   * not hold it. Throws when the peer cannot be reached, breaks the protocol (a
   * MalformedMessageError naming it: a bad status, a frame over the cap or cut short) or
   * sends bytes that do not hash to the CID (ContentIntegrityError).
   *
   * With `into`, the block must be exactly that long (a longer reply fails at its length
   * prefix, before its bytes are read), and it is copied there from the received frames and
   * `into` is returned: the block's bytes land once, where the caller wants them, instead of
   * in a fresh buffer first (fresh memory costs a page fault per page on first write, as much
   * as the copy itself for chunks of megabytes). Only bytes that hash to `cid` are written to
   * `into`, and only while `signal` has not aborted: so whatever several providers asked at
   * once into the same place send, `into` holds nothing but the block.
   */
  async fetch(peer: PeerId, cid: CID, signal: AbortSignal, into?: Uint8Array): Promise<Uint8Array | undefined> {
    const link = this.#components.faults.linkFaults(peer.toString())
    if (link.delayMs > 0) await sleep(this.#components.clock, link.delayMs, signal)
    if (this.#components.faults.shouldDrop(peer.toString())) throw new FaultInjectedError('loss', peer.toString())
    const stream = await this.#components.libp2p.dialProtocol(peer, this.protocol, { signal })
    const abort = (): void => stream.abort(signal.reason as Error)
    signal.addEventListener('abort', abort, { once: true })
    try {
      const lp = framedStream(stream, Math.min(into?.byteLength ?? Infinity, this.#maxBlockBytes))
      await lp.write(cid.bytes, { signal })
      const reply = `block reply from ${peer}`
      const status = (await readFramed(`${reply} (status)`, () => lp.read({ signal }))).subarray()
      if (status.byteLength !== 1 || (status[0] !== FOUND && status[0] !== NOT_FOUND))
        throw new MalformedMessageError(reply, 'the status is not found or not-found')
      if (status[0] === NOT_FOUND) {
        await stream.close({ signal }).catch(() => {})
        return undefined
      }
      const frame = await readFramed(`${reply} (block)`, () => lp.read({ signal }))
      // Hashed in the frames it arrived in: bytes that are not the block go nowhere.
      const parts = [...frame]
      verifyBlock(cid, parts, `block from ${peer}`)
      await stream.close({ signal }).catch(() => {})
      // Checked and copied in one synchronous step: a caller that has taken another
      // provider's answer and aborted this request finds `into` untouched by it.
      signal.throwIfAborted()
      if (into === undefined || frame.byteLength !== into.byteLength) return frame.subarray()
      let offset = 0
      for (const part of parts) {
        into.set(part, offset)
        offset += part.byteLength
      }
      return into
    } finally {
      signal.removeEventListener('abort', abort)
    }
  }

  async #serve(stream: Stream, from: PeerId): Promise<void> {
    const signal = deadlineSignal(this.#components.clock, this.#serveDeadlineMs, 'serving a block')
    const abort = (): void => stream.abort(signal.reason as Error)
    signal.addEventListener('abort', abort, { once: true })
    try {
      const lp = framedStream(stream, MAX_BLOCK_REQUEST_BYTES)
      const request = (await readFramed(`block request from ${from}`, () => lp.read({ signal }))).subarray()
      const cid = decodeBlockRequest(request, from.toString())
      const block = await this.#components.localBlock(cid)
      if (block === undefined || block.byteLength > this.#maxBlockBytes) {
        await lp.write(Uint8Array.of(NOT_FOUND), { signal })
      } else {
        await lp.writeV([Uint8Array.of(FOUND), block], { signal })
        this.#components.traffic?.served('exchange', block.byteLength)
      }
      await stream.close({ signal })
    } finally {
      signal.removeEventListener('abort', abort)
    }
  }
}

/** The CID a block request names; MalformedMessageError when its bytes are not exactly one CID. */
export function decodeBlockRequest(request: Uint8Array, from: string): CID {
  try {
    return CID.decode(request)
  } catch (error) {
    // multiformats throws plain Errors and RangeErrors for every way a CID can be malformed.
    throw new MalformedMessageError(`block request from ${from}`, 'not a CID', { cause: error })
  }
}
