/**
 * The keys a home's `register` names on chain besides its account key: the consensus key of
 * `keys/consensus.key` and the peer id of `net/identity.key`, each with its proof of
 * possession for the account on the chain (chain/key-proofs.ts). A key that is the account
 * key's own (a legacy `node.key` home, or no libp2p identity yet) is not named: the chain
 * already gives a staker its account key's.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { signKeyProof } from '../chain/key-proofs.ts'
import { keyPairFromSeed, peerIdOfKey } from '../chain/keys.ts'
import { bytesEqual, toHex } from '../codec/bytes.ts'
import { CorruptDataError } from '../runtime/errors.ts'
import type { OperatorKeys } from './home.ts'

/** The node's libp2p identity in a home (libp2p's protobuf private key). */
export const IDENTITY_KEY_FILE = join('net', 'identity.key')

export interface NamedKeys {
  consensusKey?: string
  consensusKeyProof?: string
  peerId?: string
  peerIdProof?: string
}

/** The 32-byte ed25519 seed of the home's libp2p identity; undefined when it has none. */
export function readIdentitySeed(home: string): Uint8Array | undefined {
  const path = join(home, IDENTITY_KEY_FILE)
  if (!existsSync(path)) return undefined
  let key: ReturnType<typeof privateKeyFromProtobuf>
  try {
    key = privateKeyFromProtobuf(readFileSync(path))
  } catch (error) {
    throw new CorruptDataError(`identity key file ${path} does not decode`, { path }, { cause: error })
  }
  // An ed25519 private key's raw form is its seed followed by its public key.
  if (key.type !== 'Ed25519' || key.raw.length !== 64)
    throw new CorruptDataError(`identity key file ${path} is not an ed25519 key`, { path })
  return key.raw.subarray(0, 32)
}

/** The consensus key and peer id `home` names for `keys.account` on `chainId`, with their proofs. */
export function namedKeysOf(home: string, keys: OperatorKeys, chainId: string): NamedKeys {
  const address = keys.account.address
  const out: NamedKeys = {}
  if (!bytesEqual(keys.consensus.publicKey, keys.account.publicKey)) {
    out.consensusKey = toHex(keys.consensus.publicKey)
    out.consensusKeyProof = signKeyProof('consensus', keys.consensusSeed, chainId, address)
  }
  const netSeed = readIdentitySeed(home)
  if (netSeed !== undefined) {
    const netKey = keyPairFromSeed(netSeed).publicKey
    if (!bytesEqual(netKey, keys.account.publicKey)) {
      out.peerId = peerIdOfKey(netKey)
      out.peerIdProof = signKeyProof('peer', netSeed, chainId, address)
    }
  }
  return out
}
