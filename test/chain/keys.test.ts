import assert from 'node:assert/strict'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import fc from 'fast-check'
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
