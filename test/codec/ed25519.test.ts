/**
 * ed25519.ts signs on libsodium and verifies on node:crypto: both must give RFC 8032's bytes
 * for every seed and message, the ones @noble/curves and OpenSSL give.
 */
import assert from 'node:assert/strict'
import { createPrivateKey, sign as nodeSign } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'
import fc from 'fast-check'
import { toHex } from '../../src/codec/bytes.ts'
import { ed25519PublicKey, ed25519Sign, ed25519VerifyUncached } from '../../src/codec/ed25519.ts'

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

function opensslSign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  return new Uint8Array(nodeSign(null, message, key))
}

describe('ed25519 (codec)', () => {
  it('signs and derives keys with the bytes of OpenSSL and @noble/curves, for any seed and message', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 300 }),
        (seed, message) => {
          const publicKey = ed25519PublicKey(seed)
          assert.equal(toHex(publicKey), toHex(ed25519.getPublicKey(seed)))
          const signature = ed25519Sign(seed, message)
          assert.equal(toHex(signature), toHex(opensslSign(seed, message)))
          assert.equal(toHex(signature), toHex(ed25519.sign(message, seed)))
          assert.ok(ed25519VerifyUncached(publicKey, message, signature))
        },
      ),
      { numRuns: 200 },
    )
  })

  it('signs a message that is a view into a larger buffer as just those bytes', () => {
    const seed = new Uint8Array(32).fill(7)
    const backing = Uint8Array.from({ length: 64 }, (_, i) => i)
    const view = backing.subarray(10, 30)
    assert.equal(toHex(ed25519Sign(seed, view)), toHex(opensslSign(seed, backing.slice(10, 30))))
  })
})
