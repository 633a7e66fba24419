/**
 * Content-addressed storage on helia (bitswap over an on-disk blockstore).
 *
 * Small content (≤ one chunk) is a single raw block whose CID is the hash of the bytes.
 * Larger content is cut into raw chunks of `chunkBytes` under one dag-pb root that lists them
 * (Data holds a small msgpack header: total size, chunk size, and the raw CID of the whole).
 * So a transfer is resumable (chunks already stored locally are not fetched again), draws
 * chunks from every connected peer that has them (bitswap asks all of them, several chunks in
 * flight), and pinning the root pins every chunk (helia walks dag-pb links).
 *
 * Every block read, from disk or from a peer, is hashed against its CID, and the assembled
 * content against the root's content CID: a corrupted disk or a lying peer is a typed error.
 */
import * as dagPb from '@ipld/dag-pb'
import type { PeerId } from '@libp2p/interface'
import type { Helia } from 'helia'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { cidOf } from '../codec/cid.ts'
import { incrementalSha256 } from '../codec/hash.ts'
import { assert } from '../runtime/assert.ts'
import { type Clock, deadlineSignal, sleep } from '../runtime/clock.ts'
import {
  LYING_PROVIDER_SKIP_MS,
  MAX_CONTENT_ROOT_HEADER_BYTES,
  MAX_LYING_PROVIDERS_REMEMBERED,
} from '../runtime/limits.ts'
import type { Logger } from '../runtime/logger.ts'
import type { BlockExchange } from './block-exchange.ts'
import { decodeMessage, encodeMessage } from './codec.ts'
import { ContentIntegrityError, MalformedMessageError, MessageTooLargeError } from './errors.ts'
import { dagPbCid, verifyBlock, verifyDigest } from './hashing.ts'
import type { ContentTraffic } from './metrics.ts'

export interface ContentStoreInit {
  /**
   * Chunk size for large content. bitswap refuses blocks over 2 MiB; the largest chunk means
   * the fewest blocks to want, send, write and read. @default 2 MiB
   */
  chunkBytes?: number
  /** Chunks fetched concurrently by `get` (more wants in flight let a peer batch them). @default 16 */
  fetchConcurrency?: number
  /** Largest content `get` will assemble in memory. @default 1 GiB */
  maxContentBytes?: number
}

export interface ContentStoreComponents {
  helia: Helia
  clock: Clock
  logger: Logger
  /** Direct fetches from named holders (block-exchange.ts); without it, bitswap only. */
  exchange?: BlockExchange
  /** Counts the bytes of blocks fetched from peers. @default counts nothing */
  traffic?: ContentTraffic
}

export interface GetOptions {
  signal?: AbortSignal
  /** Read only what is stored locally; fail rather than ask peers. @default false */
  offline?: boolean
  /** Called once per block that had to come from a peer (the rest were already stored). */
  onFetched?: (cid: CID) => void
  /**
   * Peers known to hold the content (a claim's miner, an aggregate's aggregator, the model's
   * seeders): asked directly for every block, in order, before bitswap asks everyone.
   */
  providers?: readonly PeerId[]
}

export interface RootHeader {
  v: 1
  size: number
  chunkBytes: number
  content: string
}

/** How long a want may go unanswered before it is made again, at first and at most. */
const WANT_RETRY_FIRST_MS = 3_000
const WANT_RETRY_MAX_MS = 24_000
/** How long one named provider has to deliver a block. */
const DIRECT_FETCH_MS = 15_000
/** How long a provider may keep us waiting before the next one is asked as well. */
const HEDGE_MS = 2_000
const NEXT = Symbol('ask the next provider')

/** The first attempt that brings a block, or undefined once every attempt has come back empty. */
async function firstBlock(attempts: readonly Promise<Uint8Array | undefined>[]): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    let pending = attempts.length
    for (const a of attempts)
      void a.then((block) => {
        pending--
        if (block !== undefined) resolve(block)
        else if (pending === 0) resolve(undefined)
      })
  })
}

export class ContentStore {
  readonly #helia: Helia
  readonly #log: Logger
  readonly #clock: Clock
  readonly #exchange: BlockExchange | undefined
  readonly #traffic: ContentTraffic | undefined
  readonly chunkBytes: number
  readonly #concurrency: number
  readonly #maxContentBytes: number
  /** Named providers that sent bytes not matching the CID asked for, to when they are skipped (monotonic ms). */
  readonly #lyingUntil = new Map<string, number>()

  constructor(init: ContentStoreInit, components: ContentStoreComponents) {
    this.#helia = components.helia
    this.#log = components.logger.child({ component: 'content' })
    this.#clock = components.clock
    this.#exchange = components.exchange
    this.#traffic = components.traffic
    this.chunkBytes = init.chunkBytes ?? 2 * 1024 * 1024
    assert(this.chunkBytes > 0 && this.chunkBytes <= 2 * 1024 * 1024, 'chunk must fit a bitswap block')
    this.#concurrency = init.fetchConcurrency ?? 16
    this.#maxContentBytes = init.maxContentBytes ?? 1024 * 1024 * 1024
  }

  /**
   * Store `bytes` and return the CID to fetch them by; pinned unless `pin` is false, and
   * announced in the chain's DHT unless `announce` is false.
   */
  async put(bytes: Uint8Array, options: { pin?: boolean; announce?: boolean } = {}): Promise<CID> {
    const { root, blocks } = this.#layout(bytes)
    for (const [cid, block] of blocks) await this.#helia.blockstore.put(cid, block)
    if (options.pin !== false) await this.pin(root)
    if (options.announce !== false) await this.announce(root)
    this.#log.debug({ cid: root.toString(), sizeBytes: bytes.byteLength }, 'content stored')
    return root
  }

  /** The CID `put` would store `bytes` under, without storing anything. */
  cidOf(bytes: Uint8Array): CID {
    return this.#layout(bytes).root
  }

  /** How `bytes` are stored: one raw block, or raw chunks under a dag-pb root (the root last). */
  #layout(bytes: Uint8Array): { root: CID; blocks: [CID, Uint8Array][] } {
    if (bytes.byteLength <= this.chunkBytes) {
      const root = cidOf(bytes)
      return { root, blocks: [[root, bytes]] }
    }
    const blocks: [CID, Uint8Array][] = []
    const links: dagPb.PBLink[] = []
    for (let offset = 0; offset < bytes.byteLength; offset += this.chunkBytes) {
      const chunk = bytes.subarray(offset, Math.min(offset + this.chunkBytes, bytes.byteLength))
      const cid = cidOf(chunk)
      blocks.push([cid, chunk])
      links.push({ Hash: cid, Tsize: chunk.byteLength })
    }
    const header: RootHeader = {
      v: 1,
      size: bytes.byteLength,
      chunkBytes: this.chunkBytes,
      content: cidOf(bytes).toString(),
    }
    const block = dagPb.encode(
      dagPb.prepare({ Data: encodeMessage(header, MAX_CONTENT_ROOT_HEADER_BYTES, 'root'), Links: links }),
    )
    const root = dagPbCid(block)
    blocks.push([root, block])
    return { root, blocks }
  }

  /** Fetch content by CID, from the local store or any peer that has it, checking every hash. */
  async get(cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    this.#log.debug({ cid: cid.toString() }, 'content wanted')
    const bytes = await this.#get(cid, options)
    this.#log.debug({ cid: cid.toString(), sizeBytes: bytes.byteLength }, 'content fetched')
    return bytes
  }

  async #get(cid: CID, options: GetOptions): Promise<Uint8Array> {
    if (cid.code === raw.code) return this.#getBlock(cid, options)
    if (cid.code !== dagPb.code) throw new MalformedMessageError('content CID', `codec 0x${cid.code.toString(16)}`)
    const node = decodeRootBlock(await this.#getBlock(cid, options))
    const header = parseHeader(node.Data)
    if (header.size > this.#maxContentBytes)
      throw new MessageTooLargeError('content', header.size, this.#maxContentBytes)
    const expectedChunks = Math.ceil(header.size / header.chunkBytes)
    if (node.Links.length !== expectedChunks)
      throw new MalformedMessageError('content root', `${node.Links.length} links for ${expectedChunks} chunks`)
    const out = new Uint8Array(header.size)
    // Chunks land out of order; the whole is hashed in order as the finished prefix grows, so
    // the content check overlaps the chunks still in flight.
    const contentHash = incrementalSha256()
    const landed: boolean[] = new Array(expectedChunks).fill(false)
    let hashed = 0
    let next = 0
    const worker = async (): Promise<void> => {
      for (;;) {
        const index = next++
        const link = node.Links[index]
        if (link === undefined) return
        if (link.Hash.code !== raw.code) throw new MalformedMessageError('content root', 'chunk is not a raw block')
        const offset = index * header.chunkBytes
        const expectedLength = Math.min(header.chunkBytes, header.size - offset)
        const slot = out.subarray(offset, offset + expectedLength)
        const chunk = await this.#getBlock(link.Hash, options, false, slot)
        if (chunk.byteLength !== expectedLength)
          throw new MalformedMessageError('content chunk', `${chunk.byteLength} bytes, expected ${expectedLength}`)
        // A chunk from a named holder was received straight into its place.
        if (chunk !== slot) out.set(chunk, offset)
        landed[index] = true
        for (; hashed < expectedChunks && landed[hashed] === true; hashed++) {
          const start = hashed * header.chunkBytes
          contentHash.update(out.subarray(start, Math.min(start + header.chunkBytes, header.size)))
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, expectedChunks) }, worker))
    verifyDigest(CID.parse(header.content), contentHash.digest(), 'content')
    return out
  }

  /**
   * Publish a provider record for `cid` in the chain's DHT, so a peer not connected to us can
   * find us: bitswap looks up providers of the root it wants and dials them, and the chunks
   * then come over that connection. Best effort: a DHT with no peers yet is not an error.
   */
  async announce(cid: CID, options: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      await this.#helia.routing.provide(cid, options)
    } catch (error) {
      this.#log.debug({ cid: cid.toString(), err: error }, 'provider record not published')
    }
  }

  /** Whether every block of `cid` is stored locally. */
  async has(cid: CID): Promise<boolean> {
    if (!(await this.#helia.blockstore.has(cid))) return false
    if (cid.code !== dagPb.code) return true
    const node = decodeRootBlock(await this.#getBlock(cid, { offline: true }))
    for (const link of node.Links) if (!(await this.#helia.blockstore.has(link.Hash))) return false
    return true
  }

  /** Keep `cid` and everything it links to through garbage collection (fetching what is missing). */
  async pin(cid: CID, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (await this.#helia.pins.isPinned(cid)) return
    for await (const _ of this.#helia.pins.add(cid, options)) {
      // Draining the generator does the work.
    }
  }

  async unpin(cid: CID): Promise<void> {
    // Content garbage collection may have unpinned it already: unpinning twice is no error.
    if (!(await this.#helia.pins.isPinned(cid))) return
    for await (const _ of this.#helia.pins.rm(cid)) {
      // Draining the generator does the work.
    }
  }

  isPinned(cid: CID): Promise<boolean> {
    return this.#helia.pins.isPinned(cid)
  }

  /**
   * Drop `dead` roots and their chunks: each is unpinned, then every block of it stored here is
   * deleted unless another pinned root links to it (two contents may share a chunk). Blocks
   * of content never named here (in-flight fetches, other pins) are not touched. Returns what
   * went: roots that were stored here, blocks and bytes.
   */
  async drop(dead: readonly CID[]): Promise<{ roots: number; blocks: number; bytes: number }> {
    const deadKeys = new Set(dead.map((c) => c.toString()))
    for (const cid of dead) if (await this.#helia.pins.isPinned(cid)) await this.unpin(cid)
    const kept = new Set<string>()
    for await (const pin of this.#helia.pins.ls()) {
      if (deadKeys.has(pin.cid.toString())) continue
      for (const b of await this.#localBlocksOf(pin.cid)) kept.add(b.toString())
    }
    let roots = 0
    let blocks = 0
    let bytes = 0
    for (const cid of dead) {
      const own = await this.#localBlocksOf(cid)
      if (own.length > 0) roots++
      for (const b of own) {
        if (kept.has(b.toString())) continue
        const block = await this.localBlock(b)
        if (block === undefined) continue
        await this.#helia.blockstore.delete(b)
        blocks++
        bytes += block.byteLength
      }
    }
    return { roots, blocks, bytes }
  }

  /** The blocks of `cid` stored here: its root and, for chunked content, the chunks present. */
  async #localBlocksOf(cid: CID): Promise<CID[]> {
    if (!(await this.#helia.blockstore.has(cid))) return []
    if (cid.code !== dagPb.code) return [cid]
    let node: dagPb.PBNode
    try {
      node = decodeRootBlock(await this.#getBlock(cid, { offline: true }))
    } catch (error) {
      // A root that does not decode still goes; its chunks, unknown, stay.
      this.#log.warn({ cid: cid.toString(), err: error }, 'content root does not decode')
      return [cid]
    }
    const out = [cid]
    for (const link of node.Links) if (await this.#helia.blockstore.has(link.Hash)) out.push(link.Hash)
    return out
  }

  /** Delete everything not pinned. */
  gc(): Promise<void> {
    return this.#helia.gc()
  }

  /** This node's copy of a block, or undefined (never asks the network). */
  async localBlock(cid: CID): Promise<Uint8Array | undefined> {
    if (!(await this.#helia.blockstore.has(cid))) return undefined
    return this.#getBlock(cid, { offline: true })
  }

  /**
   * A block missing here, asked of the named providers, stored once it checks out; undefined
   * when none of them had it. Requests are hedged: the first provider is asked at once, and
   * each next one when no answer has come `HEDGE_MS` later (or at once when the last one
   * failed), so a busy or unreachable provider costs a short delay, not its whole deadline.
   * The first good answer cancels the rest.
   */
  async #fromProviders(cid: CID, options: GetOptions, into?: Uint8Array): Promise<Uint8Array | undefined> {
    const exchange = this.#exchange
    const providers = (options.providers ?? []).filter((peer) => !this.#isSkipped(peer))
    if (exchange === undefined || providers.length === 0 || options.offline === true) return undefined
    if (await this.#helia.blockstore.has(cid)) return undefined
    const done = new AbortController()
    const attempts: Promise<Uint8Array | undefined>[] = []
    try {
      for (const [i, peer] of providers.entries()) {
        const deadline = deadlineSignal(this.#clock, DIRECT_FETCH_MS, `fetching ${cid} from ${peer}`)
        const signal = AbortSignal.any([done.signal, deadline, ...(options.signal ? [options.signal] : [])])
        const attempt = exchange.fetch(peer, cid, signal, into).catch((error: unknown) => {
          if (error instanceof ContentIntegrityError) this.#skipLiar(peer)
          if (!done.signal.aborted)
            this.#log.debug({ cid: cid.toString(), peer: peer.toString(), err: error }, 'direct block fetch failed')
          return undefined
        })
        attempts.push(attempt)
        // Any attempt so far may answer; move on to the next provider when this one comes
        // back empty or keeps us waiting past the hedge delay. After the last, wait for all.
        const found =
          i === providers.length - 1
            ? await firstBlock(attempts)
            : await Promise.race([
                firstBlock(attempts),
                attempt.then((block) => block ?? NEXT),
                sleep(this.#clock, HEDGE_MS, done.signal).then(() => NEXT),
              ])
        if (found instanceof Uint8Array) {
          // Stop the other attempts before anything awaits. They share `into`, but each writes
          // there only bytes that hash to `cid` (see BlockExchange.fetch), so a late answer
          // cannot change a block that has been taken; aborting saves their work.
          done.abort()
          await this.#helia.blockstore.put(cid, found)
          this.#traffic?.fetched('exchange', found.byteLength)
          options.onFetched?.(cid)
          return found
        }
        if (options.signal?.aborted === true) throw options.signal.reason
      }
      return undefined
    } finally {
      done.abort()
    }
  }

  #isSkipped(peer: PeerId): boolean {
    const until = this.#lyingUntil.get(peer.toString())
    if (until === undefined) return false
    if (until > this.#clock.monotonicMs()) return true
    this.#lyingUntil.delete(peer.toString())
    return false
  }

  /** A provider whose bytes did not hash to the CID is not asked by name again for a while. */
  #skipLiar(peer: PeerId): void {
    const key = peer.toString()
    this.#log.warn({ peer: key, skipMs: LYING_PROVIDER_SKIP_MS }, 'provider sent a block that is not the one asked for')
    // Re-inserted so the map's order is the order of the last lie: the oldest goes first.
    this.#lyingUntil.delete(key)
    this.#lyingUntil.set(key, this.#clock.monotonicMs() + LYING_PROVIDER_SKIP_MS)
    for (const oldest of this.#lyingUntil.keys()) {
      if (this.#lyingUntil.size <= MAX_LYING_PROVIDERS_REMEMBERED) break
      this.#lyingUntil.delete(oldest)
    }
  }

  /**
   * One block, from disk or from peers. `lookUpProviders` is false for chunks: only roots have
   * provider records, so a DHT query per chunk (bitswap's default) always came back empty,
   * and cost both peers more than the chunk itself; chunks come from the connected peers the
   * root's lookup found. `into`, a chunk's place in the content, receives a chunk that comes
   * from a named holder (see `BlockExchange.fetch`).
   */
  async #getBlock(cid: CID, options: GetOptions, lookUpProviders = true, into?: Uint8Array): Promise<Uint8Array> {
    const direct = await this.#fromProviders(cid, options, into)
    if (direct !== undefined) return direct
    const parts: Uint8Array[] = []
    let length = 0
    let fetched = false
    // Bitswap sends a want once: a want message lost on a busy connection, or a peer whose
    // first wantlist failed to send, leaves the fetch waiting for ever. So a want that brings
    // nothing within a while is cancelled and made again, which sends it to every connected
    // peer afresh, with a longer wait each time, until the caller's signal ends the fetch.
    for (let attempt = 0, waitMs = WANT_RETRY_FIRST_MS; ; attempt++, waitMs = Math.min(2 * waitMs, WANT_RETRY_MAX_MS)) {
      const retry = new AbortController()
      const timer = options.offline === true ? undefined : this.#clock.setTimer(waitMs, () => retry.abort())
      try {
        for await (const part of this.#helia.blockstore.get(cid, {
          signal: options.signal === undefined ? retry.signal : AbortSignal.any([options.signal, retry.signal]),
          offline: options.offline === true,
          // bitswap's WantOptions: how many providers to look up in the routing (DHT) for this block.
          ...(lookUpProviders ? {} : { maxProviders: 0 }),
          // helia stores a block it fetched from the network before returning it.
          onProgress: (event: { type: string }) => {
            if (event.type === 'blocks:get:blockstore:put') {
              fetched = true
              options.onFetched?.(cid)
            }
          },
        })) {
          parts.push(part)
          length += part.byteLength
        }
        break
      } catch (error) {
        if (!retry.signal.aborted || options.signal?.aborted === true) throw error
        this.#log.debug({ cid: cid.toString(), attempt, waitMs }, 'block not received: wanting it again')
        parts.length = 0
        length = 0
      } finally {
        timer?.cancel()
      }
    }
    // A block from a peer was hashed against its CID by helia before it was stored (a
    // mismatch fails the fetch); one read back from our own disk is checked here.
    if (!fetched) verifyBlock(cid, parts, 'block')
    else this.#traffic?.fetched('bitswap', length)
    if (parts.length === 1) return parts[0] as Uint8Array
    const out = new Uint8Array(length)
    let offset = 0
    for (const part of parts) {
      out.set(part, offset)
      offset += part.byteLength
    }
    return out
  }
}

/**
 * A content root block (dag-pb) as a peer sent it. `@ipld/dag-pb` reports malformed bytes with
 * plain `Error`s and `TypeError`s; they are the peer's fault, so they become its typed error.
 */
export function decodeRootBlock(bytes: Uint8Array): dagPb.PBNode {
  try {
    return dagPb.decode(bytes)
  } catch (error) {
    throw new MalformedMessageError('content root', 'not a dag-pb block', { cause: error })
  }
}

export function parseHeader(data: Uint8Array | undefined): RootHeader {
  if (data === undefined) throw new MalformedMessageError('content root', 'no header')
  const decoded: unknown = decodeMessage(data, MAX_CONTENT_ROOT_HEADER_BYTES, 'content root')
  // msgpack decodes some bytes (an empty extension) to undefined: not a header.
  if (typeof decoded !== 'object' || decoded === null) throw new MalformedMessageError('content root', 'not a map')
  const value = decoded as Partial<RootHeader>
  if (
    value.v !== 1 ||
    !Number.isSafeInteger(value.size) ||
    (value.size ?? -1) < 0 ||
    !Number.isSafeInteger(value.chunkBytes) ||
    (value.chunkBytes ?? 0) <= 0 ||
    typeof value.content !== 'string'
  )
    throw new MalformedMessageError('content root', 'bad header')
  try {
    CID.parse(value.content)
  } catch (error) {
    throw new MalformedMessageError('content root', 'bad content CID', { cause: error })
  }
  return value as RootHeader
}
