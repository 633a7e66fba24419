/**
 * The peer directory goes by the peer id each staker records on chain, not by its account key,
 * and follows a staker that names a new one.
 */
import assert from 'node:assert/strict'
import { peerIdFromString } from '@libp2p/peer-id'
import { peerDirectory } from '../../src/actors/services/peer-directory.ts'
import { peerIdOfKey, testKey } from '../../src/chain/keys.ts'
import type { ChainReader } from '../../src/chain/reader.ts'
import type { Staker } from '../../src/chain/state.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { InvalidArgumentError } from '../../src/runtime/errors.ts'

describe('actors/services: the peer directory', () => {
  const account = testKey('peer-directory/account')
  const firstPeer = peerIdOfKey(testKey('peer-directory/net-1').publicKey)
  const secondPeer = peerIdOfKey(testKey('peer-directory/net-2').publicKey)
  const stakers = new Map<string, Staker>()
  const setPeer = (peerId: string): void => {
    stakers.set(account.address, {
      pubKey: toHex(account.publicKey),
      consensusKey: toHex(account.publicKey),
      peerId,
      stake: 1n,
      roles: ['verifier'],
      subnet: null,
      jailed: false,
      wasValidator: false,
    })
  }
  const chain = {
    staker: (address: string) => stakers.get(address) ?? null,
    stakers: () => [...stakers].map(([address, staker]) => ({ address, staker })),
  } as Pick<ChainReader, 'staker' | 'stakers'>

  it('maps a staker to the peer id on chain and back, and follows a new one', () => {
    setPeer(firstPeer)
    const peers = peerDirectory({ chain })
    assert.equal(peers.peerOf(account.address).toString(), firstPeer)
    assert.equal(peers.addressOfPeer(peerIdFromString(firstPeer)), account.address)
    // The account key's own peer id is not the staker's node.
    assert.equal(peers.addressOfPeer(peerIdFromString(peerIdOfKey(account.publicKey))), undefined)
    setPeer(secondPeer)
    assert.equal(peers.peerOf(account.address).toString(), secondPeer)
    assert.equal(peers.addressOfPeer(peerIdFromString(firstPeer)), undefined, 'the old peer id names nobody')
    assert.equal(peers.addressOfPeer(peerIdFromString(secondPeer)), account.address)
    assert.throws(() => peers.peerOf(testKey('stranger').address), InvalidArgumentError)
  })
})
