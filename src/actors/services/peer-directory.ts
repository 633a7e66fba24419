/**
 * Stakers and their peers: a staker's libp2p peer id is derived from the public key it staked
 * with (identity.ts), so an address names a peer and back. Entries are cached per address; the
 * cache holds at most one entry per staker on chain, so it is bounded by the chain's state.
 */
import type { PeerId } from '@libp2p/interface'
import type { ChainReader } from '../../chain/reader.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { peerIdOfPubKey } from '../identity.ts'

export interface PeerDirectory {
  /** The peer id of a staker; an address that is not a staker is an InvalidArgumentError. */
  peerOf(address: string): PeerId
  /** The staker address behind a peer id, if any. */
  addressOfPeer(peer: PeerId): string | undefined
}

export interface PeerDirectoryComponents {
  readonly chain: ChainReader
}

export function peerDirectory(components: PeerDirectoryComponents): PeerDirectory {
  const byAddress = new Map<string, PeerId>()
  const byPeer = new Map<string, string>()
  const learn = (address: string, pubKey: string): PeerId => {
    const peer = peerIdOfPubKey(pubKey)
    byAddress.set(address, peer)
    byPeer.set(peer.toString(), address)
    return peer
  }
  return {
    peerOf(address) {
      const known = byAddress.get(address)
      if (known !== undefined) return known
      const staker = components.chain.staker(address)
      if (staker === null) throw new InvalidArgumentError(`${address} is not a staker`)
      return learn(address, staker.pubKey)
    },
    addressOfPeer(peer) {
      const id = peer.toString()
      const known = byPeer.get(id)
      if (known !== undefined) return known
      for (const { address, staker } of components.chain.stakers()) {
        if (byAddress.has(address)) continue
        if (learn(address, staker.pubKey).toString() === id) return address
      }
      return undefined
    },
  }
}
