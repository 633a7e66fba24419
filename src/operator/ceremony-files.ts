/**
 * The files of the genesis ceremony in an operator's home: the genesis document (draft or
 * final, with its gentxs), gentx files, and the libp2p identity a gentx proves possession of.
 * Every bad file is an error naming the file; the genesis is rewritten whole and durably, a
 * gentx file is never written over.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import {
  type CeremonyGenesis,
  ceremonyGenesisToJson,
  decodeGentx,
  encodeGentx,
  type Gentx,
  parseCeremonyGenesis,
} from '../chain/genesis-ceremony.ts'
import { writeFileDurable } from '../runtime/durable-file.ts'
import { CorruptDataError, InvalidArgumentError, isR3mesError } from '../runtime/errors.ts'
import { LEGACY_NODE_KEY_FILE, readKeySeed } from './home.ts'
import { IDENTITY_KEY_FILE, readIdentitySeed } from './key-names.ts'

/** Where `r3mes genesis gentx` writes a home's gentx and `collect` looks for them. */
export const GENTX_DIR = 'gentx'

/**
 * The ed25519 seed of the libp2p identity of `home`: `net/identity.key`, or, in a home made
 * before keys were split, the legacy `node.key` (from which a node installs its identity).
 */
export function readPeerSeed(home: string): Uint8Array {
  const seed = readIdentitySeed(home)
  if (seed !== undefined) return Uint8Array.from(seed)
  const legacy = join(home, LEGACY_NODE_KEY_FILE)
  if (existsSync(legacy)) return readKeySeed(legacy)
  throw new InvalidArgumentError(`${home} has no libp2p identity (${IDENTITY_KEY_FILE}): run r3mes init first`)
}

function readJson(path: string, what: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new InvalidArgumentError(`cannot read the ${what} ${path}: ${(error as Error).message}`, { path })
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new CorruptDataError(`the ${what} ${path} is not JSON: ${(error as Error).message}`, { path })
  }
}

/** The JSON of a genesis file, for `validateGenesis`. */
export function readGenesisJson(path: string): unknown {
  return readJson(path, 'genesis file')
}

/** A genesis file with its gentxs; `draft` admits one with no validator yet. */
export function readCeremonyGenesis(path: string, options: { readonly draft?: boolean } = {}): CeremonyGenesis {
  const json = readGenesisJson(path)
  try {
    return parseCeremonyGenesis(json, options)
  } catch (error) {
    if (!isR3mesError(error)) throw error
    throw new CorruptDataError(`${path}: ${error.message}`, { path }, { cause: error })
  }
}

/** Write the genesis file whole and durably (a crash leaves the old file or the new one). */
export function writeCeremonyGenesis(path: string, genesis: CeremonyGenesis): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileDurable(path, new TextEncoder().encode(`${JSON.stringify(ceremonyGenesisToJson(genesis), null, 2)}\n`))
}

/** Write a gentx file (canonical JSON); an existing file is refused, never replaced. */
export function writeGentxFile(path: string, gentx: Gentx): void {
  if (existsSync(path))
    throw new InvalidArgumentError(`${path} already exists: remove it to sign a new gentx`, { path })
  mkdirSync(dirname(path), { recursive: true })
  writeFileDurable(path, new TextEncoder().encode(`${encodeGentx(gentx)}\n`))
}

export function readGentxFile(path: string): Gentx {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new InvalidArgumentError(`cannot read the gentx file ${path}: ${(error as Error).message}`, { path })
  }
  return decodeGentx(text, path)
}

/** Every `*.json` gentx in `dir`, in file-name order (so a collect gives one genesis for one folder). */
export function readGentxDir(dir: string): { readonly file: string; readonly gentx: Gentx }[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (error) {
    throw new InvalidArgumentError(`cannot read the gentx folder ${dir}: ${(error as Error).message}`, { path: dir })
  }
  const files = names
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((n) => join(dir, n))
  if (files.length === 0) throw new InvalidArgumentError(`the gentx folder ${dir} holds no .json gentx file`)
  return files.map((file) => ({ file, gentx: readGentxFile(file) }))
}
