/**
 * Durability on a disk that writes short and a power loss that leaves zeros: a short write
 * never replaces a good file with a truncated one, a zero-filled WAL tail is a torn tail (the
 * node restarts with the records before it), and a segment is replayed record by record.
 */
import assert from 'node:assert/strict'
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ConsensusInput } from '../../src/consensus/core-types.ts'
import { FileWal } from '../../src/consensus/wal.ts'
import { type WriteFn, writeFileDurable } from '../../src/runtime/durable-file.ts'
import { R3mesError } from '../../src/runtime/errors.ts'

/** A disk that takes at most `perCall` bytes per write, and none at all after `total`. */
function shortWriter(perCall: number, total = Number.POSITIVE_INFINITY): WriteFn & { calls: number } {
  let written = 0
  const fn = Object.assign(
    (fd: number, buffer: Uint8Array, offset: number, length: number): number => {
      fn.calls++
      const n = Math.min(perCall, length, total - written)
      if (n <= 0) return 0
      const done = writeSync(fd, buffer, offset, n)
      written += done
      return done
    },
    { calls: 0 },
  )
  return fn
}

const timeout = (round: number): ConsensusInput => ({ type: 'timeout', kind: 'prevote', height: 1, round })

describe('durability: short writes and zero-filled tails', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-durable-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('writes a whole file through a disk that writes a few bytes at a time', () => {
    const path = join(dir, 'state.bin')
    const data = new Uint8Array(1000).map((_, i) => i % 251)
    const write = shortWriter(7)
    writeFileDurable(path, data, write)
    assert.ok(write.calls > 100, 'the write went in many short pieces')
    assert.deepEqual(new Uint8Array(readFileSync(path)), data)
  })

  it('keeps the good file when the disk stops taking bytes, with ShortWriteError naming the file', () => {
    const path = join(dir, 'state.bin')
    const good = new Uint8Array(64).fill(1)
    writeFileDurable(path, good)
    assert.throws(
      () => writeFileDurable(path, new Uint8Array(4096).fill(2), shortWriter(100, 1000)),
      (e: unknown) =>
        e instanceof R3mesError &&
        e.name === 'ShortWriteError' &&
        e.code === 'ERR_SHORT_WRITE' &&
        e.message.includes('1000 of 4096'),
    )
    assert.deepEqual(new Uint8Array(readFileSync(path)), good, 'the good file is untouched')
    assert.equal(existsSync(`${path}.tmp`), false, 'no partial temporary file is left')
  })

  it('appends whole WAL records through a disk that writes short', () => {
    const wal = new FileWal({ dir, write: shortWriter(3) })
    wal.startHeight(1)
    const inputs = [0, 1, 2, 3].map(timeout)
    for (const i of inputs) wal.append(i, true)
    wal.close()
    assert.deepEqual(new FileWal({ dir }).readFrom(1), inputs)
  })

  it('takes a zero-filled WAL tail (a power loss) as torn: cuts it and replays the records before it', () => {
    const wal = new FileWal({ dir })
    wal.startHeight(1)
    const inputs = [0, 1, 2].map(timeout)
    for (const i of inputs) wal.append(i, true)
    wal.close()
    const [file] = readdirSync(dir)
    const path = join(dir, file as string)
    const goodSize = statSync(path).size
    appendFileSync(path, new Uint8Array(4096))
    const reopened = new FileWal({ dir })
    assert.deepEqual(reopened.readFrom(1), inputs)
    assert.equal(statSync(path).size, goodSize, 'the zeros are cut off')
    reopened.startHeight(1)
    reopened.append(timeout(3), true)
    reopened.close()
    assert.deepEqual(new FileWal({ dir }).readFrom(1), [...inputs, timeout(3)])
  })

  it('replays a segment many times its read buffer, record by record, records larger than the buffer included', () => {
    const wal = new FileWal({ dir })
    wal.startHeight(1)
    const inputs: ConsensusInput[] = []
    const vrfProof = new Uint8Array(80).fill(3)
    for (let i = 0; i < 3000; i++) {
      const txs = i % 500 === 0 ? [new Uint8Array(20_000).fill(i % 256)] : []
      inputs.push({ type: 'proposalContent', height: 1, round: i, timeMs: i, txs, evidence: [], vrfProof })
    }
    for (const i of inputs) wal.append(i, false)
    wal.close()
    const [file] = readdirSync(dir)
    const size = statSync(join(dir, file as string)).size
    const readChunkBytes = 4096
    assert.ok(size > 50 * readChunkBytes, `segment of ${size} bytes`)
    assert.deepEqual(new FileWal({ dir, readChunkBytes }).readFrom(1), inputs)
    // A torn last record still repairs when read through the small buffer.
    const data = readFileSync(join(dir, file as string))
    writeFileSync(join(dir, file as string), data.subarray(0, data.length - 5))
    assert.deepEqual(new FileWal({ dir, readChunkBytes }).readFrom(1), inputs.slice(0, -1))
  })
})
