/**
 * The legacy single node key: a 32-byte ed25519 seed in `<home>/node.key` (hex, mode 0600),
 * still what `r3mes testnet` writes. One such key serves as the node's account key, its
 * consensus key and (derived from the same seed) its libp2p identity, which matches a genesis
 * staker that names no separate consensus key or peer id. A home with `keys/` holds separate
 * keys instead (src/operator/home.ts).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPairFromSeed, privateKeyToProtobuf, publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { type KeyPair, keyPairFromSeed } from '../chain/keys.ts'
import { fromHex } from '../codec/bytes.ts'
import { IDENTITY_FILE } from '../net/identity.ts'
import { CorruptDataError } from '../runtime/errors.ts'

export const NODE_KEY_FILE = 'node.key'

export interface NodeIdentity {
  readonly seed: Uint8Array
  readonly key: KeyPair
}

/** Write `seed` as the node key of `home` (a testnet's setup does this with derived seeds). */
export function writeNodeKey(home: string, seed: Uint8Array): void {
  mkdirSync(home, { recursive: true })
  writeFileSync(join(home, NODE_KEY_FILE), `${Buffer.from(seed).toString('hex')}\n`, { mode: 0o600 })
}

/** Read the node key of `home`; a missing key is created from `fresh()` once. */
export function loadNodeKey(home: string, fresh: () => Uint8Array): NodeIdentity {
  const path = join(home, NODE_KEY_FILE)
  if (!existsSync(path)) writeNodeKey(home, fresh())
  const seed = fromHex(readFileSync(path, 'utf8').trim(), 32)
  if (seed === undefined) throw new CorruptDataError(`node key ${path} is not 32 bytes of hex`, { path })
  return { seed, key: keyPairFromSeed(seed) }
}

/** Make the libp2p identity file of `netHome` the legacy node key, so the peer id is the account key's. */
export async function installLibp2pIdentity(netHome: string, seed: Uint8Array): Promise<void> {
  const key = await generateKeyPairFromSeed('Ed25519', seed)
  mkdirSync(netHome, { recursive: true })
  writeFileSync(join(netHome, IDENTITY_FILE), privateKeyToProtobuf(key), { mode: 0o600 })
}

/** The peer id of the node whose ed25519 public key is `pubKeyHex`. */
export function peerIdOfPubKey(pubKeyHex: string): PeerId {
  const raw = fromHex(pubKeyHex, 32)
  if (raw === undefined) throw new CorruptDataError(`public key ${pubKeyHex} is not 32 bytes of hex`)
  return peerIdFromPublicKey(publicKeyFromRaw(raw))
}
