/**
 * ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381 §5, suite 0x03) on @noble/curves' BigInt curve
 * arithmetic: the reference. `vrf.ts` computes the same bytes on libsodium's native point
 * arithmetic, many times faster, and hands every case it cannot settle exactly (a refusal of
 * libsodium, a degenerate point) to the functions here, so the reference decides every verdict.
 *
 * Checked against every ed25519 TAI example of RFC 9381 Appendix B.3 (test/codec/vrf.test.ts).
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import { assert } from '../runtime/assert.ts'
import { sha512 } from './hash.ts'
import { intToLe, leToInt } from './little-endian.ts'

type Point = ReturnType<typeof ed25519.Point.fromBytes>
const Point = ed25519.Point
/** The prime order q of the ed25519 base point. */
export const GROUP_ORDER = Point.Fn.ORDER
/** The suite string of ECVRF-EDWARDS25519-SHA512-TAI. */
export const SUITE = 0x03
const COFACTOR = 8n
/** Octets of the challenge c in a proof. */
export const CHALLENGE_BYTES = 16
export const PROOF_BYTES = 80
export const OUTPUT_BYTES = 64

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
  return leToInt(sha512(...parts).subarray(0, CHALLENGE_BYTES))
}

/** RFC 9381 §5.2: beta = SHA-512(suite ‖ 0x03 ‖ encode(8·Gamma) ‖ 0x00). */
function betaOf(gamma: Point): Uint8Array {
  return sha512(Uint8Array.of(SUITE, 0x03), gamma.multiplyUnsafe(COFACTOR).toBytes(), Uint8Array.of(0x00))
}

interface Expanded {
  readonly x: bigint
  readonly prefix: Uint8Array
  readonly publicKey: Uint8Array
}

function expand(secretKey: Uint8Array): Expanded {
  assert(secretKey.length === 32, 'VRF secret key must be 32 bytes')
  const ext = ed25519.utils.getExtendedPublicKey(secretKey)
  return { x: ext.scalar, prefix: ext.prefix, publicKey: ext.pointBytes }
}

/** ECVRF_prove (RFC 9381 §5.1): pi = Gamma ‖ c (16 bytes) ‖ s (32 bytes). */
export function vrfProveReference(secretKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  const { x, prefix, publicKey } = expand(secretKey)
  const h = encodeToCurve(publicKey, alpha)
  const hBytes = h.toBytes()
  const gamma = h.multiply(x)
  // §5.4.2.2 nonce: SHA-512(second half of SHA-512(SK) ‖ H) mod q.
  const k = leToInt(sha512(prefix, hBytes)) % GROUP_ORDER
  const c = challenge([Point.fromBytes(publicKey), h, gamma, Point.BASE.multiply(k), h.multiply(k)])
  const s = (k + c * x) % GROUP_ORDER
  const pi = new Uint8Array(PROOF_BYTES)
  pi.set(gamma.toBytes(), 0)
  pi.set(intToLe(c, CHALLENGE_BYTES), 32)
  pi.set(intToLe(s, 32), 48)
  return pi
}

/** The VRF output (beta) of `alpha` without a proof: `vrfProofToHash(vrfProve(…))`. */
export function vrfOutputReference(secretKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  const { x, publicKey } = expand(secretKey)
  return betaOf(encodeToCurve(publicKey, alpha).multiply(x))
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
  if (s >= GROUP_ORDER) return undefined
  return { gamma, c: leToInt(pi.subarray(32, 48)), s }
}

/** ECVRF_proof_to_hash (RFC 9381 §5.2); undefined when pi does not decode. */
export function vrfProofToHashReference(pi: Uint8Array): Uint8Array | undefined {
  const d = decodeProof(pi)
  return d === undefined ? undefined : betaOf(d.gamma)
}

/**
 * ECVRF_verify (RFC 9381 §5.3) with validate_key = TRUE: the beta for (publicKey, alpha), or
 * undefined when the proof is invalid or the key is of small order.
 */
export function vrfVerifyReference(publicKey: Uint8Array, alpha: Uint8Array, pi: Uint8Array): Uint8Array | undefined {
  if (publicKey.length !== 32) return undefined
  const y = stringToPoint(publicKey)
  if (y === undefined || y.isSmallOrder()) return undefined
  const d = decodeProof(pi)
  if (d === undefined) return undefined
  const h = encodeToCurve(publicKey, alpha)
  const u = Point.BASE.multiplyUnsafe(d.s).subtract(y.multiplyUnsafe(d.c))
  const v = h.multiplyUnsafe(d.s).subtract(d.gamma.multiplyUnsafe(d.c))
  if (challenge([y, h, d.gamma, u, v]) !== d.c) return undefined
  return betaOf(d.gamma)
}
