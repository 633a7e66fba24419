/**
 * Edwards25519 point and scalar arithmetic on libsodium (sodium-native), on 32-byte encodings,
 * for the ECVRF in `vrf.ts`.
 *
 * libsodium's checks differ from RFC 8032's strict decoding, in both directions, so each
 * operation states what it accepts and answers undefined where libsodium refuses:
 * - `crypto_core_ed25519_add`/`_sub` decode both inputs onto the curve and nothing more: they
 *   take points with a torsion component, of small order, the identity, and also non-canonical
 *   encodings (y ≥ p, or x = 0 with the sign bit set), which RFC 8032 rejects. Callers check
 *   `isCanonicalPoint` first.
 * - `crypto_scalarmult_ed25519_noclamp` refuses a point that is non-canonical, of small order or
 *   outside the prime-order subgroup, a zero scalar, and an identity result.
 * - `crypto_scalarmult_ed25519_base_noclamp` refuses a zero scalar and an identity result
 *   (a scalar that is a multiple of q).
 * Every result is a canonical encoding (the identity is 01 00…00), as @noble/curves writes it.
 */
import sodium from 'sodium-native'

/** A Buffer over the same memory (the bindings' types ask for Buffers; no copy). */
function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export const POINT_BYTES = 32
export const SCALAR_BYTES = 32

/** p = 2^255 − 19, the last octet without the sign bit. */
const P_TOP = 0x7f
const P_LOW = 0xed

/**
 * Whether `bytes` is a strict RFC 8032 encoding, leaving aside whether it decodes: y < p, and
 * not x = 0 with the sign bit set (x = 0 exactly when y = 1 or y = p − 1).
 */
export function isCanonicalPoint(bytes: Uint8Array): boolean {
  if (bytes.length !== POINT_BYTES) return false
  const top = (bytes[31] as number) & 0x7f
  const sign = (bytes[31] as number) >> 7
  let middleAllOnes = true
  let middleAllZeros = true
  for (let i = 1; i < 31; i++) {
    const b = bytes[i] as number
    if (b !== 0xff) middleAllOnes = false
    if (b !== 0) middleAllZeros = false
  }
  const low = bytes[0] as number
  if (top === P_TOP && middleAllOnes) {
    if (low >= P_LOW) return false // y ≥ p
    if (low === P_LOW - 1 && sign === 1) return false // y = p − 1, x = 0, sign set
  }
  if (top === 0 && middleAllZeros && low === 1 && sign === 1) return false // y = 1, x = 0, sign set
  return true
}

/** The encoding of the identity (0, 1). */
export const IDENTITY: Uint8Array = (() => {
  const bytes = new Uint8Array(POINT_BYTES)
  bytes[0] = 1
  return bytes
})()

export function isIdentity(bytes: Uint8Array): boolean {
  if (bytes[0] !== 1) return false
  for (let i = 1; i < POINT_BYTES; i++) if (bytes[i] !== 0) return false
  return true
}

/** The point one libsodium call writes, or undefined when libsodium refuses (sodium-native throws). */
function pointFrom(call: (out: Buffer) => void): Uint8Array | undefined {
  const r = new Uint8Array(POINT_BYTES)
  try {
    call(view(r))
  } catch {
    return undefined
  }
  return r
}

/** p + q for any two encodings that decode onto the curve; undefined when one does not. */
export function addPoints(p: Uint8Array, q: Uint8Array): Uint8Array | undefined {
  return pointFrom((r) => sodium.crypto_core_ed25519_add(r, view(p), view(q)))
}

/** p − q, on the same terms as `addPoints`. */
export function subtractPoints(p: Uint8Array, q: Uint8Array): Uint8Array | undefined {
  return pointFrom((r) => sodium.crypto_core_ed25519_sub(r, view(p), view(q)))
}

/**
 * 8·p by three doublings, for any point that decodes (torsion and small order included, which
 * libsodium's multiplication refuses); undefined when p does not decode.
 */
export function timesCofactor(p: Uint8Array): Uint8Array | undefined {
  const twice = addPoints(p, p)
  if (twice === undefined) return undefined
  const fourTimes = addPoints(twice, twice) as Uint8Array
  return addPoints(fourTimes, fourTimes)
}

/** n·p for a reduced scalar n and a point of the prime-order subgroup; undefined on refusal. */
export function multiply(n: Uint8Array, p: Uint8Array): Uint8Array | undefined {
  return pointFrom((r) => sodium.crypto_scalarmult_ed25519_noclamp(r, view(n), view(p)))
}

/** n·B for a reduced scalar n; undefined on refusal (n ≡ 0). */
export function multiplyBase(n: Uint8Array): Uint8Array | undefined {
  return pointFrom((r) => sodium.crypto_scalarmult_ed25519_base_noclamp(r, view(n)))
}

/** A 64-octet little-endian integer reduced modulo q. */
export function reduceWide(wide: Uint8Array): Uint8Array {
  const r = new Uint8Array(SCALAR_BYTES)
  sodium.crypto_core_ed25519_scalar_reduce(view(r), view(wide))
  return r
}

/** The ed25519 group order q = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const Q_LE = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0x10,
])

/** Whether a 32-octet little-endian scalar is below q (RFC 8032's canonical s). */
export function isReducedScalar(s: Uint8Array): boolean {
  for (let i = SCALAR_BYTES - 1; i >= 0; i--) {
    const a = s[i] as number
    const b = Q_LE[i] as number
    if (a !== b) return a < b
  }
  return false
}
