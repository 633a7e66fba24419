/**
 * Keys, signatures and addresses.
 *
 * Keys are raw ed25519 (RFC 8032): a 32-byte secret seed and a 32-byte public key, the same
 * bytes @noble/curves uses, so one key signs transactions and proves VRF outputs. Signing and
 * verifying go through node:crypto (native, ~50× faster than pure JS), wrapping the raw bytes
 * in the fixed DER prefixes of PKCS#8 / SPKI.
 *
 * Address = bech32("r3mes", first 20 bytes of SHA-256(public key)), as Cosmos does with its
 * account prefix (Cosmos hashes secp256k1 keys with RIPEMD-160; ed25519 keys there use the
 * truncated SHA-256 we use here).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto'
import { bech32 } from '@scure/base'

export const ADDRESS_PREFIX = 'r3mes'
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex')

export interface KeyPair {
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
  readonly address: string
}

export function sha256(...parts: (Uint8Array | string)[]): Uint8Array {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')
}

/** Strict lowercase hex of an exact byte length, or undefined. */
export function fromHex(text: unknown, length?: number): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length % 2 !== 0 || !/^[0-9a-f]*$/.test(text)) return undefined
  if (length !== undefined && text.length !== 2 * length) return undefined
  return new Uint8Array(Buffer.from(text, 'hex'))
}

export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, secretKey]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  return new Uint8Array(spki.subarray(SPKI_ED25519.length))
}

export function keyPairFromSeed(secretKey: Uint8Array): KeyPair {
  const publicKey = publicKeyOf(secretKey)
  return { secretKey, publicKey, address: addressOf(publicKey) }
}

/** A deterministic key for tests and local testnets: secret = SHA-256("r3mes/test-key/1" ‖ label). */
export function testKey(label: string): KeyPair {
  return keyPairFromSeed(sha256('r3mes/test-key/1\0', label))
}

export function addressOf(publicKey: Uint8Array): string {
  return bech32.encode(ADDRESS_PREFIX, bech32.toWords(sha256(publicKey).subarray(0, 20)))
}

export function isAddress(text: unknown): text is string {
  if (typeof text !== 'string' || text.length > 90) return false
  try {
    const decoded = bech32.decode(text as `${string}1${string}`)
    return (
      decoded.prefix === ADDRESS_PREFIX && bech32.fromWords(decoded.words).length === 20 && text === text.toLowerCase()
    )
  } catch {
    return false
  }
}

/** Parsed node:crypto keys, kept per secret-key array: parsing DER costs as much as signing. */
const privateKeys = new WeakMap<Uint8Array, KeyObject>()
/** Parsed public keys by hex, bounded: a node verifies the same few hundred signers over and over. */
const publicKeys = new Map<string, KeyObject>()
const PUBLIC_KEY_CACHE_SIZE = 4096

export function signBytes(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  let key = privateKeys.get(secretKey)
  if (key === undefined) {
    key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, secretKey]), format: 'der', type: 'pkcs8' })
    privateKeys.set(secretKey, key)
  }
  return new Uint8Array(nodeSign(null, message, key))
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = toHex(publicKey)
  let key = publicKeys.get(id)
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, publicKey]), format: 'der', type: 'spki' })
    if (publicKeys.size >= PUBLIC_KEY_CACHE_SIZE) publicKeys.clear()
    publicKeys.set(id, key)
  }
  return key
}

export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false
  try {
    return nodeVerify(null, message, publicKeyObject(publicKey), signature)
  } catch {
    return false
  }
}
