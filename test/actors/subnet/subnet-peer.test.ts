/**
 * The subnet peer machine with its effects replaced (`.provide()`): the states it goes
 * through, what it announces, and what it does when a fetch fails.
 */
import assert from 'node:assert/strict'
import { createActor, fromPromise, waitFor } from 'xstate'
import {
  type AnnounceInput,
  rangeBundleCids,
  type SeedInput,
  type SeedResult,
  type ShardHeld,
  subnetPeerMachine,
} from '../../../src/actors/subnet/subnet-peer.ts'
import { cidOf as rawCid } from '../../../src/codec/cid.ts'

const CID = (i: number): string => rawCid(new TextEncoder().encode(`content ${i}`)).toString()

interface Fakes {
  shardFailures: number
  window: number
  announced: AnnounceInput[]
  seeds: SeedInput[]
  /** What each seeding round finds (consumed in order; then nothing new). */
  rounds: Partial<SeedResult>[]
}

function machineWith(fakes: Fakes) {
  return subnetPeerMachine.provide({
    actors: {
      join: fromPromise<void, { subnet: number }>(async () => {}),
      fetchShard: fromPromise<ShardHeld, { subnet: number }>(async () => {
        if (fakes.shardFailures > 0) {
          fakes.shardFailures--
          throw new Error('no holder answered')
        }
        return { range: CID(1), bundles: [CID(2), CID(3)], adapter: null, window: fakes.window }
      }),
      announce: fromPromise<void, AnnounceInput>(async ({ input }) => {
        fakes.announced.push(input)
      }),
      seed: fromPromise<SeedResult, SeedInput>(async ({ input }) => {
        fakes.seeds.push(input)
        const round = fakes.rounds.shift() ?? {}
        return { window: fakes.window, adapter: input.adapter, added: [], dropped: [], ...round }
      }),
    },
  })
}

/** Start the machine and record every state it enters, as a dotted path. */
function run(fakes: Fakes) {
  const actor = createActor(machineWith(fakes), { input: { subnet: 1, seedBudgetBytes: 1000 } })
  const states: string[] = []
  actor.subscribe((snapshot) => {
    const value = JSON.stringify(snapshot.value).replaceAll(/[{}"]/g, '').replace(':', '.')
    if (states.at(-1) !== value) states.push(value)
  })
  actor.start()
  return { actor, states }
}

const idle = (actor: ReturnType<typeof run>['actor']) =>
  waitFor(actor, (s) => s.matches({ seeding: 'idle' }), { timeout: 2000 })

describe('actors/subnet: the subnet peer machine', () => {
  it('joins, fetches its shard, announces it, then seeds the recent content block by block', async () => {
    const fakes: Fakes = { shardFailures: 0, window: 4, announced: [], seeds: [], rounds: [] }
    fakes.rounds.push({ added: [{ cid: CID(10), window: 4, sizeBytes: 300 }] }, {})
    const { actor, states } = run(fakes)
    await idle(actor)
    assert.deepEqual(states, ['joining', 'fetchingShard', 'announcing', 'seeding.idle'])
    assert.equal(fakes.announced.length, 1)
    assert.deepEqual(fakes.announced[0], {
      subnet: 1,
      window: 4,
      range: CID(1),
      adapter: null,
      cids: [CID(1), CID(2), CID(3)],
      presence: true,
    })

    // A block: the seeding round finds one new CID, which is announced (no presence: same window).
    actor.send({ type: 'block', height: 41 })
    await waitFor(actor, (s) => s.context.seeded.length === 1 && s.matches({ seeding: 'idle' }), { timeout: 2000 })
    assert.deepEqual(states.slice(4), ['seeding.syncing', 'seeding.announcingFresh', 'seeding.idle'])
    assert.equal(fakes.seeds[0]?.height, 41)
    assert.equal(fakes.seeds[0]?.budgetBytes, 1000)
    assert.deepEqual(fakes.announced[1], {
      subnet: 1,
      window: 4,
      range: CID(1),
      adapter: null,
      cids: [CID(10)],
      presence: false,
    })

    // The next block finds nothing new: nothing is announced; the budget counts what is held.
    actor.send({ type: 'block', height: 42 })
    await waitFor(actor, () => fakes.seeds.length === 2, { timeout: 2000 })
    await idle(actor)
    assert.equal(fakes.seeds[1]?.budgetBytes, 700)
    assert.equal(fakes.announced.length, 2)

    // A new window with a new adapter state: presence again and everything held.
    fakes.window = 5
    fakes.rounds.push({ adapter: CID(20), dropped: [CID(10)] })
    actor.send({ type: 'block', height: 50 })
    await waitFor(actor, () => fakes.announced.length === 3, { timeout: 2000 })
    await idle(actor)
    assert.deepEqual(fakes.announced[2], {
      subnet: 1,
      window: 5,
      range: CID(1),
      adapter: CID(20),
      cids: [CID(1), CID(2), CID(3), CID(20)],
      presence: true,
    })
    assert.deepEqual(actor.getSnapshot().context.seeded, [])
    actor.send({ type: 'stop' })
    assert.equal(actor.getSnapshot().status, 'done')
  })

  it('a failed shard fetch waits in retrying and tries again at the next block', async () => {
    const fakes: Fakes = { shardFailures: 2, window: 0, announced: [], seeds: [], rounds: [] }
    const { actor, states } = run(fakes)
    await waitFor(actor, (s) => s.matches('retrying'), { timeout: 2000 })
    assert.equal(actor.getSnapshot().context.lastError, 'no holder answered')
    assert.equal(fakes.announced.length, 0, 'nothing announced before the shard is held')
    actor.send({ type: 'block', height: 1 })
    await waitFor(actor, (s) => s.context.failures === 2 && s.matches('retrying'), { timeout: 2000 })
    actor.send({ type: 'block', height: 2 })
    await idle(actor)
    assert.deepEqual(states, [
      'joining',
      'fetchingShard',
      'retrying',
      'joining',
      'fetchingShard',
      'retrying',
      'joining',
      'fetchingShard',
      'announcing',
      'seeding.idle',
    ])
    assert.equal(actor.getSnapshot().context.lastError, null)
    assert.equal(fakes.announced.length, 1)
    actor.stop()
  })

  it('a failed seeding round leaves it seeding, and the next block tries again', async () => {
    const fakes: Fakes = { shardFailures: 0, window: 0, announced: [], seeds: [], rounds: [] }
    let failNext = true
    const machine = machineWith(fakes).provide({
      actors: {
        seed: fromPromise<SeedResult, SeedInput>(async ({ input }) => {
          fakes.seeds.push(input)
          if (failNext) {
            failNext = false
            throw new Error('fetch deadline')
          }
          return { window: 0, adapter: null, added: [{ cid: CID(9), window: 0, sizeBytes: 1 }], dropped: [] }
        }),
      },
    })
    const actor = createActor(machine, { input: { subnet: 0 } }).start()
    await idle(actor)
    actor.send({ type: 'block', height: 1 })
    await waitFor(actor, (s) => s.context.failures === 1 && s.matches({ seeding: 'idle' }), { timeout: 2000 })
    assert.equal(actor.getSnapshot().context.lastError, 'fetch deadline')
    actor.send({ type: 'block', height: 2 })
    await waitFor(actor, (s) => s.context.seeded.length === 1 && s.matches({ seeding: 'idle' }), { timeout: 2000 })
    assert.equal(actor.getSnapshot().context.seedBudgetBytes, 256 * 1024 * 1024)
    actor.stop()
  })

  it('reads the bundle CIDs of a range manifest and refuses what is not one', () => {
    const manifest = { kind: 'r3mes-backbone-range', layers: [CID(1), CID(2)], embedding: CID(3), head: null }
    assert.deepEqual(rangeBundleCids('r', new TextEncoder().encode(JSON.stringify(manifest))), [CID(1), CID(2), CID(3)])
    assert.throws(() => rangeBundleCids('r', new TextEncoder().encode('{')), /not JSON/)
    assert.throws(() => rangeBundleCids('r', new TextEncoder().encode('{"kind":"x"}')), /not a backbone range/)
  })
})
