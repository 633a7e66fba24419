/**
 * The stream adapters (net/stream-io.ts) on libp2p's own in-memory stream pair: the reader
 * delivers every byte the remote wrote before it closed, including bytes another reader took
 * off the stream and pushed back after the stream's one 'end' event had fired.
 */
import { strict as assert } from 'node:assert'
import type { Stream } from '@libp2p/interface'
import { lpStream, streamPair } from '@libp2p/utils'
import { streamSource } from '../../src/net/stream-io.ts'

async function readAll(stream: Stream): Promise<number[]> {
  const bytes: number[] = []
  for await (const chunk of streamSource(stream)) bytes.push(...chunk.subarray())
  return bytes
}

/** Resolves once `stream` has emitted 'end' (the remote closed its writable end, nothing is buffered). */
async function ended(stream: Stream): Promise<void> {
  if (stream.readableEnded) return
  await new Promise<void>((resolve) => stream.addEventListener('end', () => resolve(), { once: true }))
}

describe('net: stream adapters', () => {
  it('reads what the remote wrote, then ends when it closes', async () => {
    const [local, remote] = await streamPair()
    remote.send(Uint8Array.of(1, 2, 3))
    remote.send(Uint8Array.of(4))
    await remote.close()
    assert.deepEqual(await readAll(local), [1, 2, 3, 4])
  })

  it('delivers bytes pushed back after the stream ended: a reply the remote wrote with its protocol line, then closed', async () => {
    // What multistream-select does on every dialled stream: it reads the protocol line through
    // a length-prefixed reader, which takes whole chunks off the stream, then hands the stream
    // back, pushing what it read past the line back into the stream's buffer. A remote that
    // answered and closed at once has by then made the stream emit its one 'end'.
    const [local, remote] = await streamPair()
    const reply = Uint8Array.of(9, 8, 7)
    remote.send(Uint8Array.of(2, 0x70, 0x0a, ...reply))
    await remote.close()
    const negotiation = lpStream(local)
    assert.deepEqual([...(await negotiation.read()).subarray()], [0x70, 0x0a])
    await ended(local)
    negotiation.unwrap()
    assert.equal(local.readableEnded, true, 'the stream has ended')
    assert.equal(local.readBufferLength, reply.byteLength, 'with the reply pushed back')
    assert.deepEqual(await readAll(local), [...reply])
  })

  it('ends at once on a stream that ended with nothing left to read', async () => {
    const [local, remote] = await streamPair()
    await remote.close()
    const drain = lpStream(local)
    await assert.rejects(drain.read())
    drain.unwrap()
    await ended(local)
    assert.deepEqual(await readAll(local), [])
  })
})
