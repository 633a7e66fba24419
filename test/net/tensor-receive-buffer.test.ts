import { strict as assert } from 'node:assert'
import { BufferPool } from '../../src/net/buffer-pool.ts'
import { InFlightBytesLimitError } from '../../src/net/errors.ts'
import { InFlightBytes, TensorReceiveBuffer } from '../../src/net/tensor-receive-buffer.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { randomBytes } from './helpers.ts'

const init = { eagerBytes: 4096, pieceBytes: 1000 }

/** Write `bytes` into `buffer` in slices of random lengths (so slices straddle pieces). */
function writeInSlices(buffer: TensorReceiveBuffer, bytes: Uint8Array, seed: number, check?: () => void): void {
  const random = new SeededRandom(seed)
  for (let at = 0; at < bytes.byteLength; ) {
    const length = Math.min(bytes.byteLength - at, 1 + (random.nextU32() % 2500))
    buffer.write(bytes.subarray(at, at + length))
    at += length
    check?.()
  }
}

describe('net: tensor receive buffer (memory taken as the bytes arrive)', () => {
  it('takes nothing before the first byte, then pieces as bytes reach them, and assembles the tensor once', () => {
    const inFlight = new InFlightBytes(1 << 20, 'test')
    const bytes = randomBytes(10_007, 3)
    const buffer = new TensorReceiveBuffer(bytes.byteLength, new BufferPool(), inFlight, init)
    assert.equal(inFlight.heldBytes, 0)
    writeInSlices(buffer, bytes, 1, () => {
      // Never more than what arrived, rounded up to a whole piece.
      assert.ok(inFlight.heldBytes <= Math.ceil(buffer.receivedBytes / 1000) * 1000)
      assert.ok(inFlight.heldBytes >= buffer.receivedBytes)
    })
    const out = buffer.finish()
    assert.equal(out.byteLength, bytes.byteLength)
    assert.ok(Buffer.from(out).equals(Buffer.from(bytes)))
    assert.equal(inFlight.heldBytes, 0, 'a finished tensor is no longer in flight')
  })

  it('receives a small tensor, or one whose size the pool keeps, straight into one buffer', () => {
    const inFlight = new InFlightBytes(1 << 20, 'test')
    const pool = new BufferPool()
    const small = randomBytes(3000, 4)
    const direct = new TensorReceiveBuffer(small.byteLength, pool, inFlight, init)
    direct.write(small.subarray(0, 1))
    assert.equal(inFlight.heldBytes, 3000, 'the one buffer, taken with the first byte')
    direct.write(small.subarray(1))
    assert.ok(Buffer.from(direct.finish()).equals(Buffer.from(small)))

    const kept = new Uint8Array(9000)
    pool.release(kept)
    const large = randomBytes(9000, 5)
    const reused = new TensorReceiveBuffer(large.byteLength, pool, inFlight, init)
    writeInSlices(reused, large, 2)
    const out = reused.finish()
    assert.equal(out, kept, 'the kept buffer, no piece in between')
    assert.ok(Buffer.from(out).equals(Buffer.from(large)))
    assert.equal(inFlight.heldBytes, 0)
  })

  it('refuses a piece that would pass the node-wide bound, and gives everything back when disposed', () => {
    const inFlight = new InFlightBytes(2500, 'test')
    const buffer = new TensorReceiveBuffer(10_000, new BufferPool(), inFlight, init)
    buffer.write(new Uint8Array(2000))
    assert.equal(inFlight.heldBytes, 2000)
    assert.throws(() => buffer.write(new Uint8Array(1)), InFlightBytesLimitError)
    assert.throws(() => inFlight.check(TensorReceiveBuffer.firstTakeBytes(10_000, init)), InFlightBytesLimitError)
    buffer.dispose()
    buffer.dispose()
    assert.equal(inFlight.heldBytes, 0)
    inFlight.check(TensorReceiveBuffer.firstTakeBytes(10_000, init))
  })
})
