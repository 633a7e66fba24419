import { strict as assert } from 'node:assert'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { cidOf } from '../../src/codec/cid.ts'
import { encodeMessage } from '../../src/net/codec.ts'
import { ContentIntegrityError, MalformedMessageError } from '../../src/net/errors.ts'
import { at, type Cluster, clock, connect, randomBytes, startNodes } from './helpers.ts'

const MiB = 1024 * 1024

async function blockFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name))
  return out
}

describe('net: content store (helia + bitswap, on-disk blockstore)', function () {
  this.timeout(120_000)
  let cluster: Cluster
  before(async () => {
    cluster = await startNodes(3)
    const [a, b, c] = cluster.nodes
    if (a === undefined || b === undefined || c === undefined) throw new Error('no nodes')
    await connect(b, a)
    await connect(c, a)
    await connect(c, b)
  })
  after(async () => cluster?.stop())

  it('moves a 64 MiB tensor from one peer to another byte-identical', async () => {
    const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
    const tensor = randomBytes(64 * MiB, 64)
    const cid = await a.content.put(tensor)
    assert.ok(await a.content.isPinned(cid))
    const start = clock.monotonicMs()
    const fetched = await b.content.get(cid, { signal: new AbortController().signal })
    const ms = clock.monotonicMs() - start
    assert.equal(fetched.byteLength, tensor.byteLength)
    assert.ok(Buffer.from(fetched).equals(Buffer.from(tensor)), 'bytes differ')
    assert.ok(await b.content.has(cid), 'fetched blocks are kept locally')
    // A second read is local (offline) and still checked.
    const again = await b.content.get(cid, { offline: true })
    assert.ok(Buffer.from(again).equals(Buffer.from(tensor)))
    assert.ok(ms < 60_000, `fetch took ${ms} ms`)
  })

  it('stores small content as one raw block whose CID is its hash, and resumes from what is local', async () => {
    const [a, c] = [at(cluster.nodes, 0), at(cluster.nodes, 2)]
    const small = randomBytes(1000, 1)
    const cid = await a.content.put(small)
    assert.equal(cid.toString(), cidOf(small).toString())
    // C already holds the first half of a four-chunk object's chunks; get fetches only the rest.
    const chunk = a.content.chunkBytes
    const big = randomBytes(4 * chunk, 2)
    const root = await a.content.put(big)
    await c.content.put(big.subarray(0, 2 * chunk), { pin: false })
    assert.ok(!(await c.content.has(root)))
    const fetchedBlocks: string[] = []
    const fetched = await c.content.get(root, { onFetched: (block) => fetchedBlocks.push(block.toString()) })
    assert.ok(Buffer.from(fetched).equals(Buffer.from(big)))
    // Only the root and the two chunks C lacked crossed the network.
    assert.equal(fetchedBlocks.length, 3, fetchedBlocks.join())
    assert.ok(fetchedBlocks.includes(root.toString()))
    assert.ok(await c.content.has(root))
  })

  it('finds content through the DHT from a peer it was not connected to', async () => {
    const b = at(cluster.nodes, 1)
    const extra = await startNodes(1)
    cluster.nodes.push(...extra.nodes)
    cluster.homes.push(...extra.homes)
    const d = at(extra.nodes, 0)
    const bytes = randomBytes(3 * MiB, 5)
    const cid = await b.content.put(bytes)
    // D knows only A; A routes D's provider lookup to B, and D dials B for the blocks.
    await connect(d, at(cluster.nodes, 0))
    assert.equal(d.libp2p.getConnections(b.peerId).length, 0)
    const fetched = await d.content.get(cid, timeout(30_000))
    assert.ok(Buffer.from(fetched).equals(Buffer.from(bytes)))
    assert.ok(d.libp2p.getConnections(b.peerId).length > 0, 'D connected to the provider')
  })

  it('refuses to return a block whose bytes on disk no longer match its CID', async () => {
    const b = at(cluster.nodes, 1)
    const bytes = randomBytes(4096, 3)
    const cid = await b.content.put(bytes)
    // Flip one byte of the block file on disk.
    const files = await blockFiles(join(at(cluster.homes, 1), 'blocks'))
    let corrupted = false
    for (const file of files) {
      const data = await readFile(file)
      if (data.byteLength === bytes.byteLength && Buffer.from(data).equals(Buffer.from(bytes))) {
        data[0] = (data[0] ?? 0) ^ 0xff
        await writeFile(file, data)
        corrupted = true
      }
    }
    assert.ok(corrupted, 'found the block file')
    await assert.rejects(b.content.get(cid, { offline: true }), (error: unknown) => {
      assert.ok(error instanceof ContentIntegrityError)
      assert.equal(error.code, 'ERR_CONTENT_INTEGRITY')
      return true
    })
  })

  it('fails a wrong or unknown CID with a clear reason instead of hanging', async () => {
    const b = at(cluster.nodes, 1)
    const missing = cidOf(randomBytes(10, 99))
    await assert.rejects(b.content.get(missing, { offline: true }), /not found|NotFound/i)
    await assert.rejects(
      b.content.get(CID.parse('bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'), { offline: true }),
      /codec/,
    )
    await assert.rejects(b.content.get(missing, timeout(500)), /timed out|Failed to load block/)
  })

  it('refuses a root block from a peer that announces a negative content size', async () => {
    // A hostile holder serves a root whose header says size -1: the fetch must refuse it as
    // malformed, not die allocating `new Uint8Array(-1)`.
    const [hostile, victim] = [at(cluster.nodes, 0), at(cluster.nodes, 2)]
    const header = { v: 1, size: -1, chunkBytes: 1024, content: cidOf(new Uint8Array(0)).toString() }
    const root = dagPb.encode(dagPb.prepare({ Data: encodeMessage(header, 512), Links: [] }))
    const cid = CID.createV1(dagPb.code, await sha256.digest(root))
    await hostile.helia.blockstore.put(cid, root)
    await assert.rejects(
      victim.content.get(cid, { providers: [hostile.peerId], ...timeout(20_000) }),
      MalformedMessageError,
    )
  })
})

function timeout(ms: number): { signal: AbortSignal } {
  const controller = new AbortController()
  clock.setTimer(ms, () => controller.abort(new Error(`timed out after ${ms} ms`)))
  return { signal: controller.signal }
}
