/**
 * The block store (each decided block with the commit this node saw for it) and the state
 * store (the tip the next height starts from), in memory and on disk. On disk every file is
 * `CRC-32 | payload`, replaced atomically (write, fsync, rename, fsync directory), so a crash
 * leaves the old file or the new one, and damage is detected, not trusted.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { fsyncDir, writeFileDurable } from '../runtime/durable-file.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import { BEACON_SIZE_BYTES } from './beacon.ts'
import { decode, encode } from './codec.ts'
import type { Tip } from './core-types.ts'
import { InvalidConsensusDataError, StoreCorruptError } from './errors.ts'
import { type FaultHook, injected, noFaults } from './faults.ts'
import { addressOf } from './keys.ts'
import type { Commit, CommittedBlock } from './types.ts'
import { ValidatorSet } from './validator-set.ts'
import { commitFromArray, commitToArray, decodeCommittedBlock, encodeCommittedBlock } from './wire.ts'

export interface BlockStore {
  /** Highest stored height (blocks are stored contiguously from `base()`); 0 when empty. */
  height(): number
  /** Lowest stored height: 1 until blocks are pruned, then the first height kept. */
  base(): number
  /** The block at `height` with its commit; undefined when not stored (above the tip, or pruned below `base()`). */
  load(height: number): CommittedBlock | undefined
  save(block: CommittedBlock): void
  /** Delete every block (with its commit) below `height`, never the tip: `base()` becomes at most `height`. */
  pruneBelow(height: number): number
}

export interface StateStore {
  load(): Tip | undefined
  save(tip: Tip): void
}

export class MemoryBlockStore implements BlockStore {
  readonly #blocks = new Map<number, CommittedBlock>()
  #height = 0
  #base = 1
  height(): number {
    return this.#height
  }
  base(): number {
    return this.#base
  }
  load(height: number): CommittedBlock | undefined {
    return this.#blocks.get(height)
  }
  save(cb: CommittedBlock): void {
    const h = cb.block.header.height
    if (h <= this.#height) return
    if (h !== this.#height + 1) throw new StoreCorruptError('blocks must be stored in order', { height: h })
    this.#blocks.set(h, cb)
    this.#height = h
  }
  pruneBelow(height: number): number {
    const below = Math.min(height, this.#height)
    let pruned = 0
    for (; this.#base < below; this.#base++) if (this.#blocks.delete(this.#base)) pruned++
    return pruned
  }
}

export class MemoryStateStore implements StateStore {
  #tip: Tip | undefined
  load(): Tip | undefined {
    return this.#tip
  }
  save(tip: Tip): void {
    this.#tip = tip
  }
}

/** A store file's bytes: CRC-32 (big-endian) of the payload, then the payload. */
export function seal(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength)
  new DataView(out.buffer).setUint32(0, crc32(payload))
  out.set(payload, 4)
  return out
}

export function unseal(path: string): Uint8Array {
  const data = new Uint8Array(readFileSync(path))
  if (data.byteLength < 4) throw new StoreCorruptError('file too short', { path })
  const payload = data.subarray(4)
  if (new DataView(data.buffer, data.byteOffset).getUint32(0) !== crc32(payload))
    throw new StoreCorruptError('CRC mismatch', { path })
  return payload
}

export class FileBlockStore implements BlockStore {
  readonly #dir: string
  readonly #faults: FaultHook
  #height: number
  #base: number

  constructor(dir: string, faults: FaultHook = noFaults) {
    this.#dir = dir
    this.#faults = faults
    mkdirSync(dir, { recursive: true })
    // Pruning deletes from the bottom up, so the lowest block file is where the run starts.
    let base = Number.POSITIVE_INFINITY
    for (const name of readdirSync(dir)) {
      const m = /^(\d{12})\.block$/.exec(name)
      if (m !== null) base = Math.min(base, Number(m[1]))
    }
    if (base === Number.POSITIVE_INFINITY) base = 1
    let h = base - 1
    while (existsSync(this.#path(h + 1))) h++
    this.#base = base
    this.#height = h
  }

  #path(height: number): string {
    return join(this.#dir, `${String(height).padStart(12, '0')}.block`)
  }

  height(): number {
    return this.#height
  }

  base(): number {
    return this.#base
  }

  load(height: number): CommittedBlock | undefined {
    if (height < this.#base || height > this.#height) return undefined
    const path = this.#path(height)
    const payload = unseal(path)
    try {
      return decodeCommittedBlock(payload)
    } catch (error) {
      // The CRC matched, so these bytes were written as they are: damage, not a torn write.
      if (error instanceof InvalidConsensusDataError)
        throw new StoreCorruptError(`block file does not decode: ${error.message}`, { path })
      throw error
    }
  }

  save(cb: CommittedBlock): void {
    const h = cb.block.header.height
    if (h <= this.#height) return
    if (h !== this.#height + 1) throw new StoreCorruptError('blocks must be stored in order', { height: h })
    if (this.#faults('blockstore.save') !== 'proceed') throw injected('blockstore.save')
    writeFileDurable(this.#path(h), seal(encodeCommittedBlock(cb)))
    this.#height = h
  }

  /**
   * Lowest first, so a crash part way leaves a contiguous run from a higher base (the
   * constructor finds it again); `base()` moves before the files go, so no load races a delete.
   */
  pruneBelow(height: number): number {
    const below = Math.min(height, this.#height)
    const from = this.#base
    if (below <= from) return 0
    this.#base = below
    for (let h = from; h < below; h++) rmSync(this.#path(h), { force: true })
    fsyncDir(this.#dir)
    return below - from
  }
}

/** A validator set with its priorities and the proposer its last increment chose. */
function setToArray(set: ValidatorSet): unknown[] {
  return [set.validators.map((v) => [v.publicKey, v.power, v.priority]), set.proposer.address]
}

export function encodeTip(tip: Tip): Uint8Array {
  return encode([
    tip.height,
    setToArray(tip.validators),
    tip.lastBlockHash,
    tip.lastBlockTimeMs,
    tip.appHash,
    tip.lastCommit === null ? null : commitToArray(tip.lastCommit),
    [...tip.committedEvidence],
    setToArray(tip.nextValidators),
    tip.lastValidators === null ? null : setToArray(tip.lastValidators),
    tip.lastBeacon,
  ])
}

/**
 * The tip as stored. The file passed its CRC, so a bad shape here is a bug or a file written
 * by something else: every field is checked and any problem is a StoreCorruptError, so a
 * damaged state file stops the node with a reason instead of a TypeError deep in a restart.
 */
export function decodeTip(data: Uint8Array): Tip {
  const malformed = (field: string): never => {
    throw new StoreCorruptError(`state file is malformed: ${field}`, { field })
  }
  let a: unknown
  try {
    a = decode(data)
  } catch (error) {
    throw new StoreCorruptError('state file is not msgpack', { cause: (error as Error).message })
  }
  const bytes = (x: unknown, field: string, size?: number): Uint8Array =>
    x instanceof Uint8Array && (size === undefined || x.byteLength === size) ? new Uint8Array(x) : malformed(field)
  const int = (x: unknown, field: string, min = Number.MIN_SAFE_INTEGER): number =>
    typeof x === 'number' && Number.isSafeInteger(x) && x >= min ? x : malformed(field)
  const list = (x: unknown, field: string): unknown[] => (Array.isArray(x) ? x : malformed(field))
  const pair = (x: unknown, field: string): unknown[] => (Array.isArray(x) && x.length === 2 ? x : malformed(field))
  if (!Array.isArray(a) || a.length !== 10) return malformed('top-level array')
  const set = (x: unknown, field: string): ValidatorSet => {
    const [members, proposer] = pair(x, field)
    const validators = list(members, `${field} validators`).map((v) => {
      const [publicKey, power, priority] = Array.isArray(v) && v.length === 3 ? v : malformed(`${field} validator`)
      const key = bytes(publicKey, `${field} public key`, 32)
      return {
        address: addressOf(key),
        publicKey: key,
        power: int(power, `${field} power`, 1),
        priority: int(priority, `${field} priority`),
      }
    })
    try {
      return ValidatorSet.restore(validators, bytes(proposer, `${field} proposer`, 20))
    } catch (error) {
      if (error instanceof InvalidArgumentError) throw new StoreCorruptError(`state file ${field}: ${error.message}`)
      throw error
    }
  }
  let lastCommit: Commit | null = null
  try {
    lastCommit = a[5] === null ? null : commitFromArray(a[5])
  } catch (error) {
    if (error instanceof InvalidConsensusDataError) malformed('last commit')
    throw error
  }
  const committedEvidence = new Map<string, number>()
  for (const entry of list(a[6], 'committed evidence')) {
    const [key, at] = pair(entry, 'committed evidence entry')
    committedEvidence.set(
      typeof key === 'string' ? key : malformed('committed evidence key'),
      int(at, 'evidence height', 0),
    )
  }
  return {
    height: int(a[0], 'height', 1),
    validators: set(a[1], 'validators'),
    nextValidators: set(a[7], 'next validators'),
    lastValidators: a[8] === null ? null : set(a[8], 'last validators'),
    lastBlockHash: bytes(a[2], 'last block hash', 32),
    lastBlockTimeMs: int(a[3], 'last block time', 0),
    lastBeacon: bytes(a[9], 'last beacon', BEACON_SIZE_BYTES),
    appHash: bytes(a[4], 'app hash', 32),
    lastCommit,
    committedEvidence,
  }
}

export class FileStateStore implements StateStore {
  readonly #path: string
  readonly #faults: FaultHook
  constructor(path: string, faults: FaultHook = noFaults) {
    this.#path = path
    this.#faults = faults
  }
  load(): Tip | undefined {
    if (!existsSync(this.#path)) return undefined
    return decodeTip(unseal(this.#path))
  }
  save(tip: Tip): void {
    if (this.#faults('statestore.save') !== 'proceed') throw injected('statestore.save')
    writeFileDurable(this.#path, seal(encodeTip(tip)))
  }
}
