import { strict as assert } from 'node:assert'
import type { Stream } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import * as varint from 'uint8-varint'
import { cidOf } from '../../src/codec/cid.ts'
import { ActivationRejectedError, type ReceivedTensor } from '../../src/net/activation-stream.ts'
import { encodeMessage } from '../../src/net/codec.ts'
import { DeadlineExceededError, MalformedMessageError } from '../../src/net/errors.ts'
import type { NetNode } from '../../src/net/node.ts'
import { sleep } from '../../src/runtime/clock.ts'
import { at, type Cluster, clock, connect, randomBytes, startNodes, waitFor } from './helpers.ts'

const MiB = 1024 * 1024

/** Read the receiver's reply (ack or nack) from a raw stream. */
async function readReply(stream: Stream): Promise<{ ok: boolean; code?: string; reason?: string }> {
  const { decodeMessage } = await import('../../src/net/codec.ts')
  for await (const frame of lp.decode(stream)) {
    return decodeMessage(frame.subarray(), 1024) as { ok: boolean; code?: string; reason?: string }
  }
  throw new Error('no reply')
}

const lpFrame = (bytes: Uint8Array) => lp.encode.single(bytes).subarray()
/** The header of a forward tensor of `sizeBytes`, framed. */
const tensorHeaderFrame = (sizeBytes: number) =>
  lpFrame(
    encodeMessage(
      {
        v: 2,
        direction: 'forward',
        window: 0,
        step: 0,
        innerStep: 0,
        microBatch: 0,
        sizeBytes,
        cid: cidOf(randomBytes(32, 1)).toString(),
      },
      1024,
    ),
  )
/** A raw stream from `attacker` to `victim`, with the victim's reply (ack or nack) as it comes. */
async function openRaw(
  attacker: NetNode,
  victim: NetNode,
): Promise<{ stream: Stream; reply: Promise<{ ok: boolean; code?: string }> }> {
  const stream = await attacker.libp2p.dialProtocol(victim.peerId, victim.activations.protocol)
  const reply = readReply(stream).catch(() => ({ ok: false, code: 'no reply' }))
  return { stream, reply }
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
    assert.equal(result.cid.toString(), cidOf(bytes).toString())
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
    encodeMessage({ v: 2, direction: 'forward', window: 0, step: 0, innerStep: 0, microBatch: 0, sizeBytes, cid }, 1024)
  const frame = (bytes: Uint8Array) => lp.encode.single(bytes).subarray()

  it('rejects bad input with a clear reason and stays up, memory bounded', async () => {
    const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
    const data = randomBytes(1000, 1)
    const cid = cidOf(data).toString()
    const heapBefore = process.memoryUsage().heapUsed

    // Malformed header: not msgpack.
    let reply = await sendRaw([frame(new Uint8Array([0xc1, 0xc1]))])
    assert.equal(reply.ok, false)
    assert.equal(reply.code, 'ERR_BAD_FRAME')
    assert.match(reply.reason ?? '', /header/)

    // Header with a field of the wrong type.
    reply = await sendRaw([
      frame(encodeMessage({ v: 2, direction: 'sideways', window: 0, step: 0, innerStep: 0, microBatch: 0 }, 1024)),
    ])
    assert.equal(reply.code, 'ERR_BAD_FRAME')

    // Announces a tensor over the cap: refused before anything is allocated.
    reply = await sendRaw([frame(header(b.activations.maxTensorBytes + 1, cid))])
    assert.equal(reply.code, 'ERR_MESSAGE_TOO_LARGE')

    // A frame over the frame cap (its length prefix alone says so).
    const oversized = new Uint8Array(b.activations.maxFrameBytes + 1024)
    reply = await sendRaw([frame(header(oversized.byteLength, cidOf(oversized).toString())), frame(oversized)])
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
    reply = await sendRaw([frame(header(10, cidOf(data.subarray(0, 10)).toString())), frame(data)])
    assert.equal(reply.code, 'ERR_BAD_FRAME')
    assert.match(reply.reason ?? '', /more bytes/)

    // Wrong CID: bytes that do not hash to what the header claims.
    const other = cidOf(randomBytes(1000, 2)).toString()
    reply = await sendRaw([frame(header(data.byteLength, other)), frame(data)])
    assert.equal(reply.code, 'ERR_CONTENT_INTEGRITY')

    // A caller-supplied CID that does not match is caught by the receiver.
    await assert.rejects(
      a.activations.send(b.peerId, {
        direction: 'forward',
        window: 0,
        step: 0,
        bytes: data,
        cid: cidOf(data.subarray(1)),
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

/**
 * Three nodes: node 0 receives (at the default tensor cap, 256 MiB, with these idle and
 * in-flight bounds) into `received`; nodes 1 and 2 are connected to it to attack it.
 */
async function startVictim(
  idleMs: number,
  maxInFlightBytes: number,
  received: ReceivedTensor[],
): Promise<{ cluster: Cluster; victim: NetNode }> {
  const cluster = await startNodes(3, (i) => (i === 0 ? { activations: { idleMs, maxInFlightBytes } } : {}))
  const victim = at(cluster.nodes, 0)
  await connect(at(cluster.nodes, 1), victim)
  await connect(at(cluster.nodes, 2), victim)
  victim.activations.onTensor((tensor) => {
    received.push(tensor)
  })
  return { cluster, victim }
}

describe('net: activation streams against senders that announce much and send little', function () {
  this.timeout(60_000)
  const IDLE_MS = 500
  const MAX_IN_FLIGHT = 24 * MiB
  let cluster: Cluster
  let victim: NetNode
  const received: ReceivedTensor[] = []

  before(async () => {
    ;({ cluster, victim } = await startVictim(IDLE_MS, MAX_IN_FLIGHT, received))
  })
  after(async () => cluster?.stop())

  const open = (attacker: NetNode) => openRaw(attacker, victim)
  const refusals = (code: string) => victim.activations.rejected.get(code) ?? 0

  it('headers announcing the largest tensor, then silence: nothing is taken, and the streams are closed when idle', async () => {
    const attacker = at(cluster.nodes, 1)
    const maxTensor = victim.activations.maxTensorBytes
    assert.ok(maxTensor >= 256 * MiB)
    const acquiredBefore = victim.activations.acquiredBytes
    const idleBefore = refusals('ERR_STREAM_IDLE')
    const arrayBuffersBefore = process.memoryUsage().arrayBuffers
    const streams: Stream[] = []
    for (let i = 0; i < 4; i++) {
      const { stream } = await open(attacker)
      // The header, and the first byte of a data frame's length prefix.
      stream.send(tensorHeaderFrame(maxTensor))
      stream.send(Uint8Array.of(0x80))
      streams.push(stream)
    }
    // Half the idle time: the headers are in, the streams not yet closed.
    await sleep(clock, IDLE_MS / 2)
    const grownBytes = process.memoryUsage().arrayBuffers - arrayBuffersBefore
    assert.ok(grownBytes < 16 * MiB, `array buffers grew by ${grownBytes} bytes while the headers were held`)
    assert.equal(victim.activations.inFlightBytes, 0, 'nothing is held for a header')
    assert.equal(refusals('ERR_STREAM_IDLE'), idleBefore)
    // Closed once idle, long before the exchange's deadline (60 s).
    await waitFor(() => refusals('ERR_STREAM_IDLE') === idleBefore + 4, 5_000, 'the idle streams to be closed')
    await waitFor(() => streams.every((s) => s.status !== 'open'), 5_000, 'the attacker to see its streams closed')
    assert.equal(victim.activations.acquiredBytes, acquiredBefore, 'no receive buffer was taken for a header')
    assert.equal(victim.activations.inFlightBytes, 0)
  })

  it('a trickle of a huge tensor holds only what it sent (plus a piece), and is closed when it stops', async () => {
    const attacker = at(cluster.nodes, 1)
    const idleBefore = refusals('ERR_STREAM_IDLE')
    const { stream } = await open(attacker)
    stream.send(tensorHeaderFrame(256 * MiB))
    let sent = 0
    for (let i = 0; i < 6; i++) {
      stream.send(lpFrame(randomBytes(256 * 1024, 10 + i)))
      sent += 256 * 1024
      await waitFor(() => victim.activations.inFlightBytes > 0, 5_000, 'the bytes to arrive')
      assert.ok(
        victim.activations.inFlightBytes <= sent + MiB,
        `${victim.activations.inFlightBytes} bytes held after ${sent} bytes were sent`,
      )
      await sleep(clock, IDLE_MS / 4)
    }
    // Then it stops: closed, and what it made the node hold is given back.
    await waitFor(() => refusals('ERR_STREAM_IDLE') === idleBefore + 1, 5_000, 'the stalled stream to be closed')
    assert.equal(victim.activations.inFlightBytes, 0)
  })
})

describe('net: activation streams holding the node-wide in-flight bound', function () {
  this.timeout(60_000)
  // Long enough that the holders stay open, on a loaded machine, while the bound fills and the
  // next stream is refused; the test then waits this long for them to be closed as idle.
  const IDLE_MS = 5_000
  const MAX_IN_FLIGHT = 24 * MiB
  let cluster: Cluster
  let victim: NetNode
  const received: ReceivedTensor[] = []

  before(async () => {
    ;({ cluster, victim } = await startVictim(IDLE_MS, MAX_IN_FLIGHT, received))
  })
  after(async () => cluster?.stop())

  const refusals = (code: string) => victim.activations.rejected.get(code) ?? 0

  it('streams holding the bound: the next is refused on its header, then honest tensors pass again', async () => {
    const [first, second] = [at(cluster.nodes, 1), at(cluster.nodes, 2)]
    const limitBefore = refusals('ERR_IN_FLIGHT_BYTES_LIMIT')
    const idleBefore = refusals('ERR_STREAM_IDLE')
    // Three streams (from two peers) each send 8 MiB of a 256 MiB tensor and stall: 24 MiB, the bound.
    const holders = [await openRaw(first, victim), await openRaw(first, victim), await openRaw(second, victim)]
    for (const [i, { stream }] of holders.entries()) {
      stream.send(tensorHeaderFrame(256 * MiB))
      for (let k = 0; k < 8; k++) stream.send(lpFrame(randomBytes(MiB, 100 + 8 * i + k)))
    }
    await waitFor(() => victim.activations.inFlightBytes === MAX_IN_FLIGHT, 20_000, 'the holders to fill the bound')
    // A new stream, even for a small tensor, is refused on its header, its payload unread.
    const next = await openRaw(second, victim)
    next.stream.send(tensorHeaderFrame(64 * 1024))
    const reply = await next.reply
    assert.equal(reply.code, 'ERR_IN_FLIGHT_BYTES_LIMIT')
    assert.equal(refusals('ERR_IN_FLIGHT_BYTES_LIMIT'), limitBefore + 1)
    // Refused for the bound the holders still held, not for room an idle close had made.
    assert.equal(refusals('ERR_STREAM_IDLE'), idleBefore, 'a holder was closed as idle before the refusal')
    assert.equal(victim.activations.inFlightBytes, MAX_IN_FLIGHT)
    // The holders go idle and are closed; an honest tensor larger than a piece then passes.
    await waitFor(() => victim.activations.inFlightBytes === 0, IDLE_MS + 15_000, 'the stalled holders to be closed')
    assert.equal(refusals('ERR_STREAM_IDLE'), idleBefore + 3)
    const bytes = randomBytes(6 * MiB + 3, 99)
    const before = received.length
    await second.activations.send(victim.peerId, { direction: 'backward', window: 1, step: 2, bytes })
    await waitFor(() => received.length === before + 1, 10_000, 'the honest tensor')
    assert.ok(Buffer.from(at(received, before).bytes).equals(Buffer.from(bytes)), 'bytes differ')
    for (const { stream } of [...holders, next]) stream.abort(new Error('test over'))
  })
})
