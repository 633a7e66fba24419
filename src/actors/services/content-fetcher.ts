/**
 * Bytes by CID, and bytes into the store, for the roles. A fetch names the nodes likely to
 * hold the bytes (a claim's miner, an aggregate's aggregator, a subnet's seeders) and asks
 * them directly before the DHT, which on a small or young network may know no provider yet;
 * `holders` adds the peers that announced the CID on a subnet topic. Every fetch has a
 * deadline (`FETCH_DEADLINE_MS`): a role never waits for ever on a peer that does not
 * answer, it fails and tries again later.
 */
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import type { ContentStore } from '../../net/content-store.ts'
import { type Clock, deadlineSignal } from '../../runtime/clock.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import type { PeerDirectory } from './peer-directory.ts'

/** How long a fetch waits for bytes before it fails (the caller asks again later). */
export const FETCH_DEADLINE_MS = 60_000

export interface FetchOptions {
  readonly signal?: AbortSignal
  /** How long to wait for the bytes before failing with a DeadlineError. @default FETCH_DEADLINE_MS */
  readonly deadlineMs?: number
  /** Staker addresses that stored the bytes (asked first). */
  readonly from?: readonly string[]
  /** Peers to ask besides (the genesis model's seeders). */
  readonly providers?: readonly PeerId[]
  /** A CID whose holders hold these bytes too (a backbone range: its bundles). */
  readonly sameHoldersAs?: string
}

/** Who announced holding a CID (the subnet directory); empty when nobody did. */
export interface HolderHints {
  holdersOf(cid: string): PeerId[]
}

export interface ContentFetcher {
  fetch(cid: string, options?: FetchOptions): Promise<Uint8Array>
  /**
   * Put bytes in the store (pinned) and return the CID. The provider record goes out in the
   * background (unless `announce` is false): connected peers find the bytes by bitswap at
   * once, and a DHT round must not hold up a submission. Pieces only ever asked of this node
   * by name, or announced to a subnet's nodes otherwise, skip it: each record is a DHT query
   * and a message to every close peer, and a task's tens of pieces at once saturated a loaded
   * node's event loop for seconds.
   */
  store(bytes: Uint8Array, options?: { readonly announce?: boolean }): Promise<string>
  /** The CID `store` would give `bytes`, storing nothing (a node that withholds its content). */
  cidOf(bytes: Uint8Array): string
}

export interface ContentFetcherComponents {
  readonly content: ContentStore
  readonly peers: PeerDirectory
  readonly clock: Clock
  /** This node's address (never asked for its own bytes). */
  readonly self: string
  readonly holders?: HolderHints
}

export function contentFetcher(components: ContentFetcherComponents): ContentFetcher {
  const { content, peers, clock, self } = components
  return {
    async fetch(cid, options = {}) {
      const deadline = deadlineSignal(clock, options.deadlineMs ?? FETCH_DEADLINE_MS, `fetching ${cid}`)
      const asked = new Map<string, PeerId>()
      const add = (p: PeerId): void => {
        if (!asked.has(p.toString())) asked.set(p.toString(), p)
      }
      // A holder with no stake (a challenger that holds only a balance) has no known peer id:
      // its bytes are found through the announced holders and the DHT instead.
      const addStaker = (address: string): void => {
        try {
          add(peers.peerOf(address))
        } catch (error) {
          if (!(error instanceof InvalidArgumentError)) throw error
        }
      }
      // Asked in this order: the node that stored the bytes, the peers that announced them,
      // then the general seeders (who may not have them).
      for (const address of options.from ?? []) if (address !== self) addStaker(address)
      for (const p of components.holders?.holdersOf(cid) ?? []) add(p)
      if (options.sameHoldersAs !== undefined)
        for (const p of components.holders?.holdersOf(options.sameHoldersAs) ?? []) add(p)
      for (const p of options.providers ?? []) add(p)
      return content.get(CID.parse(cid), {
        signal: options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline]),
        providers: [...asked.values()],
      })
    },
    async store(bytes, options = {}) {
      const cid = await content.put(bytes, { announce: false })
      // Best effort: bitswap serves connected peers without it, and the next announce retries.
      if (options.announce !== false) content.announce(cid).catch(() => {})
      return cid.toString()
    },
    cidOf(bytes) {
      return content.cidOf(bytes).toString()
    },
  }
}
