import { strict as assert } from 'node:assert'
import type { Stream } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import * as varint from 'uint8-varint'
import { ActivationRejectedError, type ReceivedTensor } from '../../src/net/activation-stream.ts'
import { encodeMessage } from '../../src/net/codec.ts'
import { DeadlineExceededError, MalformedMessageError } from '../../src/net/errors.ts'
import { rawCid } from '../../src/net/hashing.ts'
import { at, type Cluster, connect, randomBytes, startNodes, waitFor } from './helpers.ts'

const MiB = 1024 * 1024

/** Read the receiver's reply (ack or nack) from a raw stream. */
async function readReply(stream: Stream): Promise<{ ok: boolean; code?: string; reason?: string }> {
  const { decodeMessage } = await import('../../src/net/codec.ts')
  for await (const frame of lp.decode(stream)) {
    return decodeMessage(frame.subarray(), 1024) as { ok: boolean; code?: string; reason?: string }
  }
  throw new Error('no reply')
}

describe('net: activation streams', function () {
  this.timeout(120_000)
  let cluster: Cluster
  const received: ReceivedTensor[] = []

  before(async () => {
    cluster = await startNodes(2, (i) => (i === 1 ? { activations: { maxTensorBytes: 65 * MiB } } : {}))
    await connect(at(cluster.nodes, 0), at(cluster.nodes, 1))
    at(cluster.nodes, 1).activations.onTensor((tensor) => {
      received.push(tensor)
    })
  })
  after(async () => cluster?.stop())

  it('moves a 64 MiB tensor byte-identical and checks its CID', async () => {
    const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
    const bytes = randomBytes(64 * MiB, 7)
    const result = await a.activations.send(b.peerId, { direction: 'forward', window: 3, step: 9, bytes })
    assert.equal(result.cid.toString(), rawCid(bytes).toString())
    await waitFor(() => received.length === 1, 10_000, 'tensor handed over')
    const tensor = at(received, 0)
    assert.equal(tensor.header.direction, 'forward')
    assert.equal(tensor.header.window, 3)
    assert.equal(tensor.header.step, 9)
    assert.equal(tensor.from.toString(), a.peerId.toString())
    assert.ok(Buffer.from(tensor.bytes).equals(Buffer.from(bytes)), 'bytes differ')
  })

  it('receives into a released buffer again, and the new tensor is intact', async () => {
    const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
    const first = randomBytes(3 * MiB + 5, 11)
    const second = randomBytes(3 * MiB + 5, 12)
    const before = received.length
    const reusedBefore = b.activations.reusedBuffers
    await a.activations.send(b.peerId, { direction: 'forward', window: 0, step: 1, bytes: first })
    await waitFor(() => received.length === before + 1, 10_000, 'first tensor')
    const kept = at(received, before)
    assert.ok(Buffer.from(kept.bytes).equals(Buffer.from(first)))
    const buffer = kept.bytes
    kept.release()
    await a.activations.send(b.peerId, { direction: 'forward', window: 0, step: 2, bytes: second })
    await waitFor(() => received.length === before + 2, 10_000, 'second tensor')
    const next = at(received, before + 1)
    assert.equal(b.activations.reusedBuffers, reusedBefore + 1)
    assert.equal(next.bytes, buffer, 'the released buffer was taken again')
    assert.ok(Buffer.from(next.bytes).equals(Buffer.from(second)), 'bytes differ')
    next.release()
  })

  /** Open a raw stream, write `frames` (already framed), and return the receiver's reply. */
  async function sendRaw(frames: Uint8Array[]): Promise<{ ok: boolean; code?: string; reason?: string }> {
    const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
    const stream = await a.libp2p.dialProtocol(b.peerId, b.activations.protocol)
    const reply = readReply(stream)
    for (const frame of frames) stream.send(frame)
    // The receiver may refuse before reading everything; only its reply matters here.
    await stream.close().catch(() => {})
    return reply
  }

  const header = (sizeBytes: number, cid: string) =>
    encodeMessage({ v: 1, direction: 'forward', window: 0, step: 0, sizeBytes, cid }, 1024)
  const frame = (bytes: Uint8Array) => lp.encode.single(bytes).subarray()

  it('rejects bad input with a clear reason and stays up, memory bounded', async () => {
    const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
    const data = randomBytes(1000, 1)
    const cid = rawCid(data).toString()
    const heapBefore = process.memoryUsage().heapUsed

    // Malformed header: not msgpack.
    let reply = await sendRaw([frame(new Uint8Array([0xc1, 0xc1]))])
    assert.equal(reply.ok, false)
    assert.equal(reply.code, 'ERR_BAD_FRAME')
    assert.match(reply.reason ?? '', /header/)

    // Header with a field of the wrong type.
    reply = await sendRaw([frame(encodeMessage({ v: 1, direction: 'sideways', window: 0, step: 0 }, 1024))])
    assert.equal(reply.code, 'ERR_BAD_FRAME')

    // Announces a tensor over the cap: refused before anything is allocated.
    reply = await sendRaw([frame(header(b.activations.maxTensorBytes + 1, cid))])
    assert.equal(reply.code, 'ERR_MESSAGE_TOO_LARGE')

    // A frame over the frame cap (its length prefix alone says so).
    const oversized = new Uint8Array(b.activations.maxFrameBytes + 1024)
    reply = await sendRaw([frame(header(oversized.byteLength, rawCid(oversized).toString())), frame(oversized)])
    assert.equal(reply.code, 'ERR_BAD_FRAME')
    assert.match(reply.reason ?? '', /cap/)

    // Truncated: the stream ends after half the announced bytes.
    reply = await sendRaw([frame(header(data.byteLength, cid)), frame(data.subarray(0, 500))])
    assert.equal(reply.code, 'ERR_BAD_FRAME')
    assert.match(reply.reason ?? '', /truncated/)

    // Truncated inside a frame: the length prefix promises more than arrives.
    reply = await sendRaw([frame(header(data.byteLength, cid)), frame(data).subarray(0, 100)])
    assert.equal(reply.code, 'ERR_BAD_FRAME')

    // More bytes than announced.
    reply = await sendRaw([frame(header(10, rawCid(data.subarray(0, 10)).toString())), frame(data)])
    assert.equal(reply.code, 'ERR_BAD_FRAME')
    assert.match(reply.reason ?? '', /more bytes/)

    // Wrong CID: bytes that do not hash to what the header claims.
    const other = rawCid(randomBytes(1000, 2)).toString()
    reply = await sendRaw([frame(header(data.byteLength, other)), frame(data)])
    assert.equal(reply.code, 'ERR_CONTENT_INTEGRITY')

    // A caller-supplied CID that does not match is caught by the receiver.
    await assert.rejects(
      a.activations.send(b.peerId, {
        direction: 'forward',
        window: 0,
        step: 0,
        bytes: data,
        cid: rawCid(data.subarray(1)),
      }),
      (error: unknown) => error instanceof ActivationRejectedError && error.remoteCode === 'ERR_CONTENT_INTEGRITY',
    )

    // The sender's API surfaces a nack as a typed error naming the receiver's reason.
    await assert.rejects(
      a.activations.send(b.peerId, { direction: 'backward', window: 0, step: 0, bytes: new Uint8Array(65 * MiB + 1) }),
      (error: unknown) => error instanceof ActivationRejectedError && error.remoteCode === 'ERR_MESSAGE_TOO_LARGE',
    )
    // A deadline that cannot be met is a DeadlineExceededError.
    await assert.rejects(
      a.activations.send(b.peerId, { direction: 'forward', window: 0, step: 0, bytes: data }, { deadlineMs: 0 }),
      (error: unknown) => error instanceof DeadlineExceededError,
    )

    // The node is still up and serves a good tensor.
    await a.activations.send(b.peerId, { direction: 'backward', window: 1, step: 1, bytes: data })
    assert.ok(b.activations.received >= 2)
    assert.ok((b.activations.rejected.get('ERR_BAD_FRAME') ?? 0) >= 6)
    // Memory: nothing of the refused streams is kept (a generous bound; the 64 MiB test ran before).
    const heapAfter = process.memoryUsage().heapUsed
    assert.ok(heapAfter - heapBefore < 32 * MiB, `heap grew by ${heapAfter - heapBefore} bytes`)
  })

  it('a receiver answering with an ack frame over the cap, or cut short, fails the send with a typed error naming it', async () => {
    const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
    const data = randomBytes(1000, 21)
    const replies = [
      { what: 'an ack announcing 1 GiB', bytes: new Uint8Array([...varint.encode(1024 * MiB), 0x80]) },
      { what: 'an ack cut short', bytes: new Uint8Array([...varint.encode(100), 0x80, 0xc3]) },
    ]
    try {
      for (const reply of replies) {
        await b.libp2p.unhandle(b.activations.protocol)
        await b.libp2p.handle(b.activations.protocol, (stream) => {
          stream.send(reply.bytes)
          stream.close().catch(() => {})
        })
        const error = await a.activations
          .send(b.peerId, { direction: 'forward', window: 0, step: 0, bytes: data })
          .then(
            () => undefined,
            (e: unknown) => e,
          )
        assert.ok(error instanceof MalformedMessageError, `${reply.what}: a typed error, not ${String(error)}`)
        assert.match(error.message, new RegExp(`ack from ${b.peerId}`))
      }
    } finally {
      await b.libp2p.unhandle(b.activations.protocol)
      await b.activations.start()
    }
    // The failed sends reset their streams: they hold none of the receiver's slots, and the
    // restored receiver takes the next tensor.
    await a.activations.send(b.peerId, { direction: 'forward', window: 0, step: 0, bytes: data })
  })
})
