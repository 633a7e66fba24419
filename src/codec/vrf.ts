/**
 * ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381 §5, suite 0x03) on libsodium's native point
 * arithmetic. It lives in the codec because both the consensus core (the beacon in every block
 * header) and the chain (the verifier draw) use it.
 *
 * A VRF output (beta) is a hash only the key holder can compute but anyone can check against
 * the public key (the proof, pi). Uniqueness means the prover cannot choose among outputs, so
 * randomness taken from beta cannot be ground. Keys are ed25519 keys (RFC 8032 §5.1.5): the
 * same 32-byte seeds that sign transactions.
 *
 * Every function gives the bytes and verdicts of the @noble/curves reference in
 * `vrf-reference.ts` for every input, hostile proofs and keys included: encodings are checked
 * for RFC 8032 canonicity here (libsodium's addition takes non-canonical ones), and wherever
 * libsodium refuses an operation (a point of small order or outside the prime-order subgroup,
 * a zero scalar, an identity result: never for an honest key and proof) the call is handed to
 * the reference whole. Checked against RFC 9381 Appendix B.3 and against the reference over
 * random and hostile inputs (test/codec/vrf.test.ts, test/codec/vrf-native.test.ts).
 */
import { assert } from '../runtime/assert.ts'
import { BoundedMemo } from '../runtime/bounded-memo.ts'
import { VRF_VERIFY_CACHE_ENTRIES } from '../runtime/limits.ts'
import { toHex } from './bytes.ts'
import {
  isCanonicalPoint,
  isIdentity,
  isReducedScalar,
  multiply,
  multiplyBase,
  reduceWide,
  SCALAR_BYTES,
  subtractPoints,
  timesCofactor,
} from './edwards25519-native.ts'
import { sha256, sha512 } from './hash.ts'
import { intToLe, leToInt } from './little-endian.ts'
import { memoScope } from './memo-scope.ts'
import {
  CHALLENGE_BYTES,
  GROUP_ORDER,
  PROOF_BYTES,
  SUITE,
  vrfOutputReference,
  vrfProofToHashReference,
  vrfProveReference,
  vrfVerifyReference,
} from './vrf-reference.ts'

export { OUTPUT_BYTES, PROOF_BYTES } from './vrf-reference.ts'

const ENCODE_PREFIX = Uint8Array.of(SUITE, 0x01)
const CHALLENGE_PREFIX = Uint8Array.of(SUITE, 0x02)
const OUTPUT_PREFIX = Uint8Array.of(SUITE, 0x03)
const ZERO = Uint8Array.of(0x00)

/**
 * RFC 9381 §5.4.1.1 ECVRF_encode_to_curve_try_and_increment as an encoding, or undefined after
 * 256 failed tries (which do not happen; the reference then throws). A candidate is taken when
 * it is a strict RFC 8032 encoding that decodes (the first doubling decodes it), whatever its
 * torsion, and its cofactor multiple is not the identity.
 */
function encodeToCurveBytes(publicKey: Uint8Array, alpha: Uint8Array): Uint8Array | undefined {
  for (let ctr = 0; ctr < 256; ctr++) {
    const candidate = sha512(ENCODE_PREFIX, publicKey, alpha, Uint8Array.of(ctr, 0x00)).subarray(0, 32)
    if (!isCanonicalPoint(candidate)) continue
    const h = timesCofactor(candidate)
    if (h !== undefined && !isIdentity(h)) return h
  }
  return undefined
}

/** RFC 9381 §5.4.3 ECVRF_challenge_generation: the first 16 octets of the hash. */
function challenge(y: Uint8Array, h: Uint8Array, gamma: Uint8Array, u: Uint8Array, v: Uint8Array): Uint8Array {
  return sha512(CHALLENGE_PREFIX, y, h, gamma, u, v, ZERO).subarray(0, CHALLENGE_BYTES)
}

/** RFC 9381 §5.2 from 8·Gamma: SHA-512(suite ‖ 0x03 ‖ encode(8·Gamma) ‖ 0x00). */
function betaOf(cofactorGamma: Uint8Array): Uint8Array {
  return sha512(OUTPUT_PREFIX, cofactorGamma, ZERO)
}

/** A 16-octet challenge as a 32-octet scalar. */
function widen(c: Uint8Array): Uint8Array {
  const scalar = new Uint8Array(SCALAR_BYTES)
  scalar.set(c)
  return scalar
}

interface Expanded {
  /** x = head mod q: head·P = x·P for every point P of the prime-order subgroup. */
  readonly x: bigint
  readonly xBytes: Uint8Array
  /** 8·x mod q, so that 8·Gamma = 8·x·H is one multiplication. */
  readonly eightX: Uint8Array
  readonly prefix: Uint8Array
  readonly publicKey: Uint8Array
}

/**
 * Expanded keys by the key object (not its bytes): a verifier evaluates its ticket for every
 * draw, and expanding costs a hash and a base-point multiplication each time. Held only as long
 * as the key object itself.
 */
const expandedKeys = new WeakMap<Uint8Array, Expanded | null>()

/** RFC 8032 §5.1.5 key expansion; undefined (the reference's business) if libsodium refuses. */
function expand(secretKey: Uint8Array): Expanded | undefined {
  assert(secretKey.length === 32, 'VRF secret key must be 32 bytes')
  const known = expandedKeys.get(secretKey)
  if (known !== undefined) return known ?? undefined
  const digest = sha512(secretKey)
  const head = new Uint8Array(64)
  head.set(digest.subarray(0, 32))
  head[0] = (head[0] as number) & 248
  head[31] = ((head[31] as number) & 127) | 64
  const xBytes = reduceWide(head)
  const x = leToInt(xBytes)
  const publicKey = multiplyBase(xBytes)
  const expanded =
    publicKey === undefined
      ? null
      : { x, xBytes, eightX: intToLe((8n * x) % GROUP_ORDER, SCALAR_BYTES), prefix: digest.slice(32), publicKey }
  expandedKeys.set(secretKey, expanded)
  return expanded ?? undefined
}

/** ECVRF_prove (RFC 9381 §5.1): pi = Gamma ‖ c (16 bytes) ‖ s (32 bytes). */
export function vrfProve(secretKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  const key = expand(secretKey)
  if (key === undefined) return vrfProveReference(secretKey, alpha)
  const h = encodeToCurveBytes(key.publicKey, alpha)
  if (h === undefined) return vrfProveReference(secretKey, alpha)
  // §5.4.2.2 nonce: SHA-512(second half of SHA-512(SK) ‖ H) mod q.
  const kBytes = reduceWide(sha512(key.prefix, h))
  const gamma = multiply(key.xBytes, h)
  const kB = multiplyBase(kBytes)
  const kH = multiply(kBytes, h)
  if (gamma === undefined || kB === undefined || kH === undefined) return vrfProveReference(secretKey, alpha)
  const c = challenge(key.publicKey, h, gamma, kB, kH)
  const s = (leToInt(kBytes) + leToInt(c) * key.x) % GROUP_ORDER
  const pi = new Uint8Array(PROOF_BYTES)
  pi.set(gamma, 0)
  pi.set(c, 32)
  pi.set(intToLe(s, SCALAR_BYTES), 48)
  return pi
}

/**
 * The VRF output (beta) of `alpha`, without a proof: equal to `vrfProofToHash(vrfProve(…))`
 * at a fraction of the cost (one scalar multiplication, 8·Gamma = (8·x mod q)·H, where proving
 * takes three). A verifier evaluates its ticket for every draw it is eligible for and proves
 * only the few that select it.
 */
export function vrfOutput(secretKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  const key = expand(secretKey)
  const h = key === undefined ? undefined : encodeToCurveBytes(key.publicKey, alpha)
  const cofactorGamma = key === undefined || h === undefined ? undefined : multiply(key.eightX, h)
  return cofactorGamma === undefined ? vrfOutputReference(secretKey, alpha) : betaOf(cofactorGamma)
}

/** ECVRF_proof_to_hash (RFC 9381 §5.2); undefined when pi does not decode. */
export function vrfProofToHash(pi: Uint8Array): Uint8Array | undefined {
  if (pi.length !== PROOF_BYTES) return undefined
  const gamma = pi.subarray(0, 32)
  if (!isCanonicalPoint(gamma) || !isReducedScalar(pi.subarray(48, 80))) return undefined
  const cofactorGamma = timesCofactor(gamma)
  return cofactorGamma === undefined ? vrfProofToHashReference(pi) : betaOf(cofactorGamma)
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
  const key = `${memoScope()}${toHex(publicKey)}:${toHex(sha256(alpha))}:${toHex(pi)}`
  const beta = verified.getOrCompute(key, () => vrfVerifyUncached(publicKey, alpha, pi) ?? null)
  return beta === null ? undefined : beta.slice()
}

/** How many VRF verification results are remembered (never above VRF_VERIFY_CACHE_ENTRIES). */
export function vrfVerifyCacheSize(): number {
  return verified.size
}

/** vrfVerify without the result cache (the reference the cache is tested against). */
export function vrfVerifyUncached(publicKey: Uint8Array, alpha: Uint8Array, pi: Uint8Array): Uint8Array | undefined {
  // What strict decoding rejects outright: the reference answers undefined for each.
  if (publicKey.length !== 32 || pi.length !== PROOF_BYTES) return undefined
  const gamma = pi.subarray(0, 32)
  const c = pi.subarray(32, 48)
  const s = pi.subarray(48, 80)
  if (!isCanonicalPoint(publicKey) || !isCanonicalPoint(gamma) || !isReducedScalar(s)) return undefined
  const h = encodeToCurveBytes(publicKey, alpha)
  if (h === undefined) return vrfVerifyReference(publicKey, alpha, pi)
  // libsodium's multiplication refuses a key or Gamma that does not decode, is of small order or
  // has a torsion component, and c = 0 or s = 0: all left to the reference.
  const cScalar = widen(c)
  const sB = multiplyBase(s)
  const cY = multiply(cScalar, publicKey)
  const sH = multiply(s, h)
  const cGamma = multiply(cScalar, gamma)
  if (sB === undefined || cY === undefined || sH === undefined || cGamma === undefined) {
    return vrfVerifyReference(publicKey, alpha, pi)
  }
  const u = subtractPoints(sB, cY)
  const v = subtractPoints(sH, cGamma)
  if (u === undefined || v === undefined) return vrfVerifyReference(publicKey, alpha, pi)
  if (toHex(challenge(publicKey, h, gamma, u, v)) !== toHex(c)) return undefined
  const cofactorGamma = timesCofactor(gamma)
  return cofactorGamma === undefined ? vrfVerifyReference(publicKey, alpha, pi) : betaOf(cofactorGamma)
}
