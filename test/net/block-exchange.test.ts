import { strict as assert } from 'node:assert'
import { lpStream } from '@libp2p/utils'
import { rawCid } from '../../src/net/hashing.ts'
import { at, type Cluster, connect, randomBytes, startNodes } from './helpers.ts'

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
    const missing = rawCid(randomBytes(64, 1))
    assert.equal(await b.exchange.fetch(a.peerId, missing, new AbortController().signal), undefined)
  })

  it("receives a chunk into its place, and a lying holder's bytes there are replaced by the next holder's", async () => {
    const [a, liar, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
    // The liar answers every request with "found" and bytes of the right length that are not the block.
    const protocol = '/r3mes/testchain/block/1.0.0'
    await liar.libp2p.unhandle(protocol)
    let lies = 0
    await liar.libp2p.handle(protocol, async (stream) => {
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
    assert.ok(lies >= 2, 'the liar was asked for the chunks first')
    assert.ok(Buffer.from(got).equals(Buffer.from(bytes)), "every chunk is the honest holder's")
    assert.equal(Buffer.from(got).indexOf(Buffer.alloc(64, 0xee)), -1, 'nothing of the lie is left')
  })
})
