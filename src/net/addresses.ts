/**
 * Which addresses the DHT keeps. On the open internet a peer's private addresses (10/8,
 * 192.168/16, loopback, …) are useless to anyone outside its own network and handing them out
 * only makes others dial addresses that lead nowhere (or somewhere else), so the DHT drops
 * them from what it stores and answers. A network configured as a LAN (a local testnet, a lab,
 * `r3mes testnet --hosts`) is made of private addresses only, and keeps them.
 */
import type { PeerInfo } from '@libp2p/interface'
import { passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'

export type PeerInfoMapper = (peer: PeerInfo) => PeerInfo

/** The DHT's address filter: every address on a LAN, only public ones otherwise. */
export function dhtPeerInfoMapper(lan: boolean): PeerInfoMapper {
  return lan ? passthroughMapper : removePrivateAddressesMapper
}
