import assert from 'node:assert/strict'
import type { Weighted } from '../../src/chain/sortition.ts'
import type { Task, Window } from '../../src/chain/state.ts'
import { replicaDraw } from '../../src/chain/windows.ts'
import { fromHex, toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { Harness, keys } from './harness.ts'

/** A fixed set of seeds: the frequencies below are the same on every run, so these tests cannot flake. */
const SEEDS = Array.from({ length: 4000 }, (_, i) => sha256(`replica-seed/${i}`))

const miner = (address: string, weight: bigint): Weighted => ({ address, weight })

/** How often, over SEEDS, `pick` holds for a task's replica set. */
function frequency(miners: readonly Weighted[], replication: number, pick: (chosen: string[]) => boolean): number {
  let hits = 0
  for (const seed of SEEDS) if (pick(replicaDraw(seed, '0.0.0', miners, replication))) hits++
  return hits / SEEDS.length
}

describe('chain/windows: replicas drawn by stake from the window seed', () => {
  const four = [miner('m-a', 100n), miner('m-b', 200n), miner('m-c', 300n), miner('m-d', 400n)]

  it('is deterministic, draws distinct miners, differs per task, and takes everyone when there are too few', () => {
    const seed = sha256('window-seed')
    const once = replicaDraw(seed, '3.1.0', four, 2)
    assert.deepEqual(replicaDraw(seed, '3.1.0', [...four].reverse(), 2), once, 'the caller’s order does not matter')
    assert.equal(once.length, 2)
    assert.equal(new Set(once).size, 2)
    const perTask = new Set(Array.from({ length: 20 }, (_, s) => replicaDraw(seed, `3.${s}.0`, four, 2).join()))
    assert.ok(perTask.size > 1, 'each task has its own draw from the same seed')
    assert.deepEqual(replicaDraw(seed, '3.1.0', four.slice(0, 1), 2), ['m-a'])
    assert.deepEqual(replicaDraw(seed, '3.1.0', [], 2), [])
    assert.deepEqual(
      replicaDraw(seed, '3.1.0', [miner('m-zero', 0n), miner('m-a', 1n)], 2),
      ['m-a'],
      'no stake, no task',
    )
  })

  it('a miner is drawn as often as its stake says (±0.03 over 4000 fixed seeds)', () => {
    for (const m of four) {
      const share = Number(m.weight) / 1000
      const seen = frequency(four, 1, (c) => c[0] === m.address)
      assert.ok(Math.abs(seen - share) < 0.03, `${m.address}: drawn ${seen}, stake share ${share}`)
    }
    // With two replicas out of four, each is in a task more often the more it stakes.
    const inTask = four.map((m) => frequency(four, 2, (c) => c.includes(m.address)))
    for (let i = 1; i < inTask.length; i++) assert.ok((inTask[i] as number) > (inTask[i - 1] as number), `${inTask}`)
  })

  it('splitting one stake into identities does not raise the chance of holding both replicas above f²', () => {
    // An operator with a quarter of the subnet's miner stake, beside six honest miners.
    const f = 0.25
    const honest = Array.from({ length: 6 }, (_, i) => miner(`honest-${i}`, 125n))
    const both = (identities: number): number => {
      const mine = Array.from({ length: identities }, (_, i) => miner(`op-${i}`, 250n / BigInt(identities)))
      return frequency([...honest, ...mine], 2, (c) => c.every((a) => a.startsWith('op-')))
    }
    assert.equal(both(1), 0, 'one identity is never both replicas')
    const split = [2, 5, 25].map(both)
    for (const p of split) assert.ok(p < f * f + 0.015, `both replicas with probability ${p}, above f² = ${f * f}`)
    // A uniform draw among identities would give the 25-identity operator (25/31)·(24/30) ≈ 0.65.
    assert.ok((split[2] as number) > 0.04, `many small identities approach f² from below (${split[2]})`)
  })

  it('the chain draws each task’s replicas from the window seed, which is the opening block’s beacon', () => {
    const validators = keys('validator', 1)
    const h = new Harness({ validators, miners: [keys('miner', 3)], params: { replication: 2 } })
    h.block()
    const w = h.app.query('window/0') as Window
    assert.equal(w.seed, toHex(h.beacon(1)))
    assert.notEqual(w.seed, toHex(h.blockHash(1)), 'the block hash seeds nothing')
    const stakes = h.app.state.withRole('miner')
    for (const task of h.app.query('tasks/0') as Task[]) {
      const pool = stakes.filter((m) => h.app.state.stakers.get(m.address)?.subnet === task.subnet)
      assert.deepEqual(task.miners, replicaDraw(fromHex(w.seed) as Uint8Array, task.id, pool, 2).sort())
    }
  })
})
