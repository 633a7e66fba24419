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
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type KeyPair, keyPairFromSeed } from '../chain/keys.ts'
import { fromHex, toHex } from '../codec/bytes.ts'
import { CorruptDataError, InvalidArgumentError } from '../runtime/errors.ts'
import { decryptKeystore, encryptKeystore, readKeystoreFile, type ScryptParams } from './keystore.ts'

export const CONFIG_FILE = 'config.toml'
export const GENESIS_FILE = 'genesis.json'
/** The folder of the separate keys: a home that has it does not use a legacy `node.key`. */
export const KEYS_DIR = 'keys'
export const ACCOUNT_KEY_FILE = join('keys', 'account.key')
export const ACCOUNT_KEYSTORE_FILE = join('keys', 'account.keystore.json')
export const CONSENSUS_KEY_FILE = join('keys', 'consensus.key')
/** The libp2p identity, in the folder the network layer keeps its files (src/net/identity.ts). */
export const IDENTITY_KEY_FILE = join('net', 'identity.key')
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

export interface LoadKeysOptions {
  /** Opens `keys/account.keystore.json`; needed when the account key is stored encrypted. */
  readonly passphrase?: string
}

/**
 * The keys of `home`: `keys/account.key` (or `keys/account.keystore.json`, opened with
 * `options.passphrase`) and `keys/consensus.key`, or the legacy `node.key` for both.
 */
export function loadOperatorKeys(home: string, options: LoadKeysOptions = {}): OperatorKeys {
  const legacy = join(home, LEGACY_NODE_KEY_FILE)
  const accountPath = join(home, ACCOUNT_KEY_FILE)
  const keystorePath = join(home, ACCOUNT_KEYSTORE_FILE)
  const consensusPath = join(home, CONSENSUS_KEY_FILE)
  const hasAccount = existsSync(accountPath)
  const hasKeystore = existsSync(keystorePath)
  if (!hasAccount && !hasKeystore && !existsSync(consensusPath) && existsSync(legacy)) {
    const seed = readKeySeed(legacy)
    const key = keyPairFromSeed(seed)
    return { account: key, consensusSeed: seed, consensus: key }
  }
  const consensusSeed = readKeySeed(consensusPath)
  return { account: loadAccountKey(home, options), consensusSeed, consensus: keyPairFromSeed(consensusSeed) }
}

/**
 * The account key of `home` alone (what signs transactions): `keys/account.key`,
 * `keys/account.keystore.json` opened with `options.passphrase`, or the legacy `node.key`.
 * A home that only sends transactions needs no consensus key.
 */
export function loadAccountKey(home: string, options: LoadKeysOptions = {}): KeyPair {
  const accountPath = join(home, ACCOUNT_KEY_FILE)
  const keystorePath = join(home, ACCOUNT_KEYSTORE_FILE)
  const hasKeystore = existsSync(keystorePath)
  const hasAccount = existsSync(accountPath)
  if (hasKeystore && hasAccount) {
    throw new InvalidArgumentError(
      `${home} has the account key twice, in ${ACCOUNT_KEY_FILE} and in ${ACCOUNT_KEYSTORE_FILE}: keep one`,
    )
  }
  const legacy = join(home, LEGACY_NODE_KEY_FILE)
  if (!hasKeystore && !hasAccount && existsSync(legacy)) return keyPairFromSeed(readKeySeed(legacy))
  if (!hasKeystore) return keyPairFromSeed(readKeySeed(accountPath))
  const keystore = readKeystoreFile(keystorePath)
  if (options.passphrase === undefined) {
    throw new InvalidArgumentError(
      `the account key ${keystorePath} (${keystore.address}) is encrypted: give its passphrase with --passphrase-file FILE`,
    )
  }
  return decryptKeystore(keystore, options.passphrase, keystorePath)
}

/** What a home shows of its keys without opening them: public keys and addresses only. */
export interface PublicOperatorKeys {
  readonly address: string
  readonly accountPublicKey: string
  readonly consensusPublicKey: string
  /** Whether the account key is stored encrypted. */
  readonly encrypted: boolean
}

/** The public halves of the keys of `home`, read without a passphrase. */
export function showOperatorKeys(home: string): PublicOperatorKeys {
  const keystorePath = join(home, ACCOUNT_KEYSTORE_FILE)
  if (existsSync(keystorePath) && !existsSync(join(home, ACCOUNT_KEY_FILE))) {
    const keystore = readKeystoreFile(keystorePath)
    const consensus = keyPairFromSeed(readKeySeed(join(home, CONSENSUS_KEY_FILE)))
    return {
      address: keystore.address,
      accountPublicKey: keystore.publicKey,
      consensusPublicKey: toHex(consensus.publicKey),
      encrypted: true,
    }
  }
  const keys = loadOperatorKeys(home)
  return {
    address: keys.account.address,
    accountPublicKey: toHex(keys.account.publicKey),
    consensusPublicKey: toHex(keys.consensus.publicKey),
    encrypted: false,
  }
}

/** The files of a home that `r3mes init` would write or that show a node already lives there. */
const HOME_MARKERS = [
  CONFIG_FILE,
  ACCOUNT_KEY_FILE,
  ACCOUNT_KEYSTORE_FILE,
  CONSENSUS_KEY_FILE,
  IDENTITY_KEY_FILE,
  LEGACY_NODE_KEY_FILE,
]

/** The files in `home` that make it an existing node's home (empty for a new or empty folder). */
export function existingHomeFiles(home: string): string[] {
  return HOME_MARKERS.filter((file) => existsSync(join(home, file)))
}

export interface NewKeysOptions {
  /** Seal the account key under this passphrase instead of writing it in the clear. */
  readonly passphrase?: string
  /** scrypt cost of the keystore. @default DEFAULT_SCRYPT_PARAMS */
  readonly scrypt?: ScryptParams
}

/**
 * Fresh account and consensus keys written into `home` (`keys/` mode 0700, each file 0600),
 * never over an existing file. Returns them.
 */
export function writeNewOperatorKeys(home: string, options: NewKeysOptions = {}): OperatorKeys {
  const accountSeed = new Uint8Array(randomBytes(32))
  const consensusSeed = new Uint8Array(randomBytes(32))
  const keysDir = join(home, 'keys')
  mkdirSync(keysDir, { recursive: true, mode: 0o700 })
  // mkdir's mode is cut by the umask, and an existing empty folder keeps its own.
  chmodSync(keysDir, 0o700)
  if (options.passphrase === undefined) writeKeySeed(join(home, ACCOUNT_KEY_FILE), accountSeed)
  else {
    const keystore = encryptKeystore(accountSeed, options.passphrase, options.scrypt)
    writeFileSync(join(home, ACCOUNT_KEYSTORE_FILE), `${JSON.stringify(keystore, null, 2)}\n`, {
      mode: 0o600,
      flag: 'wx',
    })
  }
  writeKeySeed(join(home, CONSENSUS_KEY_FILE), consensusSeed)
  return { account: keyPairFromSeed(accountSeed), consensusSeed, consensus: keyPairFromSeed(consensusSeed) }
}
