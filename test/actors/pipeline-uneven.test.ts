/**
 * Task slots put min(replication, miners) replicas on each task, so neighbouring stages of a
 * path can hold different replica counts (a subnet of one miner beside one of many). Every
 * replica must still have someone to send to and every neighbouring replica someone to hear.
 */
import assert from 'node:assert/strict'
import { partners, receiveSources, sendTargets } from '../../src/actors/roles/pipeline.ts'
import type { Task } from '../../src/chain/state.ts'
import { assignSlots, shardCount } from '../../src/chain/task-slots.ts'
import { sha256 } from '../../src/codec/hash.ts'

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`)

describe('actors: pipeline neighbours with uneven replica counts', () => {
  it('every replica sends to a neighbour, and every neighbouring replica is sent to, for 1–5 replicas each side', () => {
    for (let a = 1; a <= 5; a++)
      for (let b = 1; b <= 5; b++) {
        const mine = { id: 'm', subnet: 0, shard: 0, miners: names('a', a) } as unknown as Task
        const next = { id: 'n', subnet: 1, shard: 0, miners: names('b', b) } as unknown as Task
        const reached = new Set<string>()
        for (let i = 0; i < a; i++) {
          const to = sendTargets(next, mine, i)
          assert.ok(to.length > 0, `${a} → ${b}: replica ${i} sends to nobody`)
          for (const m of to) reached.add(m)
          assert.deepEqual(to.sort(), partners(next, mine, i).sort())
        }
        assert.deepEqual([...reached].sort(), names('b', b), `${a} → ${b}: a neighbouring replica hears nobody`)
        assert.deepEqual(receiveSources(mine), names('a', a))
      }
  })

  it('a window of a one-miner subnet beside a five-miner subnet closes every path', () => {
    const seed = sha256('uneven')
    const subnets = [names('solo', 1), names('many', 5)]
    const shards = shardCount(
      subnets.map((s) => s.length),
      { tasksPerMiner: 2, replication: 2, shardsPerWindow: 512 },
    )
    const tasks = subnets.map((miners, subnet) => assignSlots(seed, subnet, miners, shards, 2))
    for (let shard = 0; shard < shards; shard++) {
      const first = { id: `0.${shard}.0`, subnet: 0, shard, miners: tasks[0]?.[shard] } as unknown as Task
      const second = { id: `0.${shard}.1`, subnet: 1, shard, miners: tasks[1]?.[shard] } as unknown as Task
      assert.deepEqual(first.miners, ['solo-0'])
      assert.equal(second.miners.length, 2)
      const forward = new Set(first.miners.flatMap((_, i) => sendTargets(second, first, i)))
      const backward = new Set(second.miners.flatMap((_, i) => sendTargets(first, second, i)))
      assert.equal(forward.size, 2, 'the lone first stage feeds both replicas of the second')
      assert.deepEqual([...backward], ['solo-0'], 'both replicas send their gradient back to it')
    }
  })
})
