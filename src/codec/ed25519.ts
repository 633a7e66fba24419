/**
 * ed25519 (RFC 8032) on native code, with raw keys: a 32-byte secret seed and a 32-byte public
 * key, the same bytes @noble/curves uses, so a key made here signs what noble verifies and the
 * reverse (the chain's VRF proves with the same seed). Verification is node:crypto's (OpenSSL),
 * which wants DER, so raw public keys are wrapped in the fixed SPKI prefix. Signing is
 * libsodium's (sodium-native): RFC 8032 signatures are deterministic, so the bytes are the ones
 * OpenSSL would give, in about half the time (its base-point multiplication reads precomputed
 * tables), and a validator signs two votes a height.
 */
import { createPublicKey, type KeyObject, verify as nodeVerify } from 'node:crypto'
import sodium from 'sodium-native'
import { assert } from '../runtime/assert.ts'
import { BoundedMemo } from '../runtime/bounded-memo.ts'
import { ED25519_PUBLIC_KEY_CACHE_ENTRIES, ED25519_VERIFY_CACHE_ENTRIES } from '../runtime/limits.ts'
import { toHex } from './bytes.ts'
import { sha256 } from './hash.ts'
import { memoScope } from './memo-scope.ts'

export const ED25519_SEED_SIZE_BYTES = 32
export const ED25519_PUBLIC_KEY_SIZE_BYTES = 32
export const ED25519_SIGNATURE_SIZE_BYTES = 64

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/**
 * libsodium's secret keys (seed ‖ public key) per seed array: deriving one costs a base-point
 * multiplication, as much as a signature.
 */
const secretKeys = new WeakMap<Uint8Array, Buffer>()
/** Parsed public keys by hex: a node verifies the same few hundred signers over and over. */
const publicKeys = new Map<string, KeyObject>()

/** A Buffer over the same memory (the bindings' types ask for Buffers; no copy). */
function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function secretKeyOf(seed: Uint8Array): Buffer {
  let key = secretKeys.get(seed)
  if (key === undefined) {
    assert(seed.byteLength === ED25519_SEED_SIZE_BYTES, 'an ed25519 seed is 32 bytes')
    key = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES)
    sodium.crypto_sign_seed_keypair(Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES), key, view(seed))
    secretKeys.set(seed, key)
  }
  return key
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = toHex(publicKey)
  let key = publicKeys.get(id)
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
    if (publicKeys.size >= ED25519_PUBLIC_KEY_CACHE_ENTRIES) publicKeys.clear()
    publicKeys.set(id, key)
  }
  return key
}

/** The public key of a 32-byte seed. */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  return new Uint8Array(secretKeyOf(seed).subarray(ED25519_SEED_SIZE_BYTES))
}

/** The 64-byte signature of `message` by the key of `seed`. */
export function ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  const signature = new Uint8Array(ED25519_SIGNATURE_SIZE_BYTES)
  sodium.crypto_sign_detached(view(signature), view(message), secretKeyOf(seed))
  return signature
}

/**
 * Verification results by the SHA-256 of public key, signature and message: a transaction is
 * verified at mempool admission, at every recheck while it waits and at execution, and hashing
 * its bytes costs far less than verifying. The digest stands for the three (finding two inputs
 * with one digest is breaking SHA-256), so a hit is the result verifying would give.
 */
const verified = new BoundedMemo<string, boolean>(ED25519_VERIFY_CACHE_ENTRIES)

/** Whether `signature` is `publicKey`'s over `message`; false for keys or signatures of the wrong size. */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.byteLength !== ED25519_PUBLIC_KEY_SIZE_BYTES || signature.byteLength !== ED25519_SIGNATURE_SIZE_BYTES)
    return false
  return verified.getOrCompute(memoKey(publicKey, message, signature), () =>
    ed25519VerifyUncached(publicKey, message, signature),
  )
}

/**
 * One SHA-256 over key, signature and message (the first two of fixed sizes, so the parts
 * cannot shift): a short key is cheaper to build, hash into the map and keep than the three
 * in hex.
 */
function memoKey(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): string {
  return `${memoScope()}${toHex(sha256(publicKey, signature, message))}`
}

/** Whether the memo holds the verdict for these inputs in the current memo scope (for tests). */
export function ed25519VerifyIsMemoized(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return verified.get(memoKey(publicKey, message, signature)) !== undefined
}

/** ed25519Verify without the result cache (the reference the cache is tested against). */
export function ed25519VerifyUncached(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.byteLength !== ED25519_PUBLIC_KEY_SIZE_BYTES || signature.byteLength !== ED25519_SIGNATURE_SIZE_BYTES)
    return false
  // OpenSSL parses any 32 bytes as a key (a non-point just fails verification), so nothing here throws.
  return nodeVerify(null, message, publicKeyObject(publicKey), signature)
}

/** How many verification results are remembered (never above ED25519_VERIFY_CACHE_ENTRIES). */
export function ed25519VerifyCacheSize(): number {
  return verified.size
}
