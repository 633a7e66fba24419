/**
 * Validator keys: a signer over a raw 32-byte ed25519 seed (codec/ed25519.ts, the same bytes as
 * @noble/curves), CometBFT-style addresses, and signature checks (remembered by codec/ed25519.ts).
 */
import {
  ED25519_PUBLIC_KEY_SIZE_BYTES,
  ED25519_SIGNATURE_SIZE_BYTES,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
} from '../codec/ed25519.ts'
import { sha256 } from '../codec/hash.ts'
import { vrfProve } from '../codec/vrf.ts'
import { assert } from '../runtime/assert.ts'

export const SEED_SIZE_BYTES = 32
export const PUBLIC_KEY_SIZE_BYTES = ED25519_PUBLIC_KEY_SIZE_BYTES
export const SIGNATURE_SIZE_BYTES = ED25519_SIGNATURE_SIZE_BYTES
export const ADDRESS_SIZE_BYTES = 20

export interface Signer {
  readonly publicKey: Uint8Array
  readonly address: Uint8Array
  /** `publicKey`'s valid signature of `message` (the privval takes its own signatures as valid unchecked). */
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
 * Whether `signature` is `publicKey`'s over `message`. Results are remembered by `ed25519Verify`
 * (codec/ed25519.ts), so a vote checked at admission is not verified again by the core.
 */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.byteLength !== PUBLIC_KEY_SIZE_BYTES || signature.byteLength !== SIGNATURE_SIZE_BYTES) return false
  return ed25519Verify(publicKey, message, signature)
}
