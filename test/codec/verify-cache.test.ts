/**
 * The verification caches of src/codec: a cached answer is the answer verifying gives, for
 * valid and invalid inputs alike, and no cache outgrows its bound.
 */
import assert from 'node:assert/strict'
import { isCanonicalCid } from '../../src/codec/cid.ts'
import {
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  ed25519VerifyCacheSize,
  ed25519VerifyIsMemoized,
  ed25519VerifyUncached,
} from '../../src/codec/ed25519.ts'
import { inMemoScope } from '../../src/codec/memo-scope.ts'
import { vrfProve, vrfVerify, vrfVerifyCacheSize, vrfVerifyUncached } from '../../src/codec/vrf.ts'
import { BoundedMemo } from '../../src/runtime/bounded-memo.ts'
import { ED25519_VERIFY_CACHE_ENTRIES, VRF_VERIFY_CACHE_ENTRIES } from '../../src/runtime/limits.ts'

const seedOf = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const flip = (bytes: Uint8Array, at: number): Uint8Array => {
  const out = bytes.slice()
  out[at] = (out[at] as number) ^ 1
  return out
}

describe('codec verification caches', () => {
  describe('ed25519', () => {
    const seed = seedOf(7)
    const key = ed25519PublicKey(seed)
    const other = ed25519PublicKey(seedOf(8))
    const message = new TextEncoder().encode('a transaction')
    const signature = ed25519Sign(seed, message)
    const cases: [string, Uint8Array, Uint8Array, Uint8Array, boolean][] = [
      ['valid', key, message, signature, true],
      ['tampered message', key, flip(message, 0), signature, false],
      ['tampered signature', key, message, flip(signature, 5), false],
      ['wrong key', other, message, signature, false],
      ['short signature', key, message, signature.subarray(0, 63), false],
    ]
    for (const [name, k, m, s, expected] of cases)
      it(`answers as verifying does, cached or not: ${name}`, () => {
        assert.equal(ed25519VerifyUncached(k, m, s), expected)
        assert.equal(ed25519Verify(k, m, s), expected, 'first call (a miss)')
        assert.equal(ed25519Verify(k, m, s), expected, 'second call (a hit)')
      })

    it('a valid entry does not answer for a message with the same signature', () => {
      assert.equal(ed25519Verify(key, message, signature), true)
      assert.equal(ed25519Verify(key, new TextEncoder().encode('a transaction!'), signature), false)
    })

    it('stays within its bound however many distinct signatures it sees', function () {
      this.timeout(120_000)
      const junk = new Uint8Array(64)
      for (let i = 0; i < ED25519_VERIFY_CACHE_ENTRIES + 100; i++) {
        new DataView(junk.buffer).setUint32(0, i)
        ed25519Verify(key, message, junk)
      }
      assert.equal(ed25519VerifyCacheSize(), ED25519_VERIFY_CACHE_ENTRIES)
      // An evicted valid entry just verifies again.
      assert.equal(ed25519Verify(key, message, signature), true)
    })
  })

  describe('ECVRF', () => {
    const seed = seedOf(9)
    const key = ed25519PublicKey(seed)
    const alpha = new TextEncoder().encode('previous beacon')
    const proof = vrfProve(seed, alpha)
    const cases: [string, Uint8Array, Uint8Array, Uint8Array][] = [
      ['valid', key, alpha, proof],
      ['tampered alpha', key, flip(alpha, 0), proof],
      ['tampered proof', key, alpha, flip(proof, 40)],
      ['wrong key', ed25519PublicKey(seedOf(10)), alpha, proof],
    ]
    for (const [name, k, a, p] of cases)
      it(`answers as verifying does, cached or not: ${name}`, () => {
        const expected = vrfVerifyUncached(k, a, p)
        assert.equal(expected !== undefined, name === 'valid')
        assert.deepEqual(vrfVerify(k, a, p), expected, 'first call (a miss)')
        assert.deepEqual(vrfVerify(k, a, p), expected, 'second call (a hit)')
      })

    it('hands each caller its own copy of the output', () => {
      const first = vrfVerify(key, alpha, proof) as Uint8Array
      first.fill(0)
      assert.deepEqual(vrfVerify(key, alpha, proof), vrfVerifyUncached(key, alpha, proof))
    })

    it('stays within its bound', function () {
      this.timeout(120_000)
      // Proofs that fail to decode are the cheap junk an attacker would send.
      const junk = new Uint8Array(80).fill(0xff)
      for (let i = 0; i < VRF_VERIFY_CACHE_ENTRIES + 10; i++) {
        new DataView(junk.buffer).setUint32(0, i)
        vrfVerify(key, alpha, junk)
      }
      assert.equal(vrfVerifyCacheSize(), VRF_VERIFY_CACHE_ENTRIES)
    })
  })

  it('CIDs: only canonical strings pass, cached or not', () => {
    const cid = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
    for (let i = 0; i < 2; i++) {
      assert.equal(isCanonicalCid(cid), true)
      assert.equal(isCanonicalCid(cid.toUpperCase()), false)
      assert.equal(isCanonicalCid('not a cid'), false)
      assert.equal(isCanonicalCid(42), false)
    }
  })

  it('BoundedMemo drops its oldest entry when full and remembers undefined results', () => {
    const memo = new BoundedMemo<number, number | undefined>(3)
    let computed = 0
    const get = (k: number) =>
      memo.getOrCompute(k, () => {
        computed++
        return k === 0 ? undefined : k * 10
      })
    assert.equal(get(0), undefined)
    assert.equal(get(0), undefined)
    assert.equal(computed, 1)
    get(1)
    get(2)
    get(3)
    assert.equal(memo.size, 3)
    assert.equal(memo.get(0), undefined)
    get(0)
    assert.equal(computed, 5, 'the oldest entry (0) was dropped, so it is computed again')
    assert.throws(() => new BoundedMemo(0), /positive integer/)
  })

  it('a memo scope keeps its own verifications: each scope verifies for itself, and answers as verifying does', () => {
    const seed = seedOf(21)
    const key = ed25519PublicKey(seed)
    const message = new TextEncoder().encode('scoped')
    const signature = ed25519Sign(seed, message)
    const memoized = () => ed25519VerifyIsMemoized(key, message, signature)
    assert.equal(ed25519Verify(key, message, signature), true)
    assert.equal(memoized(), true)
    inMemoScope('node-a', () => {
      assert.equal(memoized(), false, 'another scope has not verified it')
      assert.equal(ed25519Verify(key, message, signature), true)
      assert.equal(ed25519Verify(key, message, flip(signature, 3)), false)
      assert.equal(memoized(), true)
    })
    inMemoScope('node-b', () => assert.equal(memoized(), false))
    inMemoScope('node-a', () => assert.equal(memoized(), true, 'the same scope remembers'))
    assert.equal(memoized(), true)
  })
})
