/**
 * An operator's home folder: where `r3mes init` writes a node's configuration and keys, and
 * where `r3mes node`, `r3mes tx` and `r3mes genesis` read them.
 *
 *   config.toml                 the node's configuration (config.ts)
 *   genesis.json                the chain's genesis, once the ceremony has produced it
 *   keys/account.key            the account key: signs transactions (hex ed25519 seed, 0600),
 *   keys/account.keystore.json  or the same key encrypted under a passphrase (keystore.ts)
 *   keys/consensus.key          the consensus key: signs votes, proposals and beacons (0600)
 *   net/identity.key            the libp2p identity (libp2p's protobuf private key, 0600)
 *
 * Three keys, as Cosmos keeps three: the account key holds the funds and can stay encrypted
 * (or offline once staked), the consensus key must be hot on the validator, and the libp2p
 * identity only names the peer. A home made by an older testnet has one `node.key` serving as
 * all three; it is still read.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type KeyPair, keyPairFromSeed } from '../chain/keys.ts'
import { fromHex } from '../codec/bytes.ts'
import { CorruptDataError, InvalidArgumentError } from '../runtime/errors.ts'

export const CONFIG_FILE = 'config.toml'
export const GENESIS_FILE = 'genesis.json'
/** The folder of the separate keys: a home that has it does not use a legacy `node.key`. */
export const KEYS_DIR = 'keys'
export const ACCOUNT_KEY_FILE = join('keys', 'account.key')
export const ACCOUNT_KEYSTORE_FILE = join('keys', 'account.keystore.json')
export const CONSENSUS_KEY_FILE = join('keys', 'consensus.key')
/** The single key of a home made before keys were split (account, consensus and libp2p at once). */
export const LEGACY_NODE_KEY_FILE = 'node.key'

/** The keys a node signs with. */
export interface OperatorKeys {
  /** Signs transactions; its address holds the funds and the stake. */
  readonly account: KeyPair
  /** Seed of the key that signs consensus messages. */
  readonly consensusSeed: Uint8Array
  /** Public half of the consensus key. */
  readonly consensus: KeyPair
}

/** Write a 32-byte seed as hex, readable by its owner only; never over an existing key. */
export function writeKeySeed(path: string, seed: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  writeFileSync(path, `${Buffer.from(seed).toString('hex')}\n`, { mode: 0o600, flag: 'wx' })
}

/** The 32-byte seed in a key file; a file that holds anything else is refused. */
export function readKeySeed(path: string): Uint8Array {
  let text: string
  try {
    text = readFileSync(path, 'utf8').trim()
  } catch (error) {
    throw new InvalidArgumentError(`cannot read the key file ${path}: ${(error as Error).message}`)
  }
  const seed = fromHex(text, 32)
  if (seed === undefined) throw new CorruptDataError(`key file ${path} is not 32 bytes of hex`, { path })
  return seed
}

/**
 * The plaintext keys of `home`: `keys/account.key` and `keys/consensus.key`, or the legacy
 * `node.key` for both. An encrypted account key is opened by keystore.ts, not here.
 */
export function loadOperatorKeys(home: string): OperatorKeys {
  const legacy = join(home, LEGACY_NODE_KEY_FILE)
  const accountPath = join(home, ACCOUNT_KEY_FILE)
  const consensusPath = join(home, CONSENSUS_KEY_FILE)
  if (!existsSync(accountPath) && !existsSync(consensusPath) && existsSync(legacy)) {
    const seed = readKeySeed(legacy)
    const key = keyPairFromSeed(seed)
    return { account: key, consensusSeed: seed, consensus: key }
  }
  const consensusSeed = readKeySeed(consensusPath)
  return {
    account: keyPairFromSeed(readKeySeed(accountPath)),
    consensusSeed,
    consensus: keyPairFromSeed(consensusSeed),
  }
}
