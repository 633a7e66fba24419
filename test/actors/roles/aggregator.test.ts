/**
 * The aggregator role machine over a fake chain: at the first block after a window it
 * aggregates closes, one aggregation per subnet runs fetch → aggregate → store → submit and
 * names the accepted claims in the chain's order; a gradient that is not served in time (or
 * does not decode) is left out and declared unavailable while the rest are aggregated; a
 * window past its deadline, or one another validator aggregates, is left alone.
 */
import { strict as assert } from 'node:assert'
import { createActor, fromPromise } from 'xstate'
import { aggregationFetchDeadlineMs, aggregationMachine } from '../../../src/actors/roles/aggregate-work.ts'
import { type AggregatorComponents, aggregatorMachine } from '../../../src/actors/roles/aggregator.ts'
import {
  type AdapterState,
  encodeGradient,
  initialAdapterState,
  trainingProtocol,
} from '../../../src/actors/training/protocol.ts'
import type { Claim, Task, Window } from '../../../src/chain/state.ts'
import type { Msg } from '../../../src/chain/tx.ts'
import { getModelConfig } from '../../../src/ml/config.ts'
import { DeadlineError } from '../../../src/runtime/clock.ts'
import { settle, silentLogger, stateTrace } from './machine-trace.ts'

const SELF = 'r3mes1aggregator'

function claim(id: string, subnet: number, status: Claim['status'], taskId: string): Claim {
  return {
    id,
    kind: 'submission',
    owner: `r3mes1miner-${id}`,
    window: 1,
    subnet,
    taskId,
    cid: `cid-${id}`,
    height: 15,
    status,
    flag: null,
    challengeUntil: 30,
    metadata: '',
    previousCid: null,
    claims: [],
  }
}

/** Window 1 closed at 20 and is this node's; window 0 is another validator's; window 2 is open. */
const WINDOWS: Record<number, Window> = {
  0: { id: 0, openHeight: 0, closeHeight: 10, seed: '00', aggregator: 'r3mes1other', closed: true },
  1: { id: 1, openHeight: 10, closeHeight: 20, seed: '01', aggregator: SELF, closed: true },
  2: { id: 2, openHeight: 20, closeHeight: 30, seed: '02', aggregator: null, closed: false },
}

const CLAIMS: Claim[] = [
  claim('b', 0, 'accepted', 't1'),
  claim('x', 1, 'flagged', 't3'),
  claim('a', 0, 'accepted', 't0'),
  claim('c', 0, 'accepted', 't1'), // a replica of t1: named, fetched once
  claim('d', 1, 'accepted', 't2'),
]

function fakes(fetch: (cid: string) => Promise<Uint8Array>) {
  const sent: Msg[] = []
  const stored: Uint8Array[] = []
  const fetched: string[] = []
  const components: AggregatorComponents = {
    chain: {
      currentWindow: () => WINDOWS[2] ?? null,
      window: (id: number) => WINDOWS[id] ?? null,
      params: { aggregationDeadlineBlocks: 5, blockTimeMs: 1000 } as AggregatorComponents['chain']['params'],
      subnets: () => [{ id: 0 }, { id: 1 }] as ReturnType<AggregatorComponents['chain']['subnets']>,
      claims: (window: number) => (window === 1 ? CLAIMS : []),
      adapterPointer: (subnet: number) => (subnet === 0 ? 'bafy-pointer-0' : null),
    },
    content: {
      fetch: (cid) => {
        fetched.push(cid)
        return fetch(cid)
      },
      store: async (bytes) => {
        stored.push(bytes)
        return `bafy-new-${stored.length}`
      },
    },
    model: {
      adapterState: async () => newState(),
      aggregatorOf: () => undefined,
    },
    training: {} as AggregatorComponents['training'],
    tx: {
      send: async (msg) => {
        sent.push(msg)
        return { code: 'OK', log: '', height: 21 }
      },
    },
    key: { address: SELF },
    logger: silentLogger,
    misbehaviours: new Set(),
  }
  return { components, sent, stored, fetched }
}

const config = getModelConfig('micro')
/** A real adapter state (what the store step encodes). */
const newState = (): AdapterState => initialAdapterState(config, trainingProtocol(config), 'testchain', 0, [0, 1])

/** A gradient as a miner stores it (what the real fetch step decodes). */
const gradient = (): Uint8Array => encodeGradient(new Map([['w', new Float32Array([1, 2])]]), { id: 't' } as Task, 4096)

/** The aggregation's compute over the fetched inputs: the new state is an initial one. */
const fakeCompute = aggregationMachine.provide({ actors: { aggregate: fromPromise(async () => newState()) } })

const aggregatesOf = (sent: Msg[]) =>
  sent.map((m) => (m.type === 'aggregate' ? [m.window, m.subnet, m.claims, m.unavailable] : m.type)).sort()

describe('actors: aggregator role machine', () => {
  it('aggregates each subnet of a closed window once: fetch, aggregate, store, submit the claims in chain order', async () => {
    const { components, sent, fetched } = fakes(async () => gradient())
    const trace = stateTrace()
    const machine = aggregatorMachine.provide({
      actors: { aggregation: fakeCompute },
    })
    const actor = createActor(machine, { id: 'aggregator', input: components, inspect: trace.inspect }).start()
    actor.send({ type: 'block', height: 21 })
    await settle()
    actor.send({ type: 'block', height: 22 })
    await settle()

    assert.deepEqual(trace.statesOf('aggregation-1-0'), [
      'fetchingGradients',
      'aggregating',
      'storing',
      'submitting',
      'submitted',
    ])
    assert.deepEqual(trace.statesOf('aggregator'), ['watching'])
    // Subnet 0's accepted claims, in the chain's order; subnet 1's one accepted claim. The
    // subnets run side by side, so their order is whichever finished first.
    const aggregated = actor.getSnapshot().context.aggregated
    const aggregates = sent
      .map((m) => (m.type === 'aggregate' ? [m.window, m.subnet, m.claims, m.unavailable, m.adapterCid] : m.type))
      .sort()
    assert.deepEqual(
      aggregates,
      [
        [1, 0, ['b', 'a', 'c'], [], aggregated.get('1/0')?.cid],
        [1, 1, ['d'], [], aggregated.get('1/1')?.cid],
      ],
      'one aggregate per subnet, once, whatever the number of blocks',
    )
    assert.deepEqual(
      [...aggregated.values()].map((r) => r.outcome),
      ['submitted', 'submitted'],
    )
    assert.deepEqual(fetched.sort(), ['cid-a', 'cid-b', 'cid-d'], 'replicas of a task (b, c) are fetched once')
    actor.stop()
  })

  it('a gradient never served goes to unavailable, and the rest are aggregated without it', async () => {
    // Subnet 0's task t0 (claim a) and subnet 1's only gradient are not served in time.
    const { components, sent } = fakes(async (cid) => {
      if (cid === 'cid-a' || cid === 'cid-d') throw new DeadlineError(`fetching ${cid}`, 3_000)
      return gradient()
    })
    const trace = stateTrace()
    const machine = aggregatorMachine.provide({ actors: { aggregation: fakeCompute } })
    const actor = createActor(machine, { id: 'aggregator', input: components, inspect: trace.inspect }).start()
    actor.send({ type: 'block', height: 21 })
    await settle()
    actor.send({ type: 'block', height: 22 })
    await settle()

    assert.deepEqual(trace.statesOf('aggregation-1-1').at(-1), 'submitted')
    assert.deepEqual(aggregatesOf(sent), [
      [1, 0, ['b', 'c'], ['a']],
      [1, 1, [], ['d']],
    ])
    assert.deepEqual(actor.getSnapshot().context.aggregated.get('1/0')?.unavailable, ['a'])
    actor.stop()
  })

  it('asks every replica of a task for its gradient, within the deadline the chain parameters give', async () => {
    const asked: { cid: string; from: readonly string[]; deadlineMs: number | undefined }[] = []
    const { components } = fakes(async () => gradient())
    components.content.fetch = async (cid, options) => {
      asked.push({ cid, from: options?.from ?? [], deadlineMs: options?.deadlineMs })
      return gradient()
    }
    const actor = createActor(aggregatorMachine.provide({ actors: { aggregation: fakeCompute } }), {
      input: components,
    }).start()
    actor.send({ type: 'block', height: 21 })
    await settle()
    const t1 = asked.find((a) => a.cid === 'cid-b')
    assert.deepEqual(t1?.from, ['r3mes1miner-b', 'r3mes1miner-c'])
    assert.equal(t1?.deadlineMs, 3_000, 'the aggregation deadline (5 blocks of 1 s) less two blocks')
    assert.equal(aggregationFetchDeadlineMs({ aggregationDeadlineBlocks: 20, blockTimeMs: 5000 }), 60_000)
    actor.stop()
  })

  it('runs the real fetch step: a gradient that does not decode is declared unavailable, not aggregated', async () => {
    const { components, sent } = fakes(async () => new Uint8Array([1, 2, 3]))
    const actor = createActor(aggregatorMachine.provide({ actors: { aggregation: fakeCompute } }), {
      id: 'aggregator',
      input: components,
    }).start()
    actor.send({ type: 'block', height: 21 })
    await settle()
    assert.deepEqual(aggregatesOf(sent), [
      [1, 0, [], ['b', 'a', 'c']],
      [1, 1, [], ['d']],
    ])
    actor.stop()
  })

  it('leaves a window alone past its aggregation deadline', async () => {
    const { components, sent } = fakes(async () => new Uint8Array())
    const trace = stateTrace()
    const machine = aggregatorMachine.provide({ actors: { aggregation: fakeCompute } })
    const actor = createActor(machine, { id: 'aggregator', input: components, inspect: trace.inspect }).start()
    actor.send({ type: 'block', height: 26 })
    await settle()
    assert.deepEqual(trace.actorsLike('aggregation-'), [])
    assert.deepEqual(sent, [])
    actor.stop()
  })
})
