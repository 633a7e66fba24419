/**
 * The block store (each decided block with the commit this node saw for it) and the state
 * store (the tip the next height starts from), in memory and on disk. On disk every file is
 * `CRC-32 | payload`, replaced atomically (write, fsync, rename, fsync directory), so a crash
 * leaves the old file or the new one, and damage is detected, not trusted.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { decode, encode } from './codec.ts'
import type { Tip } from './core-types.ts'
import { StoreCorruptError } from './errors.ts'
import { type FaultHook, injected, noFaults } from './faults.ts'
import { writeFileDurable } from './fs-util.ts'
import { addressOf } from './keys.ts'
import type { CommittedBlock } from './types.ts'
import { ValidatorSet } from './validator-set.ts'
import { commitFromArray, commitToArray, decodeCommittedBlock, encodeCommittedBlock } from './wire.ts'

export interface BlockStore {
  /** Highest stored height (blocks are stored contiguously from 1); 0 when empty. */
  height(): number
  load(height: number): CommittedBlock | undefined
  save(block: CommittedBlock): void
}

export interface StateStore {
  load(): Tip | undefined
  save(tip: Tip): void
}

export class MemoryBlockStore implements BlockStore {
  readonly #blocks = new Map<number, CommittedBlock>()
  height(): number {
    return this.#blocks.size
  }
  load(height: number): CommittedBlock | undefined {
    return this.#blocks.get(height)
  }
  save(cb: CommittedBlock): void {
    const h = cb.block.header.height
    if (h <= this.#blocks.size) return
    if (h !== this.#blocks.size + 1) throw new StoreCorruptError('blocks must be stored in order', { height: h })
    this.#blocks.set(h, cb)
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

function seal(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength)
  new DataView(out.buffer).setUint32(0, crc32(payload))
  out.set(payload, 4)
  return out
}

function unseal(path: string): Uint8Array {
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

  constructor(dir: string, faults: FaultHook = noFaults) {
    this.#dir = dir
    this.#faults = faults
    mkdirSync(dir, { recursive: true })
    let h = 0
    while (existsSync(this.#path(h + 1))) h++
    this.#height = h
  }

  #path(height: number): string {
    return join(this.#dir, `${String(height).padStart(12, '0')}.block`)
  }

  height(): number {
    return this.#height
  }

  load(height: number): CommittedBlock | undefined {
    if (height < 1 || height > this.#height) return undefined
    return decodeCommittedBlock(unseal(this.#path(height)))
  }

  save(cb: CommittedBlock): void {
    const h = cb.block.header.height
    if (h <= this.#height) return
    if (h !== this.#height + 1) throw new StoreCorruptError('blocks must be stored in order', { height: h })
    if (this.#faults('blockstore.save') !== 'proceed') throw injected('blockstore.save')
    writeFileDurable(this.#path(h), seal(encodeCommittedBlock(cb)))
    this.#height = h
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
  ])
}

export function decodeTip(data: Uint8Array): Tip {
  const a = decode(data) as unknown[]
  const bytes = (x: unknown): Uint8Array => {
    if (!(x instanceof Uint8Array)) throw new StoreCorruptError('state file is malformed')
    return new Uint8Array(x)
  }
  if (!Array.isArray(a) || a.length !== 9) throw new StoreCorruptError('state file is malformed')
  const set = (x: unknown): ValidatorSet => {
    if (!Array.isArray(x) || !Array.isArray(x[0])) throw new StoreCorruptError('state file is malformed')
    const validators = (x[0] as unknown[][]).map((v) => {
      const publicKey = bytes(v[0])
      return { address: addressOf(publicKey), publicKey, power: v[1] as number, priority: v[2] as number }
    })
    return ValidatorSet.restore(validators, bytes(x[1]))
  }
  return {
    height: a[0] as number,
    validators: set(a[1]),
    nextValidators: set(a[7]),
    lastValidators: a[8] === null ? null : set(a[8]),
    lastBlockHash: bytes(a[2]),
    lastBlockTimeMs: a[3] as number,
    appHash: bytes(a[4]),
    lastCommit: a[5] === null ? null : commitFromArray(a[5]),
    committedEvidence: new Map(a[6] as [string, number][]),
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
