/**
 * Stakers and their peers: each staker records the libp2p peer id of its node on chain (its
 * account key's unless it named another with a proof of possession), and no two stakers share
 * one, so an address names a peer and back. Parsed peer ids are cached per address, at most
 * one per staker on chain, and so are staker addresses per peer id, so both caches are bounded by
 * the chain's state; an entry whose staker has since named another peer id is replaced.
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { ChainReader } from '../../chain/reader.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'

export interface PeerDirectory {
  /** The peer id of a staker; an address that is not a staker is an InvalidArgumentError. */
  peerOf(address: string): PeerId
  /** The staker address behind a peer id, if any. */
  addressOfPeer(peer: PeerId): string | undefined
}

export interface PeerDirectoryComponents {
  readonly chain: Pick<ChainReader, 'staker' | 'stakers'>
}

export function peerDirectory(components: PeerDirectoryComponents): PeerDirectory {
  const byAddress = new Map<string, PeerId>()
  /** Address by peer id text, for peers found on chain (at most one per staker); checked on every hit. */
  const byPeer = new Map<string, string>()
  /** The peer id under which each address sits in `byPeer`, so a new one replaces it: one entry per staker. */
  const peerOfAddress = new Map<string, string>()
  return {
    peerOf(address) {
      const staker = components.chain.staker(address)
      if (staker === null) throw new InvalidArgumentError(`${address} is not a staker`)
      const known = byAddress.get(address)
      if (known !== undefined && known.toString() === staker.peerId) return known
      // The chain admits only well-formed ed25519 peer ids (keys.ts `isPeerId`), so this parses.
      const peer = peerIdFromString(staker.peerId)
      byAddress.set(address, peer)
      return peer
    },
    addressOfPeer(peer) {
      const id = peer.toString()
      const known = byPeer.get(id)
      if (known !== undefined && components.chain.staker(known)?.peerId === id) return known
      byPeer.delete(id)
      const found = components.chain.stakers().find((s) => s.staker.peerId === id)?.address
      if (found !== undefined) {
        const previous = peerOfAddress.get(found)
        if (previous !== undefined) byPeer.delete(previous)
        byPeer.set(id, found)
        peerOfAddress.set(found, id)
      }
      return found
    },
  }
}
