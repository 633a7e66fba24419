/**
 * Who announced holding which CID: the holder hints of the subnet directory. Any peer may
 * announce (serving nodes and subnet peers hold no stake, so the chain cannot vouch for
 * them), so the index is bounded three ways, each evicting the least recently announced
 * hint first: per CID (a popular CID keeps its freshest holders), per peer (one peer
 * flooding announcements only pushes out its own older hints) and in total.
 */
import type { PeerId } from '@libp2p/interface'
import { MAX_HOLDER_HINTS, MAX_HOLDER_HINTS_PER_PEER, MAX_HOLDERS_PER_CID } from '../../runtime/limits.ts'

export interface HolderIndexBounds {
  /** @default MAX_HOLDER_HINTS */
  readonly maxHints?: number
  /** @default MAX_HOLDER_HINTS_PER_PEER */
  readonly maxHintsPerPeer?: number
  /** @default MAX_HOLDERS_PER_CID */
  readonly maxHoldersPerCid?: number
}

interface Hint {
  readonly cid: string
  readonly peer: PeerId
  /** The window the announcement named. */
  readonly window: number
}

const keyOf = (cid: string, peer: string): string => `${cid} ${peer}`

export class HolderIndex {
  readonly #maxHints: number
  readonly #maxHintsPerPeer: number
  readonly #maxHoldersPerCid: number
  /** Every hint, least recently announced first (a Map keeps insertion order). */
  readonly #hints = new Map<string, Hint>()
  /** Hint keys per CID and per peer, least recent first; entries go when they empty. */
  readonly #byCid = new Map<string, Set<string>>()
  readonly #byPeer = new Map<string, Set<string>>()

  constructor(bounds: HolderIndexBounds = {}) {
    this.#maxHints = bounds.maxHints ?? MAX_HOLDER_HINTS
    this.#maxHintsPerPeer = bounds.maxHintsPerPeer ?? MAX_HOLDER_HINTS_PER_PEER
    this.#maxHoldersPerCid = bounds.maxHoldersPerCid ?? MAX_HOLDERS_PER_CID
  }

  get size(): number {
    return this.#hints.size
  }

  /** Record that `peer` holds `cid` as of `window`; false when it had announced that already. */
  add(cid: string, peer: PeerId, window: number): boolean {
    const peerKey = peer.toString()
    const key = keyOf(cid, peerKey)
    const known = this.#hints.get(key)
    if (known !== undefined && known.window >= window) return false
    this.#remove(key)
    this.#hints.set(key, { cid, peer, window })
    this.#indexed(this.#byCid, cid).add(key)
    this.#indexed(this.#byPeer, peerKey).add(key)
    this.#evictOldest(this.#byCid.get(cid), this.#maxHoldersPerCid)
    this.#evictOldest(this.#byPeer.get(peerKey), this.#maxHintsPerPeer)
    while (this.#hints.size > this.#maxHints) this.#remove(this.#hints.keys().next().value as string)
    return true
  }

  /** Whether `peer` announced `cid` for `window` or a later one. */
  knows(cid: string, peer: PeerId | string, window: number): boolean {
    const known = this.#hints.get(keyOf(cid, peer.toString()))
    return known !== undefined && known.window >= window
  }

  /** The peers that announced `cid`, most recent first. */
  holdersOf(cid: string): PeerId[] {
    const keys = this.#byCid.get(cid)
    if (keys === undefined) return []
    return [...keys].reverse().map((key) => (this.#hints.get(key) as Hint).peer)
  }

  /** How many hints `peer` has in the index. */
  hintsOf(peer: PeerId | string): number {
    return this.#byPeer.get(peer.toString())?.size ?? 0
  }

  #indexed(index: Map<string, Set<string>>, name: string): Set<string> {
    let keys = index.get(name)
    if (keys === undefined) {
      keys = new Set()
      index.set(name, keys)
    }
    return keys
  }

  #evictOldest(keys: Set<string> | undefined, max: number): void {
    while (keys !== undefined && keys.size > max) this.#remove(keys.values().next().value as string)
  }

  #remove(key: string): void {
    const hint = this.#hints.get(key)
    if (hint === undefined) return
    this.#hints.delete(key)
    for (const [index, name] of [
      [this.#byCid, hint.cid],
      [this.#byPeer, hint.peer.toString()],
    ] as const) {
      const keys = index.get(name)
      keys?.delete(key)
      if (keys?.size === 0) index.delete(name)
    }
  }
}
