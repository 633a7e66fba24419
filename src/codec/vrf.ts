/**
 * ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381 §5, suite 0x03) on @noble/curves. It lives in the
 * codec because both the consensus core (the beacon in every block header) and the chain (the
 * verifier draw) use it.
 *
 * A VRF output (beta) is a hash only the key holder can compute but anyone can check against
 * the public key (the proof, pi). Uniqueness means the prover cannot choose among outputs, so
 * randomness taken from beta cannot be ground. Keys are ed25519 keys (RFC 8032 §5.1.5): the
 * same 32-byte seeds that sign transactions.
 *
 * Checked against every ed25519 TAI example of RFC 9381 Appendix B.3 (test/codec/vrf.test.ts).
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import { assert } from '../runtime/assert.ts'
import { BoundedMemo } from '../runtime/bounded-memo.ts'
import { VRF_VERIFY_CACHE_ENTRIES } from '../runtime/limits.ts'
import { toHex } from './bytes.ts'
import { sha256, sha512 } from './hash.ts'

type Point = ReturnType<typeof ed25519.Point.fromBytes>
const Point = ed25519.Point
/** The prime order q of the ed25519 base point. */
const Q = Point.Fn.ORDER
const SUITE = 0x03
const COFACTOR = 8n
const C_LEN = 16
export const PROOF_BYTES = 80
export const OUTPUT_BYTES = 64

/** string_to_int: little-endian. */
export function leToInt(bytes: Uint8Array): bigint {
  let x = 0n
  for (let i = bytes.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(bytes[i] as number)
  return x
}

export function intToLe(x: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) {
    out[i] = Number(x & 0xffn)
    x >>= 8n
  }
  return out
}

/** RFC 8032 decoding, strict (non-canonical y rejected); undefined for "INVALID". */
function stringToPoint(bytes: Uint8Array): Point | undefined {
  try {
    return Point.fromBytes(bytes, false)
  } catch {
    return undefined
  }
}

/** RFC 9381 §5.4.1.1 ECVRF_encode_to_curve_try_and_increment, salt = the public key's bytes. */
export function encodeToCurve(publicKey: Uint8Array, alpha: Uint8Array): Point {
  for (let ctr = 0; ctr < 256; ctr++) {
    const hash = sha512(Uint8Array.of(SUITE, 0x01), publicKey, alpha, Uint8Array.of(ctr, 0x00))
    const candidate = stringToPoint(hash.subarray(0, 32))
    if (candidate !== undefined) {
      const h = candidate.multiplyUnsafe(COFACTOR)
      if (!h.is0()) return h
    }
  }
  // Each try succeeds with probability ~1/2; 256 failures do not happen.
  throw new Error('ECVRF encode_to_curve failed 256 times')
}

/** RFC 9381 §5.4.3 ECVRF_challenge_generation: first 16 bytes of the hash, little-endian. */
function challenge(points: Point[]): bigint {
  const parts = [Uint8Array.of(SUITE, 0x02), ...points.map((p) => p.toBytes()), Uint8Array.of(0x00)]
  return leToInt(sha512(...parts).subarray(0, C_LEN))
}

interface Expanded {
  readonly x: bigint
  readonly prefix: Uint8Array
  readonly publicKey: Uint8Array
}

/**
 * Expanded keys by the key object (not its bytes): a verifier evaluates its ticket for every
 * draw, and expanding costs a hash and a base-point multiplication each time. Held only as long
 * as the key object itself.
 */
const expandedKeys = new WeakMap<Uint8Array, Expanded>()

function expand(secretKey: Uint8Array): Expanded {
  assert(secretKey.length === 32, 'VRF secret key must be 32 bytes')
  const known = expandedKeys.get(secretKey)
  if (known !== undefined) return known
  const ext = ed25519.utils.getExtendedPublicKey(secretKey)
  const expanded = { x: ext.scalar, prefix: ext.prefix, publicKey: ext.pointBytes }
  expandedKeys.set(secretKey, expanded)
  return expanded
}

/** ECVRF_prove (RFC 9381 §5.1): pi = Gamma ‖ c (16 bytes) ‖ s (32 bytes). */
export function vrfProve(secretKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  const { x, prefix, publicKey } = expand(secretKey)
  const h = encodeToCurve(publicKey, alpha)
  const hBytes = h.toBytes()
  const gamma = h.multiply(x)
  // §5.4.2.2 nonce: SHA-512(second half of SHA-512(SK) ‖ H) mod q.
  const k = leToInt(sha512(prefix, hBytes)) % Q
  const c = challenge([Point.fromBytes(publicKey), h, gamma, Point.BASE.multiply(k), h.multiply(k)])
  const s = (k + c * x) % Q
  const pi = new Uint8Array(PROOF_BYTES)
  pi.set(gamma.toBytes(), 0)
  pi.set(intToLe(c, C_LEN), 32)
  pi.set(intToLe(s, 32), 48)
  return pi
}

/**
 * The VRF output (beta) of `alpha`, without a proof: equal to `vrfProofToHash(vrfProve(…))`
 * at a fraction of the cost (one scalar multiplication and no point decodings, where proving
 * takes three multiplications and five encodings). A verifier evaluates its ticket for every
 * draw it is eligible for and proves only the few that select it.
 */
export function vrfOutput(secretKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  const { x, publicKey } = expand(secretKey)
  const gamma = encodeToCurve(publicKey, alpha).multiply(x)
  return sha512(Uint8Array.of(SUITE, 0x03), gamma.multiplyUnsafe(COFACTOR).toBytes(), Uint8Array.of(0x00))
}

interface DecodedProof {
  readonly gamma: Point
  readonly c: bigint
  readonly s: bigint
}

function decodeProof(pi: Uint8Array): DecodedProof | undefined {
  if (pi.length !== PROOF_BYTES) return undefined
  const gamma = stringToPoint(pi.subarray(0, 32))
  if (gamma === undefined) return undefined
  const s = leToInt(pi.subarray(48, 80))
  if (s >= Q) return undefined
  return { gamma, c: leToInt(pi.subarray(32, 48)), s }
}

/** ECVRF_proof_to_hash (RFC 9381 §5.2); undefined when pi does not decode. */
export function vrfProofToHash(pi: Uint8Array): Uint8Array | undefined {
  const d = decodeProof(pi)
  if (d === undefined) return undefined
  return sha512(Uint8Array.of(SUITE, 0x03), d.gamma.multiplyUnsafe(COFACTOR).toBytes(), Uint8Array.of(0x00))
}

/**
 * Verification results (beta, or null for a refused proof) by public key, alpha digest and
 * proof: every validator checks each block's beacon and the chain checks each verifier's draw,
 * and one verification costs several scalar multiplications.
 */
const verified = new BoundedMemo<string, Uint8Array | null>(VRF_VERIFY_CACHE_ENTRIES)

/**
 * ECVRF_verify (RFC 9381 §5.3) with validate_key = TRUE: the beta for (publicKey, alpha), or
 * undefined when the proof is invalid or the key is of small order. Results are remembered
 * (bounded); each call gets its own copy of beta.
 */
export function vrfVerify(publicKey: Uint8Array, alpha: Uint8Array, pi: Uint8Array): Uint8Array | undefined {
  const key = `${toHex(publicKey)}:${toHex(sha256(alpha))}:${toHex(pi)}`
  const beta = verified.getOrCompute(key, () => vrfVerifyUncached(publicKey, alpha, pi) ?? null)
  return beta === null ? undefined : beta.slice()
}

/** How many VRF verification results are remembered (never above VRF_VERIFY_CACHE_ENTRIES). */
export function vrfVerifyCacheSize(): number {
  return verified.size
}

/** vrfVerify without the result cache (the reference the cache is tested against). */
export function vrfVerifyUncached(publicKey: Uint8Array, alpha: Uint8Array, pi: Uint8Array): Uint8Array | undefined {
  if (publicKey.length !== 32) return undefined
  const y = stringToPoint(publicKey)
  if (y === undefined || y.isSmallOrder()) return undefined
  const d = decodeProof(pi)
  if (d === undefined) return undefined
  const h = encodeToCurve(publicKey, alpha)
  const u = Point.BASE.multiplyUnsafe(d.s).subtract(y.multiplyUnsafe(d.c))
  const v = h.multiplyUnsafe(d.s).subtract(d.gamma.multiplyUnsafe(d.c))
  if (challenge([y, h, d.gamma, u, v]) !== d.c) return undefined
  return vrfProofToHash(pi)
}
