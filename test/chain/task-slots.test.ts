import assert from 'node:assert/strict'
import fc from 'fast-check'
import { labelCid } from '../../src/chain/genesis.ts'
import { type KeyPair, testKey } from '../../src/chain/keys.ts'
import { defaultParams, MAX_TASKS_PER_MINER, validateParams } from '../../src/chain/params.ts'
import { encodeChainState } from '../../src/chain/snapshot.ts'
import type { Task, Window } from '../../src/chain/state.ts'
import { assignSlots, type SlotParams, shardCount } from '../../src/chain/task-slots.ts'
import { commitmentOf } from '../../src/chain/tx.ts'
import { fromHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { Harness, keys, salt } from './harness.ts'

const names = (n: number, prefix = 'm'): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`)

/** How many tasks each miner holds in `tasks` (miners with none included). */
function counts(miners: readonly string[], tasks: readonly (readonly string[])[]): Map<string, number> {
  const out = new Map(miners.map((m) => [m, 0]))
  for (const t of tasks) for (const m of t) out.set(m, (out.get(m) ?? 0) + 1)
  return out
}

/** Every miner holds ⌊slots / n⌋ or ⌈slots / n⌉ tasks, and each task's replicas are distinct. */
function assertBalanced(miners: readonly string[], tasks: readonly (readonly string[])[], replication: number): void {
  const perTask = Math.min(replication, miners.length)
  for (const t of tasks) {
    assert.equal(t.length, perTask, `a task holds ${t.length} miners, not ${perTask}`)
    assert.equal(new Set(t).size, t.length, `a task repeats a miner: ${t}`)
  }
  const slots = tasks.length * perTask
  const low = Math.floor(slots / miners.length)
  const high = Math.ceil(slots / miners.length)
  for (const [m, n] of counts(miners, tasks))
    assert.ok(n === low || n === high, `${m} holds ${n} tasks, not ${low} or ${high}`)
}

describe('chain/task-slots: shards follow the miners', () => {
  const p: SlotParams = { tasksPerMiner: 2, replication: 2, shardsPerWindow: 512 }

  it('sizes the window so the smallest subnet’s miners get tasksPerMiner tasks each, up to the cap', () => {
    assert.equal(shardCount([2, 2], p), 2, 'the default testnet: 2 miners × 2 tasks / 2 replicas')
    assert.equal(shardCount([3, 10], p), 3, 'the smallest subnet decides')
    assert.equal(shardCount([3], { ...p, replication: 2, tasksPerMiner: 1 }), 2, '⌈3 × 1 / 2⌉')
    assert.equal(shardCount([1, 1], p), 1, 'one miner per subnet: one shard, one replica')
    assert.equal(shardCount([1000], p), 512, 'capped by shardsPerWindow')
    assert.equal(shardCount([5, 0, 5], p), 0, 'a subnet with no miner breaks every path: no shard')
    assert.equal(shardCount([], p), 0)
    assert.equal(shardCount([4, 4], { ...p, shardsPerWindow: 0 }), 0, 'a cap of 0 stops training')
  })
})

describe('chain/params: tasksPerMiner fits the tensor inbox', () => {
  it('refuses tasksPerMiner whose neighbours’ micro-batch tensors would overflow a miner’s inbox, naming the field', () => {
    // 2 × M × (tasksPerMiner + 1) tensors from one neighbour must fit MAX_INBOX_TENSORS_PER_SENDER (64).
    assert.equal(validateParams({ ...defaultParams, microBatches: 8, tasksPerMiner: 3 }).tasksPerMiner, 3)
    assert.throws(
      () => validateParams({ ...defaultParams, microBatches: 8, tasksPerMiner: 4 }),
      (e: Error & { field?: string }) => e.field === 'params.tasksPerMiner' && /at most 3/.test(e.message),
    )
  })
})

describe('chain/params: the step shape', () => {
  it('refuses micro-batches that do not divide the step’s sequences, naming the field', () => {
    assert.equal(validateParams({ ...defaultParams, stepSequences: 12, microBatches: 3 }).microBatches, 3)
    assert.throws(
      () => validateParams({ ...defaultParams, stepSequences: 8, microBatches: 3 }),
      (e: Error & { field?: string }) =>
        e.field === 'params.microBatches' && /divide stepSequences \(8\)/.test(e.message),
    )
  })
})

describe('chain/task-slots: every miner works every window', () => {
  const seed = sha256('window-seed')

  it('gives every miner ⌊slots / n⌋ or ⌈slots / n⌉ tasks with distinct replicas, over many sizes and seeds', () => {
    for (let s = 0; s < 20; s++) {
      const seedS = sha256(`seed/${s}`)
      for (const [n, shards, replication] of [
        [2, 2, 2],
        [3, 3, 2],
        [5, 7, 3],
        [7, 4, 2],
        [10, 10, 2],
        [16, 3, 4],
        [4, 9, 4],
      ] as const) {
        const miners = names(n)
        assertBalanced(miners, assignSlots(seedS, 0, miners, shards, replication), replication)
      }
    }
  })

  it('no miner holds more than tasksPerMiner + 1 tasks, whatever the subnets’ sizes (the inbox bound relies on it)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: MAX_TASKS_PER_MINER }),
        fc.integer({ min: 1, max: 5 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (sizes, tasksPerMiner, replication, seedBytes) => {
          const shards = shardCount(sizes, { tasksPerMiner, replication, shardsPerWindow: 4096 })
          sizes.forEach((n, subnet) => {
            const miners = names(n)
            const tasks = assignSlots(seedBytes, subnet, miners, shards, replication)
            assertBalanced(miners, tasks, replication)
            for (const [m, held] of counts(miners, tasks))
              assert.ok(held <= tasksPerMiner + 1, `${m} holds ${held} tasks at tasksPerMiner ${tasksPerMiner}`)
          })
        },
      ),
      { seed: 18, numRuns: 300 },
    )
  })

  it('is deterministic from (seed, subnet) and the set of miners, whatever their order', () => {
    const miners = names(9)
    const once = assignSlots(seed, 1, miners, 6, 2)
    assert.deepEqual(assignSlots(seed, 1, [...miners].reverse(), 6, 2), once)
    assert.notDeepEqual(assignSlots(seed, 0, miners, 6, 2), once, 'each subnet has its own draw')
    assert.notDeepEqual(assignSlots(sha256('another'), 1, miners, 6, 2), once, 'each window has its own draw')
    for (const t of once) assert.deepEqual(t, [...t].sort(), 'replicas are listed in address order')
  })

  it('one miner per subnet: it holds every task, alone', () => {
    assert.deepEqual(assignSlots(seed, 0, ['solo'], 3, 2), [['solo'], ['solo'], ['solo']])
  })

  it('replication above the miners: every task holds all of them', () => {
    const tasks = assignSlots(seed, 0, names(3), 4, 5)
    for (const t of tasks) assert.deepEqual(t, names(3))
  })

  it('more miners than slots: each holds 0 or 1 task, and who waits changes with the window', () => {
    const miners = names(50)
    const tasks = assignSlots(seed, 0, miners, 10, 2)
    assertBalanced(miners, tasks, 2)
    const busy = new Set(tasks.flat())
    assert.equal(busy.size, 20)
    const next = new Set(assignSlots(sha256('next window'), 0, miners, 10, 2).flat())
    assert.ok(
      [...next].some((m) => !busy.has(m)),
      'the next window works others',
    )
  })

  it('no miner: empty tasks', () => {
    assert.deepEqual(assignSlots(seed, 0, [], 2, 2), [[], []])
  })

  it('an operator with k of n identities holds both replicas of a task about k(k − 1) / (n(n − 1)) of the time', () => {
    // 4,000 fixed draws: the frequency is the same on every run, so this cannot flake.
    const honest = names(12, 'honest')
    for (const k of [1, 3, 6]) {
      const mine = names(k, 'op')
      const miners = [...honest, ...mine]
      let both = 0
      let tasks = 0
      for (let s = 0; s < 1000; s++) {
        for (const t of assignSlots(sha256(`collusion/${s}`), 0, miners, 4, 2)) {
          tasks++
          if (t.every((m) => m.startsWith('op-'))) both++
        }
      }
      const n = miners.length
      const expected = (k * (k - 1)) / (n * (n - 1))
      assert.ok(Math.abs(both / tasks - expected) < 0.015, `k = ${k}: ${both / tasks}, expected ${expected}`)
    }
  })
})

describe('chain/windows: tasks on a real chain', () => {
  it('the window’s tasks are the slot assignment from its seed: every miner of both subnets works', () => {
    const miners = [keys('miner0', 3), keys('miner1', 5)]
    const h = new Harness({ validators: keys('validator', 1), miners, params: { replication: 2, tasksPerMiner: 2 } })
    h.block()
    const w = h.app.query('window/0') as Window
    const tasks = h.app.query('tasks/0') as Task[]
    // ⌈3 × 2 / 2⌉ = 3 shards: 3 tasks on each subnet.
    assert.equal(tasks.length, 6)
    miners.forEach((subnetMiners, subnet) => {
      const addresses = subnetMiners.map((k) => k.address)
      const mine = tasks.filter((t) => t.subnet === subnet).sort((a, b) => a.shard - b.shard)
      assert.deepEqual(
        mine.map((t) => t.miners),
        assignSlots(fromHex(w.seed) as Uint8Array, subnet, addresses, 3, 2),
      )
      assertBalanced(
        addresses,
        mine.map((t) => t.miners),
        2,
      )
      for (const a of addresses) assert.ok((h.app.query(`tasks/0/${a}`) as Task[]).length >= 1, `${a} has no task`)
    })
  })

  it('stake gates eligibility: a miner slashed below the minimum gets no task from the next window', () => {
    const miners = [keys('miner0', 3), keys('miner1', 2)]
    const h = new Harness({ validators: keys('validator', 1), miners, params: { replication: 2 } })
    h.block()
    const slashed = (miners[0] as KeyPair[])[0] as KeyPair
    assert.ok((h.app.query(`tasks/0/${slashed.address}`) as Task[]).length > 0)
    // Convicted work takes a share of its stake (chain/game.ts); here it leaves less than the minimum.
    const stake = h.app.state.stakers.get(slashed.address)?.stake as bigint
    h.app.state.slash(slashed.address, stake - h.params.minStakeMiner + 1n)
    h.runTo(h.params.windowBlocks + 1)
    assert.deepEqual(h.app.query(`tasks/1/${slashed.address}`), [])
    // The two miners left in subnet 0 decide the shards: ⌈2 × 2 / 2⌉ = 2, each holding both.
    const subnet0 = (h.app.query('tasks/1') as Task[]).filter((t) => t.subnet === 0)
    assert.equal(subnet0.length, 2)
    for (const t of subnet0) assert.equal(t.miners.length, 2)
  })

  it('a subnet with no miner: the window has no task (no path could be trained)', () => {
    const h = new Harness({ validators: keys('validator', 1), miners: [keys('miner0', 3)] })
    h.block()
    assert.equal((h.app.query('tasks/0') as Task[]).length, 0)
  })

  // Measured on 2 shared cores: the opening 34 ms and 120 kB of tasks, blocks of 1,024 commits
  // and 1,024 reveals 361 and 269 ms, 855 kB of state for the whole window, the rest 65 ms.
  // The bounds leave room for a loaded machine and catch growth that scales badly.
  it('1,000 miners in one subnet: each gets 1 or 2 tasks, and a full window of submissions stays within time and state bounds', () => {
    const miners: KeyPair[] = Array.from({ length: 1000 }, (_, i) => testKey(`scale-miner-${i}`))
    const h = new Harness({
      validators: keys('validator', 1),
      miners: [miners],
      subnetLayers: [[0, 8]],
      params: { replication: 2, tasksPerMiner: 2 },
    })
    const before = encodeChainState(h.app.state).length
    const clock = new SystemClock()
    const timed = (run: () => void): number => {
      const start = clock.monotonicMs()
      run()
      return clock.monotonicMs() - start
    }
    const openMs = timed(() => h.block())
    const tasks = h.app.query('tasks/0') as Task[]
    // ⌈1000 × 2 / 2⌉ = 1,000 shards, capped at shardsPerWindow = 512: 1,024 slots for 1,000 miners.
    assert.equal(tasks.length, 512)
    assertBalanced(
      miners.map((k) => k.address),
      tasks.map((t) => t.miners),
      2,
    )
    assert.ok(openMs < 1000, `opening the window took ${openMs} ms`)
    const opened = encodeChainState(h.app.state).length - before
    assert.ok(opened < 200_000, `the window's tasks added ${opened} B to the state`)

    // Every replica commits, then reveals: 1,024 submissions, 2,048 transactions.
    const keyOf = new Map(miners.map((k) => [k.address, k]))
    const slots = tasks.flatMap((t) => t.miners.map((m) => ({ task: t.id, key: keyOf.get(m) as KeyPair })))
    const cid = (task: string) => labelCid(`gradient/${task}`)
    const commitBlock = slots.map(({ task, key }) =>
      h.tx(key, { type: 'commit', taskId: task, commitment: commitmentOf(cid(task), key.address, task, salt(task)) }),
    )
    const commitMs = timed(() => {
      for (const r of h.block(commitBlock)) assert.equal(r.code, 'OK', r.log)
    })
    const revealBlock = slots.map(({ task, key }) =>
      h.tx(key, { type: 'reveal', taskId: task, cid: cid(task), salt: salt(task), metadata: '' }),
    )
    const revealMs = timed(() => {
      for (const r of h.block(revealBlock)) assert.equal(r.code, 'OK', r.log)
    })
    const accepted = h.app.state.claims.entries().filter(([, c]) => c.status === 'accepted').length
    assert.equal(accepted, 1024, 'both replicas of every task agree')
    const grown = encodeChainState(h.app.state).length - before
    assert.ok(grown < 1_500_000, `the window added ${grown} B to the state`)
    assert.ok(
      commitMs < 5000 && revealMs < 5000,
      `blocks of 1,024 commits and reveals took ${commitMs} and ${revealMs} ms`,
    )
    // The rest of the window and the next opening, with the aggregation bookkeeping over 1,024 claims.
    const restMs = timed(() => h.runTo(h.params.windowBlocks + 1))
    assert.ok(restMs < 3000, `the rest of the window and the next opening took ${restMs} ms`)
  })
})
