import assert from 'node:assert/strict'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { vrfOutput, vrfProofToHash, vrfProve } from '../../src/codec/vrf.ts'
import { vrfOutputX25519 } from '../../src/codec/vrf-output-x25519.ts'

describe('codec/vrf-output-x25519: beta by native X25519', () => {
  it('gives the bytes of vrfOutput and of the proof’s hash, over many keys and inputs', () => {
    for (let k = 0; k < 12; k++) {
      const secret = sha256(`r3mes/test/vrf-x25519/key/${k}`)
      for (let a = 0; a < 12; a++) {
        const alpha = sha256(`r3mes/test/vrf-x25519/alpha/${k}/${a}`).subarray(0, a + 1)
        const beta = toHex(vrfOutputX25519(secret, alpha))
        assert.equal(beta, toHex(vrfOutput(secret, alpha)))
        if (a === 0) assert.equal(beta, toHex(vrfProofToHash(vrfProve(secret, alpha)) as Uint8Array))
      }
    }
  })

  it('reproduces RFC 9381 B.3 example 16 (empty alpha)', () => {
    const sk = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')
    const expected = toHex(vrfProofToHash(vrfProve(sk, new Uint8Array(0))) as Uint8Array)
    assert.equal(toHex(vrfOutputX25519(sk, new Uint8Array(0))), expected)
  })
})
