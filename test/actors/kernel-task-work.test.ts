/**
 * The node's task work (src/actors/roles/kernel-task-work.ts), what the miner's window asks
 * of it: each subnet's range and the adapter state its final pointer names, from the
 * aggregator that named it; only once every subnet's pieces are in, the miner says it is
 * ready for the window in each, with the pointer it trains from.
 */
import assert from 'node:assert/strict'
import { type KernelTaskWorkComponents, kernelTaskWork } from '../../src/actors/roles/kernel-task-work.ts'

describe('actors: the node’s task work', () => {
  it('fetches every subnet’s range and adapters at its final pointer, then announces ready in each', async () => {
    const log: string[] = []
    const pointers: Record<number, string | null> = { 0: 'bafy-state-0', 1: null }
    const components = {
      chain: { finalAdapterPointer: (subnet: number) => pointers[subnet] ?? null },
      model: {
        stageWeights: async (subnet: number) => {
          log.push(`range ${subnet}`)
          return { subnet }
        },
        aggregatorOf: (pointer: string) => `aggregator of ${pointer}`,
        adapterState: async (subnet: number, pointer: string | null, from?: string) => {
          log.push(`adapters ${subnet} at ${pointer} from ${from}`)
          return { adapters: new Map([['a', new Float32Array([subnet])]]) }
        },
      },
      presence: {
        announceReady: async (subnet: number, window: number, pointer: string | null) =>
          void log.push(`ready ${subnet} for ${window} at ${pointer}`),
      },
    } as unknown as KernelTaskWorkComponents
    const shards = await kernelTaskWork(components).fetchShards([0, 1], 7, new AbortController().signal)
    assert.deepEqual(log, [
      'range 0',
      'adapters 0 at bafy-state-0 from aggregator of bafy-state-0',
      'range 1',
      'adapters 1 at null from undefined',
      'ready 0 for 7 at bafy-state-0',
      'ready 1 for 7 at null',
    ])
    assert.deepEqual([...shards.keys()], [0, 1])
    assert.deepEqual(shards.get(0)?.stage, { subnet: 0 })
    assert.equal(shards.get(0)?.pointer, 'bafy-state-0')
    assert.deepEqual(shards.get(1)?.adapters.get('a'), new Float32Array([1]))
  })
})
