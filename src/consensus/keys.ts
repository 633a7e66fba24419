/**
 * Validator keys: a signer over a raw 32-byte ed25519 seed (codec/ed25519.ts, the same bytes as
 * @noble/curves), CometBFT-style addresses, and signature checks memoised for the core.
 */
import { toHex } from '../codec/bytes.ts'
import {
  ED25519_PUBLIC_KEY_SIZE_BYTES,
  ED25519_SIGNATURE_SIZE_BYTES,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
} from '../codec/ed25519.ts'
import { sha256 } from '../codec/hash.ts'
import { memoScope } from '../codec/memo-scope.ts'
import { vrfProve } from '../codec/vrf.ts'
import { assert } from '../runtime/assert.ts'
import { VERIFIED_SIGNATURE_MEMO_ENTRIES } from '../runtime/limits.ts'

export const SEED_SIZE_BYTES = 32
export const PUBLIC_KEY_SIZE_BYTES = ED25519_PUBLIC_KEY_SIZE_BYTES
export const SIGNATURE_SIZE_BYTES = ED25519_SIGNATURE_SIZE_BYTES
export const ADDRESS_SIZE_BYTES = 20

export interface Signer {
  readonly publicKey: Uint8Array
  readonly address: Uint8Array
  sign(message: Uint8Array): Uint8Array
  /** ECVRF proof (RFC 9381) over `alpha` with the same key: one proof, one output, per input. */
  proveVrf(alpha: Uint8Array): Uint8Array
}

/** A signer over a raw 32-byte seed. */
export function signerFromSeed(seed: Uint8Array): Signer {
  assert(seed.byteLength === SEED_SIZE_BYTES, 'ed25519 seed must be 32 bytes')
  const publicKey = ed25519PublicKey(seed)
  return {
    publicKey,
    address: addressOf(publicKey),
    sign: (message) => ed25519Sign(seed, message),
    proveVrf: (alpha) => vrfProve(seed, alpha),
  }
}

/** A validator's address: the first 20 bytes of SHA-256 of its public key (as CometBFT). */
export function addressOf(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey).subarray(0, ADDRESS_SIZE_BYTES)
}

/**
 * Memo of signatures already found valid. Verification is a pure function of (key, message,
 * signature), and the key of this set holds all three in full, so a hit can never accept
 * anything that verification would reject. Only successes are memoised; bounded.
 */
const verified = new Set<string>()

export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.byteLength !== PUBLIC_KEY_SIZE_BYTES || signature.byteLength !== SIGNATURE_SIZE_BYTES) return false
  const memoKey = `${memoScope()}${toHex(publicKey)}:${toHex(signature)}:${toHex(message)}`
  if (verified.has(memoKey)) return true
  const valid = ed25519Verify(publicKey, message, signature)
  if (valid) {
    if (verified.size >= VERIFIED_SIGNATURE_MEMO_ENTRIES) verified.clear()
    verified.add(memoKey)
  }
  return valid
}
