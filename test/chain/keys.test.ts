import assert from 'node:assert/strict'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { publicKeyOfPeerId, signKeyProof, verifyKeyProof } from '../../src/chain/key-proofs.ts'
import { isPeerId, keyPairFromSeed, peerIdOfKey } from '../../src/chain/keys.ts'

describe('chain keys: peer ids', () => {
  it('peerIdOfKey gives the text libp2p gives for the same ed25519 key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const key = keyPairFromSeed(seed)
        const ours = peerIdOfKey(key.publicKey)
        assert.equal(ours, peerIdFromPublicKey(publicKeyFromRaw(key.publicKey)).toString())
        assert.ok(isPeerId(ours))
      }),
      { numRuns: 50 },
    )
  })

  it('isPeerId refuses what is not an ed25519 peer id', () => {
    const good = peerIdOfKey(keyPairFromSeed(new Uint8Array(32)).publicKey)
    for (const bad of [undefined, 7, '', good.slice(1), `${good}1`, good.replace(/.$/, '0'), `Qm${good.slice(2)}`])
      assert.equal(isPeerId(bad), false, String(bad))
  })
})

describe('chain keys: proofs of possession', () => {
  const account = keyPairFromSeed(new Uint8Array(32).fill(1)).address
  const seed = new Uint8Array(32).fill(2)
  const key = keyPairFromSeed(seed)

  it('a proof verifies for its kind, chain and account only', () => {
    const proof = signKeyProof('consensus', seed, 'r3mes-1', account)
    assert.ok(verifyKeyProof('consensus', key.publicKey, 'r3mes-1', account, proof))
    assert.equal(verifyKeyProof('peer', key.publicKey, 'r3mes-1', account, proof), false)
    assert.equal(verifyKeyProof('consensus', key.publicKey, 'r3mes-2', account, proof), false)
    assert.equal(verifyKeyProof('consensus', key.publicKey, 'r3mes-1', key.address, proof), false)
    assert.equal(verifyKeyProof('consensus', key.publicKey, 'r3mes-1', account, 'zz'), false)
  })

  it('a peer id proof is checked against the key inside the peer id', () => {
    const peerId = peerIdOfKey(key.publicKey)
    const inside = publicKeyOfPeerId(peerId)
    assert.deepEqual(inside, key.publicKey)
    assert.ok(
      verifyKeyProof('peer', inside as Uint8Array, 'r3mes-1', account, signKeyProof('peer', seed, 'r3mes-1', account)),
    )
    assert.equal(publicKeyOfPeerId('QmNotAnEd25519PeerId'), undefined)
  })
})
