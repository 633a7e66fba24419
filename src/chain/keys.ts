/**
 * Accounts: keys, signatures and addresses.
 *
 * Keys are raw ed25519 (RFC 8032, codec/ed25519.ts): a 32-byte secret seed and a 32-byte public
 * key, the same bytes @noble/curves uses, so one key signs transactions and proves VRF outputs.
 *
 * Address = bech32("r3mes", first 20 bytes of SHA-256(public key)), as Cosmos does with its
 * account prefix (Cosmos hashes secp256k1 keys with RIPEMD-160; ed25519 keys there use the
 * truncated SHA-256 we use here).
 */
import { bech32 } from '@scure/base'
import { ed25519PublicKey } from '../codec/ed25519.ts'
import { sha256 } from '../codec/hash.ts'

export const ADDRESS_PREFIX = 'r3mes'

export interface KeyPair {
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
  readonly address: string
}

export function keyPairFromSeed(secretKey: Uint8Array): KeyPair {
  const publicKey = ed25519PublicKey(secretKey)
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
