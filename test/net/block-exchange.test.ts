import { strict as assert } from 'node:assert'
import * as dagPb from '@ipld/dag-pb'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { CID } from 'multiformats/cid'
import * as varint from 'uint8-varint'
import { cidOf } from '../../src/codec/cid.ts'
import { ContentIntegrityError, MalformedMessageError } from '../../src/net/errors.ts'
import type { NetNode } from '../../src/net/node.ts'
import { deadlineSignal } from '../../src/runtime/clock.ts'
import { MAX_BLOCK_REQUESTS_SERVED_PER_PEER } from '../../src/runtime/limits.ts'
import { at, type Cluster, clock, connect, randomBytes, startNodes, waitFor } from './helpers.ts'

const MiB = 1024 * 1024

describe('net: direct block exchange (content from a named holder)', function () {
  this.timeout(60_000)
  let cluster: Cluster
  before(async () => {
    cluster = await startNodes(3)
    await connect(at(cluster.nodes, 1), at(cluster.nodes, 0))
    await connect(at(cluster.nodes, 2), at(cluster.nodes, 0))
  })
  after(async () => cluster?.stop())

  it('fetches small and chunked content from the named provider, byte-identical, and keeps it', async () => {
    const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
    for (const size of [100_000, 5 * MiB + 7]) {
      const bytes = randomBytes(size, size)
      const cid = await a.content.put(bytes, { announce: false })
      const fetched: string[] = []
      const got = await b.content.get(cid, { providers: [a.peerId], onFetched: (c) => fetched.push(c.toString()) })
      assert.ok(Buffer.from(got).equals(Buffer.from(bytes)), `${size} bytes arrive intact`)
      assert.ok(fetched.length >= 1, 'the blocks came from the network')
      assert.ok(await b.content.has(cid), 'the fetched blocks are stored')
      // Stored blocks are served onwards: the third node gets them from the second.
      const again = await at(cluster.nodes, 2).content.get(cid, { providers: [b.peerId] })
      assert.ok(Buffer.from(again).equals(Buffer.from(bytes)))
    }
  })

  it('asks the next provider when one lacks the block, and only then bitswap', async () => {
    const [a, b, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
    const bytes = randomBytes(50_000, 77)
    const cid = await a.content.put(bytes, { announce: false })
    // b does not hold it: it answers "not found" and c moves on to a.
    const got = await c.content.get(cid, { providers: [b.peerId, a.peerId] })
    assert.ok(Buffer.from(got).equals(Buffer.from(bytes)))
  })

  it('answers a malformed request by closing the stream, and keeps serving', async () => {
    const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
    const stream = await b.libp2p.dialProtocol(a.peerId, '/r3mes/testchain/block/1.0.0')
    const lp = lpStream(stream)
    await lp.write(Uint8Array.of(0xff, 0x01, 0x02))
    await assert.rejects(lp.read(), 'a request that is not a CID gets no answer')
    const bytes = randomBytes(10_000, 9)
    const cid = await a.content.put(bytes, { announce: false })
    assert.ok(Buffer.from(await b.content.get(cid, { providers: [a.peerId] })).equals(Buffer.from(bytes)))
    // And a peer asked for a block it does not hold says so rather than hanging.
    const missing = cidOf(randomBytes(64, 1))
    assert.equal(await b.exchange.fetch(a.peerId, missing, new AbortController().signal), undefined)
  })

  it('serves one peer at most MAX_BLOCK_REQUESTS_SERVED_PER_PEER requests at once, and others meanwhile', async () => {
    const [a, b, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
    // c opens its whole share of streams and never sends a request on them.
    const idle = await Promise.all(
      Array.from({ length: MAX_BLOCK_REQUESTS_SERVED_PER_PEER }, () =>
        c.libp2p.dialProtocol(a.peerId, a.exchange.protocol),
      ),
    )
    try {
      const bytes = randomBytes(10_000, 31)
      const cid = await a.content.put(bytes, { announce: false })
      await assert.rejects(
        c.exchange.fetch(a.peerId, cid, AbortSignal.any([])),
        'one request more from the same peer is refused',
      )
      const got = await b.exchange.fetch(a.peerId, cid, AbortSignal.any([]))
      assert.ok(got !== undefined && Buffer.from(got).equals(bytes), 'another peer is served meanwhile')
    } finally {
      for (const stream of idle) stream.abort(new Error('test over'))
    }
  })

  it("receives a chunk into its place, keeps a lying holder's bytes out of it and stops asking that holder", async () => {
    const [a, liar, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
    // The liar answers every request with "found" and bytes of the right length that are not the block.
    let lies = 0
    await replaceHandler(liar, async (stream) => {
      const lp = lpStream(stream)
      const request = await lp.read()
      assert.ok(request.byteLength > 0)
      lies++
      await lp.writeV([Uint8Array.of(0), new Uint8Array(2 * MiB).fill(0xee)])
      await stream.close()
    })
    const bytes = randomBytes(4 * MiB, 4)
    const cid = await a.content.put(bytes, { announce: false })
    const got = await c.content.get(cid, { providers: [liar.peerId, a.peerId] })
    assert.ok(lies >= 1, 'the liar was asked first')
    assert.ok(Buffer.from(got).equals(Buffer.from(bytes)), "every chunk is the honest holder's")
    assert.equal(Buffer.from(got).indexOf(Buffer.alloc(64, 0xee)), -1, 'nothing of the lie is left')
    for (const chunk of await chunksOf(c, cid))
      assert.equal(cidOf(await stored(c, chunk)).toString(), chunk.toString(), 'the stored chunk hashes to its CID')
    // Caught lying, it is not asked by name again: the next fetch goes straight to the honest holder.
    const liesBefore = lies
    const more = randomBytes(4 * MiB, 5)
    const moreCid = await a.content.put(more, { announce: false })
    assert.ok(Buffer.from(await c.content.get(moreCid, { providers: [liar.peerId, a.peerId] })).equals(more))
    assert.equal(lies, liesBefore, 'the liar was not asked again')
  })
})

describe('net: block exchange against a lying holder (bytes are checked before they land)', function () {
  this.timeout(60_000)
  let cluster: Cluster
  let honest: NetNode
  let liar: NetNode
  let fetcher: NetNode
  /** Resolves the liar's pending answer: it holds every reply until told to send. */
  let release: () => void = () => {}
  let released = Promise.resolve()
  before(async () => {
    cluster = await startNodes(3)
    ;[honest, liar, fetcher] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
    await connect(fetcher, honest)
    await connect(fetcher, liar)
    await replaceHandler(liar, async (stream) => {
      const lp = lpStream(stream)
      const request = await lp.read()
      await released
      await lp.writeV([Uint8Array.of(0), new Uint8Array(2 * MiB).fill(0xee)])
      await stream.close()
      assert.ok(request.byteLength > 0)
    })
  })
  after(async () => cluster?.stop())

  function holdLiar(): void {
    released = new Promise((resolve) => {
      release = resolve
    })
  }

  it("a lying answer into a chunk's place leaves the place as it was and fails the fetch", async () => {
    const bytes = randomBytes(2 * MiB, 51)
    const cid = cidOf(bytes)
    const place = Uint8Array.from(bytes)
    await assert.rejects(
      fetcher.exchange.fetch(liar.peerId, cid, new AbortController().signal, place),
      ContentIntegrityError,
    )
    assert.ok(Buffer.from(place).equals(bytes), 'not a byte of the lie was written')
  })

  it('a late liar cannot overwrite a chunk that the honest holder delivered into the same place', async () => {
    const bytes = randomBytes(2 * MiB, 52)
    const cid = await honest.content.put(bytes, { announce: false })
    const place = new Uint8Array(bytes.byteLength)
    holdLiar()
    const late = fetcher.exchange.fetch(liar.peerId, cid, new AbortController().signal, place)
    const delivered = await fetcher.exchange.fetch(honest.peerId, cid, new AbortController().signal, place)
    assert.equal(delivered, place)
    // The liar answers only now, after the honest holder, into the same place.
    release()
    await assert.rejects(late, ContentIntegrityError)
    assert.ok(Buffer.from(delivered).equals(bytes), 'the delivered chunk is still the true one')
  })

  it('a late liar asked in parallel (hedged) gets nothing into the store: the fetch takes the honest chunks', async () => {
    const bytes = randomBytes(4 * MiB + 3, 53)
    const cid = await honest.content.put(bytes, { announce: false })
    holdLiar()
    // The liar, asked first, keeps the fetch waiting past the hedge delay; the honest holder is asked and answers.
    const got = await fetcher.content.get(cid, { providers: [liar.peerId, honest.peerId] })
    release()
    assert.ok(Buffer.from(got).equals(bytes))
    for (const chunk of await chunksOf(fetcher, cid))
      assert.equal(
        cidOf(await stored(fetcher, chunk)).toString(),
        chunk.toString(),
        'the stored chunk hashes to its CID',
      )
  })

  it('refuses a reply longer than the block expected, at its length prefix', async () => {
    const bytes = randomBytes(1 * MiB, 54)
    holdLiar()
    release()
    await assert.rejects(
      fetcher.exchange.fetch(liar.peerId, cidOf(bytes), new AbortController().signal, new Uint8Array(bytes.byteLength)),
      (error: unknown) => error instanceof MalformedMessageError && /cap/.test(error.message),
    )
  })
})

describe('net: block exchange against broken framing (a typed error naming the peer)', function () {
  this.timeout(60_000)
  let cluster: Cluster
  let server: NetNode
  let fetcher: NetNode
  before(async () => {
    cluster = await startNodes(2)
    ;[server, fetcher] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
    await connect(fetcher, server)
  })
  after(async () => cluster?.stop())

  const GiB = 1024 * MiB
  const framed = (length: number, bytes: Uint8Array): Uint8Array => new Uint8Array([...varint.encode(length), ...bytes])
  const answers: { what: string; reply: Uint8Array[]; reason: RegExp; close?: false }[] = [
    {
      what: 'a status frame announcing 1 GiB',
      reply: [framed(GiB, Uint8Array.of(0))],
      reason: /\(status\).*length prefix/,
    },
    {
      what: 'a block frame announcing 1 GiB',
      reply: [framed(1, Uint8Array.of(0)), framed(GiB, randomBytes(1024, 3))],
      reason: /\(block\).*length prefix/,
    },
    {
      what: 'a block frame announcing 16 MiB',
      reply: [framed(1, Uint8Array.of(0)), framed(16 * MiB, randomBytes(1024, 3))],
      reason: /\(block\).*over the cap/,
    },
    {
      what: 'a block frame whose length prefix never ends',
      reply: [framed(1, Uint8Array.of(0)), new Uint8Array(64 * 1024).fill(0xff)],
      reason: /\(block\).*length prefix/,
      close: false,
    },
    {
      what: 'a block frame cut short',
      reply: [framed(1, Uint8Array.of(0)), framed(1000, randomBytes(100, 4))],
      reason: /\(block\).*ended inside a frame/,
    },
  ]
  for (const answer of answers)
    it(`a reply with ${answer.what} fails the fetch with MalformedMessageError`, async () => {
      await replaceHandler(server, async (stream) => {
        for (const bytes of answer.reply) stream.send(bytes)
        if (answer.close !== false) await stream.close()
      })
      const signal = deadlineSignal(clock, 5_000, 'the fetch')
      const error = await fetcher.exchange.fetch(server.peerId, cidOf(randomBytes(64, 5)), signal).then(
        () => undefined,
        (e: unknown) => e,
      )
      assert.ok(error instanceof MalformedMessageError, `a typed error, not ${String(error)}`)
      assert.match(error.message, new RegExp(`block reply from ${server.peerId}`))
      assert.match(error.message, answer.reason)
    })

  it('a request announcing 1 GiB, with an endless length prefix, or cut short, is refused as malformed by the server', async () => {
    await server.libp2p.unhandle(server.exchange.protocol)
    await server.exchange.start()
    const before = server.exchange.refused.get('ERR_MALFORMED_MESSAGE') ?? 0
    const requests = [
      framed(GiB, randomBytes(64, 6)),
      new Uint8Array(64 * 1024).fill(0xff),
      framed(36, randomBytes(10, 7)),
    ]
    for (const request of requests) {
      const stream = await fetcher.libp2p.dialProtocol(server.peerId, server.exchange.protocol)
      stream.send(request)
      await stream.close().catch(() => {})
    }
    await waitFor(
      () => (server.exchange.refused.get('ERR_MALFORMED_MESSAGE') ?? 0) === before + requests.length,
      10_000,
      'every request refused as malformed',
    )
    // And it still serves a good request.
    const bytes = randomBytes(10_000, 8)
    const cid = await server.content.put(bytes, { announce: false })
    const got = await fetcher.exchange.fetch(server.peerId, cid, AbortSignal.any([]))
    assert.ok(got !== undefined && Buffer.from(got).equals(bytes))
  })
})

async function replaceHandler(node: NetNode, handler: (stream: Stream) => Promise<void>): Promise<void> {
  await node.libp2p.unhandle(node.exchange.protocol)
  await node.libp2p.handle(node.exchange.protocol, (stream) => {
    handler(stream).catch((error: unknown) => stream.abort(error as Error))
  })
}

async function chunksOf(node: NetNode, root: CID): Promise<CID[]> {
  return dagPb.decode(await stored(node, root)).Links.map((link) => link.Hash)
}

/** The bytes `node` keeps under `cid`, as its blockstore has them (no hash check on the way). */
async function stored(node: NetNode, cid: CID): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const part of node.helia.blockstore.get(cid, { offline: true })) parts.push(part)
  return Buffer.concat(parts)
}
