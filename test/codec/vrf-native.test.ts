/**
 * The native ECVRF (`vrf.ts`, libsodium) against the @noble/curves reference
 * (`vrf-reference.ts`): the same bytes and verdicts for random keys and inputs, and for every
 * hostile proof and key libsodium treats differently from RFC 8032 (torsion, small order,
 * the identity, non-canonical and undecodable encodings, zero scalars, wrong lengths).
 */
import assert from 'node:assert/strict'
import { ed25519 } from '@noble/curves/ed25519.js'
import fc from 'fast-check'
import { toHex } from '../../src/codec/bytes.ts'
import { addPoints, isCanonicalPoint } from '../../src/codec/edwards25519-native.ts'
import { sha512 } from '../../src/codec/hash.ts'
import { intToLe, leToInt } from '../../src/codec/little-endian.ts'
import { vrfOutput, vrfProofToHash, vrfProve, vrfVerifyUncached } from '../../src/codec/vrf.ts'
import {
  encodeToCurve,
  vrfOutputReference,
  vrfProofToHashReference,
  vrfProveReference,
  vrfVerifyReference,
} from '../../src/codec/vrf-reference.ts'

type Point = ReturnType<typeof ed25519.Point.fromBytes>
const Point = ed25519.Point
const Q = Point.Fn.ORDER
const P = Point.Fp.ORDER

const hexOf = (b: Uint8Array | undefined): string => (b === undefined ? 'undefined' : toHex(b))

/** A point of order 8 (RFC 8032's torsion), and all eight small-order points. */
const T8 = Point.fromBytes(Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex'))
const SMALL_ORDER = Array.from({ length: 8 }, (_, i) => T8.multiplyUnsafe(BigInt(i)))

/** Both implementations give the same verdict and beta for (publicKey, alpha, pi). */
function sameVerdict(publicKey: Uint8Array, alpha: Uint8Array, pi: Uint8Array, what: string): Uint8Array | undefined {
  const reference = vrfVerifyReference(publicKey, alpha, pi)
  assert.equal(hexOf(vrfVerifyUncached(publicKey, alpha, pi)), hexOf(reference), `verify: ${what}`)
  assert.equal(hexOf(vrfProofToHash(pi)), hexOf(vrfProofToHashReference(pi)), `proof to hash: ${what}`)
  return reference
}

function withBytes(pi: Uint8Array, offset: number, bytes: Uint8Array): Uint8Array {
  const out = pi.slice()
  out.set(bytes, offset)
  return out
}

/** y as a point encoding with the given sign bit (y < 2^255). */
function encodingOf(y: bigint, sign: 0 | 1): Uint8Array {
  const bytes = intToLe(y, 32)
  bytes[31] = (bytes[31] as number) | (sign << 7)
  return bytes
}

function challengeOf(points: Point[]): bigint {
  const parts = [Uint8Array.of(0x03, 0x02), ...points.map((p) => p.toBytes()), Uint8Array.of(0x00)]
  return leToInt(sha512(...parts).subarray(0, 16))
}

/**
 * A proof that verifies although its Gamma (and/or the public key) carries a torsion
 * component: with U = k·B − j·T_Y and V = k·H − j·T_Γ, it holds whenever the challenge
 * c ≡ j (mod 8), which one in eight tries of j gives.
 */
function torsionedProof(
  secretKey: Uint8Array,
  alpha: Uint8Array,
  keyTorsion: Point,
  gammaTorsion: Point,
): { publicKey: Uint8Array; pi: Uint8Array } {
  const ext = ed25519.utils.getExtendedPublicKey(secretKey)
  const y = ext.point.add(keyTorsion)
  const publicKey = y.toBytes()
  const h = encodeToCurve(publicKey, alpha)
  const gamma = h.multiply(ext.scalar).add(gammaTorsion)
  for (let k = 1000n; ; k++) {
    for (let j = 0n; j < 8n; j++) {
      const u = Point.BASE.multiply(k).subtract(keyTorsion.multiplyUnsafe(j))
      const v = h.multiply(k).subtract(gammaTorsion.multiplyUnsafe(j))
      const c = challengeOf([y, h, gamma, u, v])
      if (c % 8n !== j) continue
      const pi = new Uint8Array(80)
      pi.set(gamma.toBytes(), 0)
      pi.set(intToLe(c, 16), 32)
      pi.set(intToLe((k + c * ext.scalar) % Q, 32), 48)
      return { publicKey, pi }
    }
  }
}

const SK = sha512('r3mes/test/vrf-native/key').subarray(0, 32)
const ALPHA = Buffer.from('r3mes/test/vrf-native/alpha')

describe('codec/vrf: the native ECVRF gives the reference’s bytes and verdicts', () => {
  it('prove, output and verify agree with the reference over random keys and inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 80 }), (sk, alpha) => {
        const pi = vrfProve(sk, alpha)
        assert.equal(toHex(pi), toHex(vrfProveReference(sk, alpha)))
        const beta = vrfOutput(sk, alpha)
        assert.equal(toHex(beta), toHex(vrfOutputReference(sk, alpha)))
        const publicKey = ed25519.getPublicKey(sk)
        assert.equal(hexOf(sameVerdict(publicKey, alpha, pi, 'honest')), toHex(beta))
      }),
      { numRuns: 60 },
    )
  })

  it('agrees on proofs with random octets changed, and on random proofs and keys', () => {
    const publicKey = ed25519.getPublicKey(SK)
    const pi = vrfProve(SK, ALPHA)
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 79 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          const bad = pi.slice()
          for (const [at, value] of edits) bad[at] = value
          sameVerdict(publicKey, ALPHA, bad, `edits ${JSON.stringify(edits)}`)
        },
      ),
      { numRuns: 150 },
    )
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 80, maxLength: 80 }),
        (key, proof) => {
          sameVerdict(key, ALPHA, proof, 'random')
        },
      ),
      { numRuns: 60 },
    )
  })

  it('refuses a tampered c, s ≥ q, a tampered s, c = 0 and s = 0, as the reference does', () => {
    const publicKey = ed25519.getPublicKey(SK)
    const pi = vrfProve(SK, ALPHA)
    const c = leToInt(pi.subarray(32, 48))
    const s = leToInt(pi.subarray(48, 80))
    const cases: [string, Uint8Array][] = [
      ['c + 1', withBytes(pi, 32, intToLe((c + 1n) % 2n ** 128n, 16))],
      ['c = 0', withBytes(pi, 32, new Uint8Array(16))],
      ['s + q', withBytes(pi, 48, intToLe(s + Q, 32))],
      ['s = q', withBytes(pi, 48, intToLe(Q, 32))],
      ['s = 2^256 − 1', withBytes(pi, 48, new Uint8Array(32).fill(0xff))],
      ['s + 1', withBytes(pi, 48, intToLe((s + 1n) % Q, 32))],
      ['s = 0', withBytes(pi, 48, new Uint8Array(32))],
    ]
    for (const [what, bad] of cases) assert.equal(sameVerdict(publicKey, ALPHA, bad, what), undefined, what)
    assert.notEqual(sameVerdict(publicKey, ALPHA, pi, 'untouched'), undefined)
  })

  it('agrees when Gamma is of small order, the identity, torsioned, non-canonical or undecodable', () => {
    const publicKey = ed25519.getPublicKey(SK)
    const pi = vrfProve(SK, ALPHA)
    const gamma = Point.fromBytes(pi.subarray(0, 32))
    for (const [i, t] of SMALL_ORDER.entries()) {
      assert.equal(sameVerdict(publicKey, ALPHA, withBytes(pi, 0, t.toBytes()), `small order ${i}`), undefined)
      if (i > 0) {
        const torsioned = gamma.add(t).toBytes()
        assert.equal(sameVerdict(publicKey, ALPHA, withBytes(pi, 0, torsioned), `Gamma + ${i}·T8`), undefined)
      }
    }
    // x = 0 with the sign bit set (y = 1, y = p − 1), and y ≥ p (y + p for small y that decode).
    const hostile = [encodingOf(1n, 1), encodingOf(P - 1n, 1), encodingOf(P, 0), encodingOf(2n ** 255n - 1n, 1)]
    for (let y = 0n; y < 19n; y++) hostile.push(encodingOf(y + P, 0), encodingOf(y + P, 1))
    // Canonical y that do not decode (no square root).
    for (let y = 2n; hostile.length < 48; y++) {
      const bytes = encodingOf(y, 0)
      if (addPoints(bytes, bytes) === undefined) hostile.push(bytes)
    }
    for (const bytes of hostile) {
      assert.equal(sameVerdict(publicKey, ALPHA, withBytes(pi, 0, bytes), `Gamma ${toHex(bytes)}`), undefined)
    }
  })

  it('accepts, as the reference does, valid proofs whose Gamma or key has a torsion component', () => {
    const honest = vrfOutput(SK, ALPHA)
    const gammaOnly = torsionedProof(SK, ALPHA, Point.ZERO, T8)
    assert.equal(hexOf(sameVerdict(gammaOnly.publicKey, ALPHA, gammaOnly.pi, 'torsioned Gamma')), toHex(honest))
    for (const [what, keyTorsion, gammaTorsion] of [
      ['torsioned key', T8.multiplyUnsafe(3n), Point.ZERO],
      ['both torsioned', T8, T8.multiplyUnsafe(5n)],
      ['key + order-2 point', SMALL_ORDER[4] as Point, Point.ZERO],
    ] as const) {
      const forged = torsionedProof(SK, ALPHA, keyTorsion, gammaTorsion)
      assert.notEqual(sameVerdict(forged.publicKey, ALPHA, forged.pi, what), undefined, what)
    }
  })

  it('refuses small-order, non-canonical, undecodable and wrong-length keys, and wrong-length proofs', () => {
    const pi = vrfProve(SK, ALPHA)
    const publicKey = ed25519.getPublicKey(SK)
    for (const [i, t] of SMALL_ORDER.entries()) {
      assert.equal(sameVerdict(t.toBytes(), ALPHA, pi, `small-order key ${i}`), undefined)
    }
    const keys = [encodingOf(1n, 1), encodingOf(P - 1n, 1), encodingOf(P + 1n, 0), encodingOf(P + 3n, 1)]
    for (let y = 2n; keys.length < 12; y++) {
      const bytes = encodingOf(y, 1)
      if (addPoints(bytes, bytes) === undefined) keys.push(bytes)
    }
    for (const key of keys) assert.equal(sameVerdict(key, ALPHA, pi, `key ${toHex(key)}`), undefined)
    for (const key of [publicKey.subarray(0, 31), new Uint8Array([...publicKey, 0]), new Uint8Array(0)]) {
      assert.equal(sameVerdict(key, ALPHA, pi, `key of ${key.length} octets`), undefined)
    }
    for (const proof of [pi.subarray(0, 79), new Uint8Array([...pi, 0]), new Uint8Array(0)]) {
      assert.equal(sameVerdict(publicKey, ALPHA, proof, `proof of ${proof.length} octets`), undefined)
    }
  })

  it('checks point encodings exactly as RFC 8032 strict decoding does', () => {
    const strict = (bytes: Uint8Array): boolean => {
      try {
        Point.fromBytes(bytes, false)
        return true
      } catch {
        return false
      }
    }
    const edges: Uint8Array[] = []
    for (let d = 0n; d < 40n; d++) {
      for (const sign of [0, 1] as const) edges.push(encodingOf(d, sign), encodingOf(2n ** 255n - 1n - d, sign))
    }
    for (const t of SMALL_ORDER) edges.push(t.toBytes())
    const random = fc.sample(fc.uint8Array({ minLength: 32, maxLength: 32 }), { numRuns: 300, seed: 7 })
    let accepted = 0
    for (const bytes of [...edges, ...random]) {
      const native = isCanonicalPoint(bytes) && addPoints(bytes, bytes) !== undefined
      assert.equal(native, strict(bytes), toHex(bytes))
      if (native) accepted++
    }
    assert.ok(accepted > 100, `${accepted} encodings accepted: both answers were exercised`)
  })
})
