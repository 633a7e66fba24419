/** Shared pieces of the topology tests: a topology that uses every field, and error capture. */
import assert from 'node:assert/strict'
import { stringify } from 'yaml'
import { TopologyError } from '../../src/topology/errors.ts'
import { parseTopology } from '../../src/topology/load.ts'

/** A valid topology in which every field of the format is set, so each can be made bad in turn. */
export function fullTopology(): Record<string, unknown> {
  return {
    name: 'full',
    description: 'every field set',
    seed: 7,
    model: 'tiny',
    backend: 'ts',
    chain: {
      id: 'r3mes-full',
      preset: 'localTestnet',
      blockTimeMs: 500,
      windowBlocks: 12,
      params: { replication: 2, baseReward: 400, minFee: '0.02' },
    },
    validators: { count: 4, stake: [30000, 20000, 20000, 20000] },
    subnets: [
      { layers: [0, 3], miners: 2, minerStake: 3000 },
      { layers: [3, 8], miners: 3 },
    ],
    verifiers: { count: 1, on: ['validator-0'], stake: 12000 },
    arbiters: { count: 1, on: ['validator-1', 'validator-2'], stake: 11000 },
    aggregator: { on: ['validators'] },
    serving: { count: 2, port: 8100 },
    challengers: [
      { nodes: ['verifiers'], fraction: 1 },
      { nodes: ['miner-1-2'], fraction: 0.5, steps: 'all' },
    ],
    misbehaviours: [
      { node: 'miner-0-1', kind: 'wrongGradient', fromWindow: 1 },
      { node: 'miner-1-2', kind: 'griefingChallenger' },
    ],
    network: {
      delayMs: 5,
      jitterMs: 2,
      lossPercent: 1,
      nodes: { miners: { delayMs: 20 }, 'miner-0-0': { jitterMs: 9, lossPercent: 0.5 } },
    },
    faults: [
      { at: { height: 5 }, action: 'kill', targets: ['validator-3'] },
      { at: { height: 9 }, action: 'restart', targets: ['validator-3'] },
      { at: { height: 10 }, action: 'pause', targets: ['miner-0-0'] },
      { at: { height: 12 }, action: 'resume' },
      { at: { ms: 20000 }, action: 'disconnect', targets: ['proposer'] },
      { at: { afterMs: 3000 }, action: 'heal' },
      { at: { ms: 30000 }, action: 'partition', groups: [['validator-0', 'validator-1'], ['rest']] },
      { at: { ms: 30000 }, action: 'heal', targets: ['validators'] },
      { at: { ms: 31000 }, action: 'clockSkew', targets: ['validator-2'], skewMs: -1500 },
    ],
    run: { windows: 3, timeoutMs: 120000, recoveryBlocks: 8 },
  }
}

/** Parse a topology given as data (written out as YAML first, so lines are real). */
export function parseData(data: unknown, file = 'test.yaml') {
  return parseTopology(stringify(data), file)
}

/** The TopologyError that parsing `text` throws. */
export function topologyErrorOf(text: string, file = 'test.yaml'): TopologyError {
  try {
    parseTopology(text, file)
  } catch (error) {
    if (error instanceof TopologyError) return error
    throw error
  }
  assert.fail(`expected ${file} to be refused`)
}

/** Set `value` at `path` in a deep copy of `data`; `undefined` deletes the field. */
export function withField(data: Record<string, unknown>, path: readonly (string | number)[], value: unknown) {
  const copy = structuredClone(data)
  let node = copy as Record<string | number, unknown>
  for (const part of path.slice(0, -1)) node = node[part] as Record<string | number, unknown>
  const last = path[path.length - 1] as string | number
  if (value === undefined) delete node[last]
  else node[last] = value
  return copy
}
