/**
 * The write-ahead log (CometBFT consensus/wal.go): every consensus input is appended before
 * the core sees it, so a restart replays the same inputs into the same state. One segment
 * file per height (`<height>.wal`): starting a height closes the previous segment and drops
 * the ones no restart can need.
 *
 * Record: u32 payload length (big-endian) | u32 CRC-32 of the length bytes and the payload |
 * payload. The CRC covers the length so that an all-zero record (what a file system leaves
 * in blocks allocated but never written before a power loss) fails it: the CRC-32 of nothing
 * is 0. A length of 0 is never written (no input encodes to nothing).
 *
 * On open, a torn tail of the last segment (a short record, a bad CRC on the final record,
 * or zeros from some record boundary to the end) is cut off; damage anywhere else throws
 * WalCorruptError naming the file and offset. Segments are read record by record through a
 * small buffer, never whole: a segment is bounded (MAX_WAL_SEGMENT_PEER_BYTES) but a file
 * on disk may be anything.
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
} from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { assert } from '../runtime/assert.ts'
import { fsyncDir, type WriteFn, writeAll } from '../runtime/durable-file.ts'
import { MAX_WAL_RECORD_BYTES } from '../runtime/limits.ts'
import { encode } from './codec.ts'
import type { ConsensusInput } from './core-types.ts'
import { WalCorruptError } from './errors.ts'
import { type FaultHook, injected, noFaults } from './faults.ts'
import { decodeInput, encodeInput } from './input-codec.ts'

export { MAX_WAL_RECORD_BYTES }
export const WAL_HEADER_BYTES = 8

/** The record's CRC: over the four length bytes, then the payload. */
function recordCrc(header: Uint8Array, payload: Uint8Array): number {
  return crc32(payload, crc32(header.subarray(0, 4)))
}

/** One record as it lies in a segment: u32 payload length, u32 CRC (`recordCrc`), the payload. */
export function encodeWalRecord(payload: Uint8Array): Uint8Array {
  const record = new Uint8Array(WAL_HEADER_BYTES + payload.byteLength)
  const view = new DataView(record.buffer)
  view.setUint32(0, payload.byteLength)
  view.setUint32(4, recordCrc(record, payload))
  record.set(payload, WAL_HEADER_BYTES)
  return record
}

export interface Wal {
  /** Append `input`; with `sync` it is on disk (fsync) when this returns. */
  append(input: ConsensusInput, sync: boolean): void
  /** Make everything appended so far durable. */
  sync(): void
  /** Begin the segment of `height`; earlier segments are no longer needed. */
  startHeight(height: number): void
  /** Inputs recorded from the segment of `height` on, in order (the replay). */
  readFrom(height: number): ConsensusInput[]
  /** Bytes in the current height's segment (what the per-height cap on peers' inputs measures). */
  readonly segmentBytes: number
  close(): void
}

/**
 * Encoded sizes of vote and proposal inputs, per vote and per proposal object. A memory WAL only
 * counts bytes (its cap on peers' inputs is in bytes), and in a simulation one decoded message
 * is appended by every node that receives it: its size is the same for all of them, but for a
 * proposal's arrival time, whose own size is added.
 */
const inputBytes = new WeakMap<object, number>()

function encodedBytes(input: ConsensusInput): number {
  if (input.type !== 'vote' && input.type !== 'proposal') return encodeInput(input).byteLength
  const key = input.type === 'vote' ? input.vote : input.proposal
  let n = inputBytes.get(key)
  if (n === undefined) {
    n = encodeInput(input.type === 'vote' ? input : { ...input, receivedMs: undefined }).byteLength
    inputBytes.set(key, n)
  }
  // One element more in a short array: its header is one byte either way.
  return input.type === 'proposal' && input.receivedMs !== undefined ? n + encode([input.receivedMs]).byteLength - 1 : n
}

export class MemoryWal implements Wal {
  readonly #segments = new Map<number, ConsensusInput[]>()
  #current = 0
  #bytes = 0
  append(input: ConsensusInput): void {
    assert(this.#current > 0, 'WAL append before startHeight')
    this.#segments.get(this.#current)?.push(input)
    this.#bytes += WAL_HEADER_BYTES + encodedBytes(input)
  }
  get segmentBytes(): number {
    return this.#bytes
  }
  startHeight(height: number): void {
    if (!this.#segments.has(height)) this.#segments.set(height, [])
    if (height !== this.#current)
      this.#bytes = (this.#segments.get(height) ?? []).reduce((n, i) => n + WAL_HEADER_BYTES + encodedBytes(i), 0)
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
  /** How records are written (tests hand in one that writes short). @default fs.writeSync */
  write?: WriteFn
  /** Bytes read from a segment at a time when replaying (a record may span reads). @default 1 MiB */
  readChunkBytes?: number
}

export class FileWal implements Wal {
  readonly #dir: string
  readonly #faults: FaultHook
  readonly #write: WriteFn | undefined
  readonly #readChunk: number
  #fd = -1
  #height = 0
  #writtenBytes = 0
  #syncedBytes = 0

  constructor(init: FileWalInit) {
    this.#dir = init.dir
    this.#faults = init.faults ?? noFaults
    this.#write = init.write
    this.#readChunk = init.readChunkBytes ?? 1024 * 1024
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
    const record = encodeWalRecord(payload)
    const action = this.#faults('wal.append')
    if (action === 'crash') throw injected('wal.append')
    const path = this.durable.path
    if (action === 'tear') {
      this.#writtenBytes += writeAll(
        this.#fd,
        record.subarray(0, Math.max(1, record.byteLength >> 1)),
        path,
        this.#write,
      )
      throw injected('wal.append')
    }
    // A short write that throws leaves a partial record: the next open cuts it off as torn.
    writeAll(this.#fd, record, path, this.#write)
    this.#writtenBytes += record.byteLength
    if (sync) this.sync()
  }

  sync(): void {
    if (this.#fd < 0 || this.#syncedBytes === this.#writtenBytes) return
    fsyncSync(this.#fd)
    this.#syncedBytes = this.#writtenBytes
  }

  get segmentBytes(): number {
    return this.#writtenBytes
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
    const fd = openSync(path, 'r')
    let out: ConsensusInput[]
    let tornAt: number | undefined
    try {
      ;({ out, tornAt } = this.#readRecords(fd, path, isLast))
    } finally {
      closeSync(fd)
    }
    if (tornAt !== undefined) this.#repair(path, tornAt)
    return out
  }

  /** Every record of the open segment `fd`, and where a torn tail starts (last segment only). */
  #readRecords(fd: number, path: string, isLast: boolean): { out: ConsensusInput[]; tornAt?: number } {
    const size = fstatSync(fd).size
    const reader = new SegmentReader(fd, size, this.#readChunk)
    const out: ConsensusInput[] = []
    let offset = 0
    while (offset < size) {
      const remaining = size - offset
      const header = remaining >= WAL_HEADER_BYTES ? reader.read(offset, WAL_HEADER_BYTES) : undefined
      const length = header === undefined ? -1 : new DataView(header.buffer, header.byteOffset, 8).getUint32(0)
      const torn = length < 0 || length > remaining - WAL_HEADER_BYTES
      if (length === 0) {
        // Zeros where a record should start: blocks the file system allocated but never wrote
        // before a power loss. From here to the end of the last segment, that is a torn tail.
        if (isLast && reader.allZero(offset, size)) return { out, tornAt: offset }
        throw new WalCorruptError(path, offset, 'record of length 0')
      }
      if (length > MAX_WAL_RECORD_BYTES && !(isLast && torn))
        throw new WalCorruptError(path, offset, `record length ${length} exceeds the bound`)
      if (torn) {
        if (!isLast) throw new WalCorruptError(path, offset, 'truncated record in a closed segment')
        return { out, tornAt: offset }
      }
      const crc = new DataView((header as Uint8Array).buffer, (header as Uint8Array).byteOffset, 8).getUint32(4)
      const lengthBytes = (header as Uint8Array).slice(0, 4)
      // A copy: the decoded input may keep views of it, and the reader reuses its buffer.
      const payload = reader.read(offset + WAL_HEADER_BYTES, length).slice()
      const end = offset + WAL_HEADER_BYTES + length
      if (recordCrc(lengthBytes, payload) !== crc) {
        // A bad checksum on the final record is a write cut short; before it, it is damage.
        if (isLast && end === size) return { out, tornAt: offset }
        throw new WalCorruptError(path, offset, 'CRC mismatch')
      }
      try {
        out.push(decodeInput(payload))
      } catch (error) {
        throw new WalCorruptError(path, offset, `record does not decode: ${String(error)}`)
      }
      offset = end
    }
    return { out }
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

/**
 * Reads a segment through one buffer of `chunkBytes` (grown only for a record larger than
 * that, which MAX_WAL_RECORD_BYTES bounds), so replay never holds a whole segment.
 */
class SegmentReader {
  readonly #fd: number
  readonly #size: number
  #buffer: Uint8Array
  /** File offset of `#buffer[0]`, and how many of its bytes are valid. */
  #start = 0
  #filled = 0

  constructor(fd: number, size: number, chunkBytes: number) {
    this.#fd = fd
    this.#size = size
    this.#buffer = new Uint8Array(Math.max(WAL_HEADER_BYTES, chunkBytes))
  }

  /** `length` bytes at file offset `offset` (a view valid until the next call). */
  read(offset: number, length: number): Uint8Array {
    if (offset < this.#start || offset + length > this.#start + this.#filled) {
      if (length > this.#buffer.byteLength) this.#buffer = new Uint8Array(length)
      const want = Math.min(this.#buffer.byteLength, this.#size - offset)
      let got = 0
      while (got < want) {
        const n = readSync(this.#fd, this.#buffer, got, want - got, offset + got)
        if (n === 0) break
        got += n
      }
      this.#start = offset
      this.#filled = got
    }
    const at = offset - this.#start
    return this.#buffer.subarray(at, at + length)
  }

  /** Whether every byte from `offset` to `end` is zero. */
  allZero(offset: number, end: number): boolean {
    for (let o = offset; o < end; ) {
      const n = Math.min(this.#buffer.byteLength, end - o)
      const bytes = this.read(o, n)
      for (let i = 0; i < bytes.byteLength; i++) if (bytes[i] !== 0) return false
      o += n
    }
    return true
  }
}
