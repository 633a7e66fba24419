/**
 * ed25519 through node:crypto (native, fast) with raw 32-byte seeds and public keys, the same
 * format as @noble/curves: a key made here signs bytes that noble verifies, and the reverse.
 * node:crypto wants DER, so raw keys are wrapped in the fixed PKCS#8 / SPKI prefixes.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import { assert } from '../runtime/assert.ts'
import { sha256, toHex } from './hash.ts'

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export const SEED_SIZE_BYTES = 32
export const PUBLIC_KEY_SIZE_BYTES = 32
export const SIGNATURE_SIZE_BYTES = 64
export const ADDRESS_SIZE_BYTES = 20

export interface Signer {
  readonly publicKey: Uint8Array
  readonly address: Uint8Array
  sign(message: Uint8Array): Uint8Array
}

/** A signer over a raw 32-byte seed. */
export function signerFromSeed(seed: Uint8Array): Signer {
  assert(seed.byteLength === SEED_SIZE_BYTES, 'ed25519 seed must be 32 bytes')
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
  const publicKey = new Uint8Array(spki.subarray(SPKI_PREFIX.length))
  return {
    publicKey,
    address: addressOf(publicKey),
    sign: (message) => new Uint8Array(sign(null, message, privateKey)),
  }
}

/** A validator's address: the first 20 bytes of SHA-256 of its public key (as CometBFT). */
export function addressOf(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey).subarray(0, ADDRESS_SIZE_BYTES)
}

const publicKeyObjects = new Map<string, KeyObject>()
const PUBLIC_KEY_CACHE_SIZE = 4096

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = toHex(publicKey)
  let key = publicKeyObjects.get(id)
  if (key === undefined) {
    if (publicKeyObjects.size >= PUBLIC_KEY_CACHE_SIZE) publicKeyObjects.clear()
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
    publicKeyObjects.set(id, key)
  }
  return key
}

/**
 * Memo of signatures already found valid. Verification is a pure function of (key, message,
 * signature), and the key of this map holds all three in full, so a hit can never accept
 * anything that verification would reject. Only successes are memoised; bounded.
 */
const verified = new Set<string>()
const VERIFIED_CACHE_SIZE = 65_536

export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.byteLength !== PUBLIC_KEY_SIZE_BYTES || signature.byteLength !== SIGNATURE_SIZE_BYTES) return false
  const memoKey = `${toHex(publicKey)}:${toHex(signature)}:${toHex(message)}`
  if (verified.has(memoKey)) return true
  let ok: boolean
  try {
    ok = verify(null, message, publicKeyObject(publicKey), signature)
  } catch {
    ok = false
  }
  if (ok) {
    if (verified.size >= VERIFIED_CACHE_SIZE) verified.clear()
    verified.add(memoKey)
  }
  return ok
}
