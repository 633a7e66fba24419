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
import { base58btc } from 'multiformats/bases/base58'
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

/** What every address text starts with: its prefix and bech32's separator. */
const ADDRESS_START = `${ADDRESS_PREFIX}1`

export function isAddress(text: unknown): text is string {
  if (typeof text !== 'string' || text.length > 90) return false
  // Anything else is refused before decoding: a refusal by the decoder is a thrown error, and
  // the mempool's every check asks about the empty proposer it checks against.
  if (!text.startsWith(ADDRESS_START)) return false
  try {
    const decoded = bech32.decode(text as `${string}1${string}`)
    return (
      decoded.prefix === ADDRESS_PREFIX && bech32.fromWords(decoded.words).length === 20 && text === text.toLowerCase()
    )
  } catch {
    return false
  }
}

/**
 * An ed25519 peer id as text (every key of this network is ed25519): `12D3KooW` and 44 more
 * base58btc characters, the base58 form of the identity multihash of the protobuf public key,
 * whose first six bytes are fixed. Checked byte by byte, so what reaches libp2p's
 * `peerIdFromString` always parses.
 */
const ED25519_PEER_ID_TEXT = /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/
/** Identity multihash (0x00) of 36 bytes (0x24): protobuf key type 1 (ed25519), data of 32 bytes. */
const ED25519_PEER_ID_PREFIX = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20]
const ED25519_PEER_ID_BYTES = ED25519_PEER_ID_PREFIX.length + 32

export function isPeerId(text: unknown): text is string {
  if (typeof text !== 'string' || !ED25519_PEER_ID_TEXT.test(text)) return false
  // The pattern admits only base58btc characters, so this decodes.
  const bytes = base58btc.baseDecode(text)
  return bytes.length === ED25519_PEER_ID_BYTES && ED25519_PEER_ID_PREFIX.every((byte, i) => bytes[i] === byte)
}

/**
 * The libp2p peer id of an ed25519 public key, computed here so the chain names the peer a
 * staker runs without depending on libp2p (the same text `peerIdFromPublicKey` gives).
 */
export function peerIdOfKey(publicKey: Uint8Array): string {
  const bytes = new Uint8Array(ED25519_PEER_ID_BYTES)
  bytes.set(ED25519_PEER_ID_PREFIX)
  bytes.set(publicKey, ED25519_PEER_ID_PREFIX.length)
  return base58btc.baseEncode(bytes)
}
