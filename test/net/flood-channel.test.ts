import { strict as assert } from 'node:assert'
import { BadFrameError } from '../../src/net/errors.ts'
import { encodeMessageFrame, encodeNeighboursFrame, FrameParser, parseFrame } from '../../src/net/flood-channel.ts'
import type { NetNode } from '../../src/net/node.ts'
import { consensusProtocol } from '../../src/net/node.ts'
import { sleep } from '../../src/runtime/clock.ts'
import { at, CHAIN_ID, type Cluster, clock, connect, randomBytes, startNodes, waitFor } from './helpers.ts'

interface Inbox {
  got: { body: Uint8Array; author: string; from: string }[]
  leave: () => void
}

function listen(node: NetNode, refuse?: (body: Uint8Array) => boolean): Inbox {
  const got: Inbox['got'] = []
  const leave = node.consensus.subscribe({
    validate(body) {
      if (refuse?.(body) === true) throw new Error('refused by the test')
    },
    handle(body, context) {
      got.push({ body: body.slice(), ...context })
    },
  })
  return { got, leave }
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const asText = (b: Uint8Array): string => new TextDecoder().decode(b)
const id = (n: NetNode): string => n.peerId.toString()

/** Wait until every node has a stream to each of `expected` peers and knows their neighbours. */
async function settled(nodes: NetNode[], expected: number[]): Promise<void> {
  await waitFor(
    () => nodes.every((n, i) => n.consensus.peers().length === expected[i]),
    10_000,
    `streams (${nodes.map((n) => n.consensus.peers().length)})`,
  )
  await waitFor(
    () => nodes.every((n) => n.consensus.peers().every((p) => n.consensus.knownNeighbours(p) !== undefined)),
    10_000,
    'neighbour lists',
  )
}

describe('net: flood channel (consensus messages on direct streams)', function () {
  this.timeout(60_000)

  describe('frames', () => {
    it('round-trips message and neighbour frames, whatever the chunking', () => {
      const body = randomBytes(3000, 5)
      const message = encodeMessageFrame(0xfffffffe, '12D3KooWauthor', '', body)
      const neighbours = encodeNeighboursFrame(['12D3KooWa', '12D3KooWb'])
      const wire = new Uint8Array([...message.wire, neighbours.byteLength, ...neighbours])
      for (const step of [1, 7, 100, wire.byteLength]) {
        const parser = new FrameParser(10_000)
        const frames: Uint8Array[] = []
        for (let o = 0; o < wire.byteLength; o += step) frames.push(...parser.push(wire.subarray(o, o + step)))
        assert.equal(frames.length, 2, `two frames with chunks of ${step}`)
        const first = parseFrame(frames[0] as Uint8Array)
        assert.equal(first.kind, 'message')
        if (first.kind === 'message') {
          assert.equal(first.seq, 0xfffffffe)
          assert.equal(first.author, '12D3KooWauthor')
          assert.equal(first.to, '')
          assert.ok(Buffer.from(first.body).equals(Buffer.from(body)))
        }
        assert.deepEqual(parseFrame(frames[1] as Uint8Array), { kind: 'neighbours', peers: ['12D3KooWa', '12D3KooWb'] })
      }
    })

    it('refuses a frame over the cap before reading it, and malformed frames by name', () => {
      const parser = new FrameParser(100)
      assert.throws(() => parser.push(Uint8Array.of(0xff, 0x01)), /frame of 255 bytes over the cap of 100/)
      assert.throws(() => parseFrame(Uint8Array.of(9)), /unknown frame kind 9/)
      assert.throws(() => parseFrame(Uint8Array.of(0, 0, 0)), /frame ends inside its sequence number/)
      assert.throws(() => parseFrame(Uint8Array.of(0, 0, 0, 0, 1, 5, 0x41)), /frame ends inside its author/)
      assert.throws(() => parseFrame(Uint8Array.of(0, 0, 0, 0, 1, 0, 0)), /message without an author/)
      assert.throws(() => parseFrame(Uint8Array.of(1, 0, 0, 7)), /bytes after the neighbour list/)
      assert.throws(() => parseFrame(Uint8Array.of(2, 0, 0)), BadFrameError)
    })
  })

  describe('a full mesh of three', () => {
    let cluster: Cluster
    before(async () => {
      cluster = await startNodes(3)
      const [a, b, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
      await connect(a, b)
      await connect(b, c)
      await connect(a, c)
      await settled(cluster.nodes, [2, 2, 2])
    })
    after(async () => cluster?.stop())

    it('hands a message to every other node once, relays nothing, and names its author', async () => {
      const [a, b, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
      const inboxes = [listen(a), listen(b), listen(c)]
      const relayedBefore = cluster.nodes.map((n) => n.consensus.stats.relayed)
      for (let i = 0; i < 5; i++) a.consensus.publish(text(`vote ${i}`))
      await waitFor(() => inboxes[1]?.got.length === 5 && inboxes[2]?.got.length === 5, 10_000, 'five messages each')
      await sleep(clock, 200)
      assert.equal(inboxes[0]?.got.length, 0, 'never delivered to its author')
      for (const inbox of inboxes.slice(1)) {
        assert.deepEqual(
          inbox.got.map((m) => asText(m.body)),
          ['vote 0', 'vote 1', 'vote 2', 'vote 3', 'vote 4'],
        )
        assert.ok(inbox.got.every((m) => m.author === id(a) && m.from === id(a)))
      }
      assert.deepEqual(
        cluster.nodes.map((n, i) => n.consensus.stats.relayed - (relayedBefore[i] as number)),
        [0, 0, 0],
        'in a full mesh everyone had it from the author',
      )
      for (const inbox of inboxes) inbox.leave()
    })

    it('carries a 3 MiB message intact and measures a round trip', async () => {
      const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
      const inbox = listen(b)
      const big = randomBytes(3 * 1024 * 1024 + 11, 21)
      a.consensus.publish(big, id(b))
      await waitFor(() => inbox.got.length === 1, 20_000, 'the large message')
      assert.ok(Buffer.from(inbox.got[0]?.body as Uint8Array).equals(Buffer.from(big)))
      inbox.leave()
      const rtt = await a.consensus.roundTripMs(id(b))
      assert.ok(rtt > 0 && rtt < 2_000, `round trip ${rtt} ms`)
      await assert.rejects(a.consensus.roundTripMs('12D3KooWnotaneighbour'), /no stream to/)
      assert.throws(() => a.consensus.publish(new Uint8Array(9 * 1024 * 1024)), /over its cap of 8388608/)
    })

    it('closes a stream that breaks the framing, and keeps serving', async () => {
      const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
      const invalidBefore = a.consensus.stats.invalid
      const stream = await b.libp2p.dialProtocol(a.peerId, consensusProtocol(CHAIN_ID))
      // A length prefix of 2^35: over any cap.
      stream.send(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01))
      await waitFor(() => stream.status !== 'open', 10_000, 'the bad stream closed')
      assert.equal(a.consensus.stats.invalid, invalidBefore + 1)
      const inbox = listen(a)
      b.consensus.publish(text('still here'))
      await waitFor(() => inbox.got.some((m) => asText(m.body) === 'still here'), 10_000, 'a message after the bad one')
      inbox.leave()
    })
  })

  describe('a line of three (a — b — c)', () => {
    let cluster: Cluster
    before(async () => {
      cluster = await startNodes(3)
      const [a, b, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
      // Keep it a line: a and c would otherwise find each other through b.
      await a.faults.block(c.peerId)
      await c.faults.block(a.peerId)
      await connect(a, b)
      await connect(b, c)
      await settled(cluster.nodes, [1, 2, 1])
    })
    after(async () => cluster?.stop())

    it('relays a message round the network, and an addressed one reaches only its addressee', async () => {
      const [a, b, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
      const [inA, inB, inC] = [listen(a), listen(b), listen(c)]
      a.consensus.publish(text('to all'))
      await waitFor(() => inC.got.length === 1, 10_000, 'the relayed message')
      assert.equal(inC.got[0]?.author, id(a))
      assert.equal(inC.got[0]?.from, id(b), 'it came through b')
      assert.equal(inB.got.length, 1)
      a.consensus.publish(text('for c only'), id(c))
      await waitFor(() => inC.got.length === 2, 10_000, 'the addressed message')
      await sleep(clock, 200)
      assert.equal(inB.got.length, 1, 'b passes it on without taking it')
      // c answers its author, two hops away.
      c.consensus.publish(text('reply'), inC.got[1]?.author as string)
      await waitFor(() => inA.got.length === 1, 10_000, 'the reply')
      assert.equal(asText(inA.got[0]?.body as Uint8Array), 'reply')
      for (const inbox of [inA, inB, inC]) inbox.leave()
    })

    it('passes on the same body sent again, so a node that lost it gets it from the re-send', async () => {
      const [a, b, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
      const inC = listen(c)
      // c loses what b passes on; a sends the same vote again once c hears b again.
      c.faults.setLoss(id(b), 1)
      a.consensus.publish(text('same vote'))
      await sleep(clock, 300)
      assert.equal(inC.got.length, 0)
      c.faults.setLoss(id(b), 0)
      a.consensus.publish(text('same vote'))
      await waitFor(() => inC.got.length === 1, 10_000, 'the re-sent vote')
      assert.equal(asText(inC.got[0]?.body as Uint8Array), 'same vote')
      inC.leave()
    })

    it('does not pass on a message the middle node refuses, and closes the stream it came on', async () => {
      const [a, b, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
      const inB = listen(b, (body) => asText(body).startsWith('bad'))
      const inC = listen(c)
      const invalidBefore = b.consensus.stats.invalid
      a.consensus.publish(text('bad message'))
      await waitFor(() => b.consensus.stats.invalid === invalidBefore + 1, 10_000, 'the refusal')
      // a's stream to b was closed; a opens a new one and is heard again.
      await waitFor(() => !a.consensus.peers().includes(id(b)), 10_000, "a's stream to b closed")
      await waitFor(() => a.consensus.peers().includes(id(b)), 10_000, 'a new stream from a to b')
      a.consensus.publish(text('good message'))
      await waitFor(() => inC.got.length === 1, 10_000, 'the good message')
      await sleep(clock, 200)
      assert.deepEqual(
        inC.got.map((m) => asText(m.body)),
        ['good message'],
      )
      assert.equal(inB.got.length, 1, 'b took only the good one')
      inB.leave()
      inC.leave()
    })

    it('drops what a lossy link loses, and delivers again once the loss is lifted', async () => {
      const [a, b, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
      const inC = listen(c)
      const droppedBefore = b.consensus.stats.dropped
      b.faults.setLoss(id(a), 1)
      a.consensus.publish(text('lost'))
      await sleep(clock, 300)
      assert.equal(inC.got.length, 0)
      assert.equal(b.consensus.stats.dropped, droppedBefore + 1)
      b.faults.setLoss(id(a), 0)
      b.faults.setDelay(id(a), 50)
      const sent = clock.monotonicMs()
      a.consensus.publish(text('late'))
      await waitFor(() => inC.got.length === 1, 10_000, 'the delayed message')
      assert.ok(clock.monotonicMs() - sent >= 50, 'the delay applied')
      b.faults.setDelay(id(a), 0)
      inC.leave()
    })
  })
})
