import { strict as assert } from 'node:assert'
import * as lp from 'it-length-prefixed'
import { Uint8ArrayList } from 'uint8arraylist'
import { BufferPool } from '../../src/net/buffer-pool.ts'
import { BadFrameError } from '../../src/net/errors.ts'
import { FrameReader } from '../../src/net/frame-reader.ts'
import { randomBytes } from './helpers.ts'

/** `bytes` cut into pieces of the given sizes, the way a stream might deliver them. */
async function* cut(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array | Uint8ArrayList> {
  let offset = 0
  let i = 0
  while (offset < bytes.byteLength) {
    const size = sizes[i++ % sizes.length] ?? 1
    const piece = bytes.subarray(offset, offset + size)
    offset += piece.byteLength
    // Every other piece as a two-part Uint8ArrayList, as noise and yamux hand them over.
    if (i % 2 === 0 && piece.byteLength > 1) {
      const half = Math.floor(piece.byteLength / 2)
      yield new Uint8ArrayList(piece.subarray(0, half), piece.subarray(half))
    } else yield piece
  }
}

function framed(...frames: Uint8Array[]): Uint8Array {
  return new Uint8ArrayList(...frames.map((f) => lp.encode.single(f))).subarray()
}

describe('net: frame reader', () => {
  it('reads frames split at any byte, including inside the length prefix', async () => {
    const small = randomBytes(300, 1)
    const large = randomBytes(200_000, 2)
    const wire = framed(small, large, new Uint8Array(0))
    for (const sizes of [[1], [2, 7], [3, 65_536], [wire.byteLength]]) {
      const reader = new FrameReader(cut(wire, sizes))
      const first = await reader.nextLength(1024)
      assert.equal(first, 300)
      assert.deepEqual(await reader.readBytes(300), small)
      const length = await reader.nextLength(1 << 20)
      assert.equal(length, large.byteLength)
      const target = new Uint8Array(large.byteLength + 10)
      const seen: number[] = []
      await reader.readInto(target, 10, large.byteLength, (piece) => seen.push(piece.byteLength))
      assert.deepEqual(target.subarray(10), large)
      assert.equal(
        seen.reduce((a, b) => a + b, 0),
        large.byteLength,
        'every byte passed to onPiece once',
      )
      assert.equal(await reader.nextLength(10), 0)
      assert.equal(await reader.nextLength(10), undefined, 'clean end between frames')
    }
  })

  it('refuses a length over the cap before reading the frame, and names truncation', async () => {
    const wire = framed(randomBytes(5000, 3))
    await assert.rejects(
      new FrameReader(cut(wire, [100])).nextLength(4096),
      (error: unknown) => error instanceof BadFrameError && /5000 bytes over the cap of 4096/.test(error.message),
    )
    // The prefix of a 5000-byte frame is two bytes; stop after the first.
    await assert.rejects(
      new FrameReader(cut(wire.subarray(0, 1), [1])).nextLength(1 << 20),
      (error: unknown) => error instanceof BadFrameError && /truncated frame length prefix/.test(error.message),
    )
    const reader = new FrameReader(cut(wire.subarray(0, 1000), [64]))
    const length = await reader.nextLength(1 << 20)
    assert.equal(length, 5000)
    await assert.rejects(
      reader.readInto(new Uint8Array(5000), 0, 5000),
      (error: unknown) => error instanceof BadFrameError && /truncated frame: 998 of 5000/.test(error.message),
    )
    // Ten continuation bytes are no length at all.
    await assert.rejects(
      new FrameReader(cut(new Uint8Array(10).fill(0xff), [10])).nextLength(1 << 20),
      (error: unknown) => error instanceof BadFrameError && /bad frame length prefix/.test(error.message),
    )
  })
})

describe('net: receive buffer pool', () => {
  it('hands a released buffer out again for the same size only, once, within its bounds', () => {
    const pool = new BufferPool({ maxBytes: 3000, maxBuffers: 2 })
    const a = pool.acquire(1000)
    assert.equal(a.byteLength, 1000)
    pool.release(a)
    pool.release(a) // a second release must not let two acquirers share it
    assert.equal(pool.keptBytes, 1000)
    assert.notEqual(pool.acquire(999), a, 'another size gets a new buffer')
    assert.equal(pool.acquire(1000), a)
    assert.notEqual(pool.acquire(1000), a, 'handed out once')
    assert.equal(pool.reused, 1)

    // Bounds: count and bytes.
    pool.release(new Uint8Array(1000))
    pool.release(new Uint8Array(1000))
    pool.release(new Uint8Array(1000))
    assert.equal(pool.keptBytes, 2000, 'at most two buffers kept')
    const big = new BufferPool({ maxBytes: 1500 })
    big.release(new Uint8Array(2000))
    assert.equal(big.keptBytes, 0, 'a buffer over the byte bound is not kept')
    // A view into a larger buffer would pin memory the pool does not count.
    big.release(new Uint8Array(4000).subarray(0, 1000))
    assert.equal(big.keptBytes, 0)
  })
})
