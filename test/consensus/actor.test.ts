import assert from 'node:assert/strict'
import { createActor } from 'xstate'
import { toHex } from '../../src/codec/bytes.ts'
import { hashBlock } from '../../src/consensus/block.ts'
import { consensusMachine } from '../../src/consensus/consensus-actor.ts'
import type { KvApplication } from '../../src/consensus/kv-application.ts'
import { MemoryHub } from '../../src/consensus/memory-transport.ts'
import type { BlockSource, NodeComponents } from '../../src/consensus/node-io.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { makeChain, memoryComponents } from './helpers/fixtures.ts'

async function settle(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
}

describe('consensus XState actor', function () {
  this.timeout(60_000)

  it('4 validators over an in-memory transport commit blocks and transactions, timed by a SimulatedClock', async () => {
    const chain = makeChain(4)
    const clock = new SimulatedClock()
    const hub = new MemoryHub(clock, 5)
    const commits = Array.from({ length: 4 }, () => new Map<number, string>())
    const apps: KvApplication[] = []
    const parts: NodeComponents[] = []
    const actors = [0, 1, 2, 3].map((i) => {
      const link = hub.connect(`v${i}`)
      const { components, app } = memoryComponents(chain, i, clock, link, (cb) =>
        commits[i]?.set(cb.block.header.height, toHex(hashBlock(cb.block))),
      )
      apps.push(app)
      parts.push(components)
      return createActor(consensusMachine, { input: { components, inbox: link, gossipIntervalMs: 100 } }).start()
    })
    await settle()
    for (const a of actors) assert.equal(a.getSnapshot().value, 'running')
    actors[1]?.send({ type: 'tx', tx: new TextEncoder().encode('greeting=hello') })
    const heights = () => commits.map((m) => m.size)
    for (let i = 0; i < 2000 && Math.min(...heights()) < 6; i++) {
      clock.advance(5)
      await settle()
    }
    assert.ok(Math.min(...heights()) >= 6, `heights ${heights()}`)
    for (let h = 1; h <= 6; h++) assert.equal(new Set(commits.map((m) => m.get(h))).size, 1, `agreement at ${h}`)
    for (const app of apps)
      assert.equal(new TextDecoder().decode(app.query(new TextEncoder().encode('greeting'))), 'hello')
    assert.ok(
      clock.monotonicMs() < 10_000,
      'blocks come from protocol timers and messages, not from waiting out timeouts',
    )

    // Stop one actor; a new one on the same stores recovers from its WAL and catches up.
    actors[3]?.send({ type: 'stop' })
    assert.equal(actors[3]?.getSnapshot().value, 'stopped')
    const stoppedAt = commits[3]?.size ?? 0
    for (let i = 0; i < 200; i++) {
      clock.advance(5)
      await settle()
    }
    const before = Math.min(...heights().slice(0, 3))
    assert.ok(before > stoppedAt, 'the other three keep going')
    const link = hub.connect('v3b')
    const restarted = createActor(consensusMachine, {
      input: { components: { ...(parts[3] as NodeComponents), transport: link }, inbox: link, gossipIntervalMs: 100 },
    }).start()
    for (let i = 0; i < 2000 && (commits[3]?.size ?? 0) < before + 2; i++) {
      clock.advance(5)
      await settle()
    }
    assert.equal(restarted.getSnapshot().value, 'running')
    assert.ok((commits[3]?.size ?? 0) >= before + 2, `restarted node at ${commits[3]?.size}, others at ${before}`)
    for (const [h, hash] of commits[3] ?? []) assert.equal(hash, commits[0]?.get(h))
    for (const a of [...actors, restarted]) a.stop()
  })

  it('a validator that joins late fetches decided blocks through its BlockSource before taking part', async () => {
    const chain = makeChain(4)
    const clock = new SimulatedClock()
    const hub = new MemoryHub(clock, 5)
    const commits = Array.from({ length: 4 }, () => new Map<number, string>())
    const start = (i: number, blockSource?: BlockSource) => {
      const link = hub.connect(`v${i}`)
      const { components } = memoryComponents(chain, i, clock, link, (cb) =>
        commits[i]?.set(cb.block.header.height, toHex(hashBlock(cb.block))),
      )
      const input = { components, inbox: link, gossipIntervalMs: 100, ...(blockSource ? { blockSource } : {}) }
      return { actor: createActor(consensusMachine, { input }).start(), components }
    }
    const early = [0, 1, 2].map((i) => start(i))
    for (let i = 0; i < 4000 && (commits[0]?.size ?? 0) < 8; i++) {
      clock.advance(5)
      await settle()
    }
    assert.ok((commits[0]?.size ?? 0) >= 8, 'three of four validators make progress')
    const peerStore = early[0]?.components.blockStore
    let fetched = 0
    const late = start(3, {
      getBlock: async (h) => {
        fetched++
        return peerStore?.load(h)
      },
    })
    await settle()
    await settle()
    const caughtUp = commits[3]?.size ?? 0
    assert.ok(caughtUp >= 8, `caught up from the block source before any round (${caughtUp})`)
    assert.equal(fetched, caughtUp + 1)
    for (let i = 0; i < 2000 && (commits[3]?.size ?? 0) < caughtUp + 3; i++) {
      clock.advance(5)
      await settle()
    }
    assert.equal(late.actor.getSnapshot().value, 'running')
    assert.ok((commits[3]?.size ?? 0) >= caughtUp + 3, 'then it commits with the others')
    for (const [h, hash] of commits[3] ?? []) assert.equal(hash, commits[0]?.get(h))
    for (const a of [...early, late]) a.actor.stop()
  })

  it('ends in `failed` with the typed error when recovery refuses to start', async () => {
    const chain = makeChain(4)
    const clock = new SimulatedClock()
    const link = new MemoryHub(clock, 1).connect('v0')
    const { components } = memoryComponents(chain, 0, clock, link)
    const broken: NodeComponents = {
      ...components,
      wal: {
        ...components.wal,
        readFrom: () => {
          throw new Error('corrupt at offset 12')
        },
        startHeight: () => {},
        append: () => {},
        sync: () => {},
        close: () => {},
      },
    }
    const fatal: unknown[] = []
    const actor = createActor(consensusMachine, {
      input: { components: broken, inbox: link, onFatal: (e) => fatal.push(e) },
    }).start()
    await settle()
    assert.equal(actor.getSnapshot().value, 'failed')
    assert.match(String(actor.getSnapshot().context.error), /offset 12/)
    assert.equal(fatal.length, 1, 'reported fatally, once')
    assert.match(String(fatal[0]), /offset 12/)
  })
})
