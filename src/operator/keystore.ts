/**
 * The account key encrypted under a passphrase: `keys/account.keystore.json`.
 *
 * The passphrase (NFKC-normalised, UTF-8) is stretched by scrypt (RFC 7914) with N = 2^15,
 * r = 8, p = 1 (32 MiB and about a tenth of a second per try, the parameters RFC 7914 and
 * OWASP give for interactive logins) and a fresh 32-byte salt into a 32-byte key, which seals
 * the 32-byte ed25519 seed with AES-256-GCM under a fresh 12-byte IV. The file also holds the
 * account's address and public key in the clear: `r3mes keys show` needs no passphrase, and a
 * file whose seed does not give that address is told apart as corrupt.
 *
 * A GCM tag that does not verify means a wrong passphrase or an altered ciphertext; the two
 * cannot be told apart (that is what authenticated encryption promises), so the error says so.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { z } from 'zod'
import { addressOf, type KeyPair, keyPairFromSeed } from '../chain/keys.ts'
import { fromHex, toHex } from '../codec/bytes.ts'
import { CorruptDataError, InvalidArgumentError, R3mesError } from '../runtime/errors.ts'
import {
  MAX_KEYSTORE_FILE_BYTES,
  MAX_KEYSTORE_SCRYPT_MEMORY_BYTES,
  MAX_PASSPHRASE_FILE_BYTES,
} from '../runtime/limits.ts'

export const KEYSTORE_VERSION = 1

/** scrypt's cost parameters as a keystore file records them. */
export interface ScryptParams {
  readonly n: number
  readonly r: number
  readonly p: number
}

/** The parameters new keystores are written with (see the file comment). */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { n: 2 ** 15, r: 8, p: 1 }

const SALT_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
const SEED_BYTES = 32
/** Most parallel lanes a file may ask for (each re-runs the whole memory-hard mix). */
const MAX_SCRYPT_P = 16
/** Binds the ciphertext to this format, so a seed sealed for another purpose does not open here. */
const AAD = new TextEncoder().encode(`r3mes/keystore/${KEYSTORE_VERSION}`)

/** Opening a keystore failed its authentication: the passphrase is wrong, or the ciphertext was altered. */
export class WrongPassphraseError extends R3mesError {
  constructor(path: string) {
    super('ERR_WRONG_PASSPHRASE', `wrong passphrase for the keystore ${path} (or its ciphertext was altered)`, { path })
  }
}

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${2 * bytes}}$`), `must be ${bytes} bytes of hex`)

const keystoreSchema = z.strictObject({
  version: z.literal(KEYSTORE_VERSION),
  address: z.string().min(1),
  publicKey: hex(32),
  kdf: z.strictObject({
    name: z.literal('scrypt'),
    n: z
      .number()
      .int()
      .min(2)
      .refine((n) => (n & (n - 1)) === 0, 'must be a power of two'),
    r: z.number().int().min(1),
    p: z.number().int().min(1).max(MAX_SCRYPT_P),
    salt: hex(SALT_BYTES),
  }),
  cipher: z.strictObject({
    name: z.literal('aes-256-gcm'),
    iv: hex(IV_BYTES),
    ciphertext: hex(SEED_BYTES),
    tag: hex(TAG_BYTES),
  }),
})

export type KeystoreFile = z.output<typeof keystoreSchema>

function scryptMemoryBytes(params: ScryptParams): number {
  return 128 * params.n * params.r
}

function deriveKey(passphrase: string, salt: Uint8Array, params: ScryptParams): Buffer {
  return scryptSync(Buffer.from(passphrase.normalize('NFKC'), 'utf8'), salt, 32, {
    N: params.n,
    r: params.r,
    p: params.p,
    // Room for the block mix beside the N·r table; the table itself is bounded by the schema.
    maxmem: scryptMemoryBytes(params) + 1024 * 1024,
  })
}

/** `seed` sealed under `passphrase`, as the JSON object a keystore file holds. */
export function encryptKeystore(
  seed: Uint8Array,
  passphrase: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): KeystoreFile {
  if (seed.length !== SEED_BYTES)
    throw new InvalidArgumentError(`a key seed is ${SEED_BYTES} bytes, got ${seed.length}`)
  if (passphrase.length === 0) throw new InvalidArgumentError('the passphrase is empty')
  const key = keyPairFromSeed(seed)
  const salt = randomBytes(SALT_BYTES)
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', deriveKey(passphrase, salt, params), iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(AAD)
  const ciphertext = Buffer.concat([cipher.update(seed), cipher.final()])
  return {
    version: KEYSTORE_VERSION,
    address: key.address,
    publicKey: toHex(key.publicKey),
    kdf: { name: 'scrypt', n: params.n, r: params.r, p: params.p, salt: toHex(salt) },
    cipher: { name: 'aes-256-gcm', iv: toHex(iv), ciphertext: toHex(ciphertext), tag: toHex(cipher.getAuthTag()) },
  }
}

/** The keystore in `json` (from `path`, named in errors), checked but not opened. */
export function parseKeystore(json: string, path: string): KeystoreFile {
  let data: unknown
  try {
    data = JSON.parse(json)
  } catch (error) {
    throw new CorruptDataError(`keystore ${path} is not JSON: ${(error as Error).message}`, { path })
  }
  const result = keystoreSchema.safeParse(data)
  if (!result.success) {
    const issue = result.error.issues[0]
    const at = issue === undefined ? '' : issue.path.map(String).join('.')
    throw new CorruptDataError(`keystore ${path} is not a keystore: ${at === '' ? '' : `${at}: `}${issue?.message}`, {
      path,
    })
  }
  const file = result.data
  if (scryptMemoryBytes(file.kdf) > MAX_KEYSTORE_SCRYPT_MEMORY_BYTES) {
    throw new CorruptDataError(
      `keystore ${path} asks scrypt for ${scryptMemoryBytes(file.kdf)} bytes, over the ${MAX_KEYSTORE_SCRYPT_MEMORY_BYTES} allowed`,
      { path },
    )
  }
  // The address is a function of the public key; one that is not is an edited file.
  if (file.address !== addressOf(fromHex(file.publicKey, 32) as Uint8Array)) {
    throw new CorruptDataError(`keystore ${path}: its address does not belong to its public key`, { path })
  }
  return file
}

/** The key sealed in `file`, opened with `passphrase`. */
export function decryptKeystore(file: KeystoreFile, passphrase: string, path: string): KeyPair {
  const salt = fromHex(file.kdf.salt, SALT_BYTES) as Uint8Array
  const decipher = createDecipheriv(
    'aes-256-gcm',
    deriveKey(passphrase, salt, file.kdf),
    fromHex(file.cipher.iv, IV_BYTES) as Uint8Array,
    { authTagLength: TAG_BYTES },
  )
  decipher.setAAD(AAD)
  decipher.setAuthTag(fromHex(file.cipher.tag, TAG_BYTES) as Uint8Array)
  let seed: Uint8Array
  try {
    seed = new Uint8Array(
      Buffer.concat([decipher.update(fromHex(file.cipher.ciphertext, SEED_BYTES) as Uint8Array), decipher.final()]),
    )
  } catch {
    throw new WrongPassphraseError(path)
  }
  const key = keyPairFromSeed(seed)
  if (key.address !== file.address) {
    throw new CorruptDataError(`keystore ${path}: the sealed key is not the one its address names`, { path })
  }
  return key
}

/** The keystore file at `path`, refused unread over `MAX_KEYSTORE_FILE_BYTES`. */
export function readKeystoreFile(path: string): KeystoreFile {
  return parseKeystore(readSmallFile(path, MAX_KEYSTORE_FILE_BYTES, 'keystore'), path)
}

/**
 * The passphrase in `path`: its first line, without the line break. A file with an empty first
 * line is refused rather than taken as an empty passphrase.
 */
export function readPassphraseFile(path: string): string {
  const passphrase = readSmallFile(path, MAX_PASSPHRASE_FILE_BYTES, 'passphrase file').split(/\r?\n/)[0] ?? ''
  if (passphrase.length === 0) throw new InvalidArgumentError(`the passphrase file ${path} has an empty first line`)
  return passphrase
}

function readSmallFile(path: string, maxBytes: number, what: string): string {
  let size: number
  try {
    size = statSync(path).size
  } catch (error) {
    throw new InvalidArgumentError(`cannot read the ${what} ${path}: ${(error as Error).message}`, { path })
  }
  if (size > maxBytes) throw new CorruptDataError(`${what} ${path} is ${size} bytes, over the ${maxBytes} allowed`)
  return readFileSync(path, 'utf8')
}
