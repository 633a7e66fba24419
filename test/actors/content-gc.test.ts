/**
 * Content garbage collection over a real content store (helia on disk, small chunks so content
 * is a root and its chunks) and a real chain state: a miner's gradient named by a claim is
 * kept while the claim lives and dropped, root and chunks, once pruning removes its window;
 * content the chain still names, content it never named and the always-live set stay, and a
 * restart of the store after a pass still serves everything live.
 */
import assert from 'node:assert/strict'
import { ContentGc } from '../../src/actors/services/content-gc.ts'
import type { KeyPair } from '../../src/chain/keys.ts'
import type { Task } from '../../src/chain/state.ts'
import { commitmentOf } from '../../src/chain/tx.ts'
import { createNetNode, type NetNode } from '../../src/net/node.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import { Harness, keys, salt } from '../chain/harness.ts'
import { CHAIN_ID, type Cluster, clock, components, randomBytes, startNodes } from '../net/helpers.ts'

const CHUNK_BYTES = 1024
const validators = keys('gc-val', 1)
const miners = [keys('gc-miner', 2)]
const byAddress = new Map(miners[0]?.map((k) => [k.address, k]))

function chain(): Harness {
  return new Harness({
    validators,
    miners,
    // One subnet: a window trains only when every subnet has a miner.
    subnetLayers: [[0, 8]],
    params: {
      windowBlocks: 4,
      shardsPerWindow: 1,
      replication: 1,
      challengePeriodBlocks: 1,
      aggregationDeadlineBlocks: 1,
      retentionBlocks: 2,
    },
  })
}

/** Claim `cid` for the current window's first task: commit, then reveal. Returns the claim's window. */
function claim(h: Harness, cid: string): number {
  while (
    (h.app.state.tasks.entries().find(([, t]) => t.window === h.app.state.globals.currentWindow) ?? []).length === 0
  )
    h.block()
  const window = h.app.state.globals.currentWindow
  const task = h.app.state.tasks.entries().find(([, t]) => t.window === window)?.[1] as Task
  const miner = byAddress.get(task.miners[0] as string) as KeyPair
  const s = salt(`${task.id}/${cid}`)
  h.ok(miner, { type: 'commit', taskId: task.id, commitment: commitmentOf(cid, miner.address, task.id, s) })
  h.ok(miner, { type: 'reveal', taskId: task.id, cid, salt: s, metadata: '{"tokens":1}' })
  return window
}

const named = (h: Harness, cid: string): boolean => h.app.state.claims.entries().some(([, c]) => c.cid === cid)

describe('content garbage collection', function () {
  this.timeout(60_000)
  let cluster: Cluster

  beforeEach(async () => {
    cluster = await startNodes(1, () => ({ content: { chunkBytes: CHUNK_BYTES } }))
  })
  afterEach(async () => {
    await cluster.stop()
  })

  it('drops what pruning made dead, root and chunks; keeps what is live, never named, or always kept; a restart serves the live', async () => {
    const net = cluster.nodes[0] as NetNode
    const content = net.content
    const put = async (label: string, seed: number) => {
      const bytes = randomBytes(5 * CHUNK_BYTES + 17, seed)
      return { label, bytes, cid: (await content.put(bytes, { announce: false })).toString() }
    }
    const dead = await put('dead gradient', 1)
    const live = await put('live gradient', 2)
    const unnamed = await put('never named', 3)
    const always = await put('initial adapter', 4)
    const h = chain()
    const gc = new ContentGc(
      { intervalBlocks: 0, alwaysLive: [always.cid] },
      { state: h.app.state, content, logger: createLogger({ name: 'gc', level: 'silent', clock }) },
    )
    const block = (): void => {
      h.block()
      gc.onBlock(h.height)
    }
    claim(h, dead.cid)
    gc.onBlock(h.height)
    assert.ok(named(h, dead.cid))
    // The first pass while the claim lives frees nothing.
    assert.deepEqual(await gc.collect(h.height), { roots: 0, blocks: 0, bytes: 0 })
    while (named(h, dead.cid)) block()
    claim(h, live.cid)
    gc.onBlock(h.height)
    assert.ok(named(h, live.cid), 'the second claim lives at the pass')

    const freed = await gc.collect(h.height)
    assert.equal(freed.roots, 1)
    assert.equal(freed.blocks, 1 + 6, 'the root and its six chunks')
    assert.ok(freed.bytes > dead.bytes.byteLength, `${freed.bytes} bytes freed`)
    assert.equal(await content.has(net.content.cidOf(dead.bytes)), false)
    assert.equal(await content.isPinned(net.content.cidOf(dead.bytes)), false)
    for (const kept of [live, unnamed, always])
      assert.equal(await content.has(content.cidOf(kept.bytes)), true, `${kept.label} is kept`)
    assert.deepEqual(gc.stats, {
      passes: 2,
      freedRoots: 1,
      freedBlocks: 7,
      freedBytes: freed.bytes,
      lastHeight: h.height,
    })
    // A second pass has nothing left to free.
    assert.deepEqual(await gc.collect(h.height), { roots: 0, blocks: 0, bytes: 0 })

    // Restart the store on the same home: everything live is still served, offline.
    const home = cluster.homes[0] as string
    await net.stop()
    const again = await createNetNode(
      { chainId: CHAIN_ID, homeDir: home, content: { chunkBytes: CHUNK_BYTES } },
      components('gc-restart'),
    )
    try {
      for (const kept of [live, unnamed, always])
        assert.deepEqual(
          await again.content.get(again.content.cidOf(kept.bytes), { offline: true }),
          kept.bytes,
          `${kept.label} after the restart`,
        )
      assert.equal(await again.content.has(again.content.cidOf(dead.bytes)), false)
    } finally {
      await again.stop()
    }
  })

  it('two contents that share a chunk: dropping one keeps the chunk the other needs', async () => {
    const net = cluster.nodes[0] as NetNode
    const shared = randomBytes(CHUNK_BYTES, 9)
    const a = new Uint8Array([...shared, ...randomBytes(CHUNK_BYTES + 5, 10)])
    const b = new Uint8Array([...shared, ...randomBytes(CHUNK_BYTES + 5, 11)])
    const cidA = await net.content.put(a, { announce: false })
    const cidB = await net.content.put(b, { announce: false })
    const freed = await net.content.drop([cidA])
    assert.equal(freed.roots, 1)
    assert.equal(freed.blocks, 3, 'the root and its own two chunks; not the shared one')
    assert.deepEqual(await net.content.get(cidB, { offline: true }), b)
    assert.equal(await net.content.has(cidA), false)
  })
})
