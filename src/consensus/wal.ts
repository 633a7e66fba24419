/**
 * The write-ahead log (CometBFT consensus/wal.go): every consensus input is appended before
 * the core sees it, so a restart replays the same inputs into the same state. One segment
 * file per height (`<height>.wal`): starting a height closes the previous segment and drops
 * the ones no restart can need.
 *
 * Record: u32 payload length (big-endian) | u32 CRC-32 of the payload | payload.
 * On open, a torn last record in the last segment (short or with a bad CRC at the very end)
 * is cut off; damage anywhere else throws WalCorruptError naming the file and offset.
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { assert } from '../runtime/assert.ts'
import type { ConsensusInput } from './core-types.ts'
import { WalCorruptError } from './errors.ts'
import { type FaultHook, injected, noFaults } from './faults.ts'
import { fsyncDir } from './fs-util.ts'
import { decodeInput, encodeInput } from './input-codec.ts'

export const WAL_HEADER_BYTES = 8
/** A record larger than this is damage, not data (a block is bounded far below). */
export const MAX_WAL_RECORD_BYTES = 64 * 1024 * 1024

export interface Wal {
  /** Append `input`; with `sync` it is on disk (fsync) when this returns. */
  append(input: ConsensusInput, sync: boolean): void
  /** Make everything appended so far durable. */
  sync(): void
  /** Begin the segment of `height`; earlier segments are no longer needed. */
  startHeight(height: number): void
  /** Inputs recorded from the segment of `height` on, in order (the replay). */
  readFrom(height: number): ConsensusInput[]
  close(): void
}

export class MemoryWal implements Wal {
  readonly #segments = new Map<number, ConsensusInput[]>()
  #current = 0
  append(input: ConsensusInput): void {
    assert(this.#current > 0, 'WAL append before startHeight')
    this.#segments.get(this.#current)?.push(input)
  }
  startHeight(height: number): void {
    if (!this.#segments.has(height)) this.#segments.set(height, [])
    this.#current = height
    for (const h of this.#segments.keys()) if (h < height - 1) this.#segments.delete(h)
  }
  readFrom(height: number): ConsensusInput[] {
    return [...this.#segments.entries()]
      .filter(([h]) => h >= height)
      .sort((a, b) => a[0] - b[0])
      .flatMap(([, inputs]) => inputs)
  }
  sync(): void {}
  close(): void {}
}

function segmentName(height: number): string {
  return `${String(height).padStart(12, '0')}.wal`
}

export interface FileWalInit {
  dir: string
  faults?: FaultHook
}

export class FileWal implements Wal {
  readonly #dir: string
  readonly #faults: FaultHook
  #fd = -1
  #height = 0
  #writtenBytes = 0
  #syncedBytes = 0

  constructor(init: FileWalInit) {
    this.#dir = init.dir
    this.#faults = init.faults ?? noFaults
    mkdirSync(this.#dir, { recursive: true })
  }

  #segments(): number[] {
    return readdirSync(this.#dir)
      .filter((f) => /^\d{12}\.wal$/.test(f))
      .map((f) => Number(f.slice(0, 12)))
      .sort((a, b) => a - b)
  }

  append(input: ConsensusInput, sync: boolean): void {
    assert(this.#fd >= 0, 'WAL append before startHeight')
    const payload = encodeInput(input)
    assert(payload.byteLength <= MAX_WAL_RECORD_BYTES, 'WAL record too large')
    const record = new Uint8Array(WAL_HEADER_BYTES + payload.byteLength)
    const view = new DataView(record.buffer)
    view.setUint32(0, payload.byteLength)
    view.setUint32(4, crc32(payload))
    record.set(payload, WAL_HEADER_BYTES)
    const action = this.#faults('wal.append')
    if (action === 'crash') throw injected('wal.append')
    if (action === 'tear') {
      this.#writtenBytes += writeSync(this.#fd, record, 0, Math.max(1, record.byteLength >> 1))
      throw injected('wal.append')
    }
    writeSync(this.#fd, record)
    this.#writtenBytes += record.byteLength
    if (sync) this.sync()
  }

  sync(): void {
    if (this.#fd < 0 || this.#syncedBytes === this.#writtenBytes) return
    fsyncSync(this.#fd)
    this.#syncedBytes = this.#writtenBytes
  }

  /** The current segment and how many of its bytes are known durable (power-loss tests cut there). */
  get durable(): { path: string; bytes: number } {
    return { path: join(this.#dir, segmentName(this.#height)), bytes: this.#syncedBytes }
  }

  startHeight(height: number): void {
    if (this.#fd >= 0 && this.#height === height) return
    if (this.#fd >= 0) {
      fsyncSync(this.#fd)
      closeSync(this.#fd)
    }
    const path = join(this.#dir, segmentName(height))
    this.#fd = openSync(path, 'a')
    this.#height = height
    this.#writtenBytes = fstatSync(this.#fd).size
    fsyncSync(this.#fd)
    this.#syncedBytes = this.#writtenBytes
    // Segments before height-1 cannot be needed: the state store is at least at height-1.
    for (const h of this.#segments()) if (h < height - 1) rmSync(join(this.#dir, segmentName(h)))
    fsyncDir(this.#dir)
  }

  readFrom(height: number): ConsensusInput[] {
    const segments = this.#segments().filter((h) => h >= height)
    const out: ConsensusInput[] = []
    segments.forEach((h, i) => {
      out.push(...this.#readSegment(join(this.#dir, segmentName(h)), i === segments.length - 1))
    })
    return out
  }

  #readSegment(path: string, isLast: boolean): ConsensusInput[] {
    const data = new Uint8Array(readFileSync(path))
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
    const out: ConsensusInput[] = []
    let offset = 0
    while (offset < data.byteLength) {
      const remaining = data.byteLength - offset
      const length = remaining >= WAL_HEADER_BYTES ? view.getUint32(offset) : -1
      const torn = length < 0 || length > remaining - WAL_HEADER_BYTES
      if (length > MAX_WAL_RECORD_BYTES && !(isLast && torn))
        throw new WalCorruptError(path, offset, `record length ${length} exceeds the bound`)
      if (torn) {
        if (!isLast) throw new WalCorruptError(path, offset, 'truncated record in a closed segment')
        this.#repair(path, offset)
        break
      }
      const payload = data.subarray(offset + WAL_HEADER_BYTES, offset + WAL_HEADER_BYTES + length)
      const end = offset + WAL_HEADER_BYTES + length
      if (crc32(payload) !== view.getUint32(offset + 4)) {
        // A bad checksum on the final record is a write cut short; before it, it is damage.
        if (isLast && end === data.byteLength) {
          this.#repair(path, offset)
          break
        }
        throw new WalCorruptError(path, offset, 'CRC mismatch')
      }
      try {
        out.push(decodeInput(payload))
      } catch {
        throw new WalCorruptError(path, offset, 'record does not decode')
      }
      offset = end
    }
    return out
  }

  #repair(path: string, offset: number): void {
    const fd = openSync(path, 'r+')
    try {
      if (fstatSync(fd).size > offset) ftruncateSync(fd, offset)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd)
    this.#fd = -1
  }
}
