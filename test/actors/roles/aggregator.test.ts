/**
 * The aggregator role machine over a fake chain: at the first block after a window it
 * aggregates closes, one aggregation per subnet runs fetch → aggregate → store → submit and
 * names the accepted claims in the chain's order; a gradient that cannot be fetched fails
 * that subnet's aggregation and sends no transaction; a window past its deadline, or one
 * another validator aggregates, is left alone.
 */
import { strict as assert } from 'node:assert'
import { createActor, fromPromise } from 'xstate'
import type { AggregationInput, FetchedInputs } from '../../../src/actors/roles/aggregate-work.ts'
import { aggregationMachine } from '../../../src/actors/roles/aggregate-work.ts'
import { type AggregatorComponents, aggregatorMachine } from '../../../src/actors/roles/aggregator.ts'
import { type AdapterState, initialAdapterState, trainingProtocol } from '../../../src/actors/training/protocol.ts'
import type { Claim, Window } from '../../../src/chain/state.ts'
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
      params: { aggregationDeadlineBlocks: 5 } as AggregatorComponents['chain']['params'],
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
      adapterState: async () => ({}) as AdapterState,
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

/** The aggregation's compute over fake inputs: gradients are not decoded, the new state is an initial one. */
const fakeCompute = aggregationMachine.provide({
  actors: {
    fetchGradients: fromPromise<FetchedInputs, AggregationInput>(async ({ input }) => {
      for (const c of input.claims) await input.components.content.fetch(c.cid, { from: [c.owner] })
      return { contributions: [], base: {} as AdapterState }
    }),
    aggregate: fromPromise(async () => newState()),
  },
})

describe('actors: aggregator role machine', () => {
  it('aggregates each subnet of a closed window once: fetch, aggregate, store, submit the claims in chain order', async () => {
    const { components, sent, fetched } = fakes(async () => new Uint8Array())
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
      .map((m) => (m.type === 'aggregate' ? [m.window, m.subnet, m.claims, m.adapterCid] : m.type))
      .sort()
    assert.deepEqual(
      aggregates,
      [
        [1, 0, ['b', 'a', 'c'], aggregated.get('1/0')?.cid],
        [1, 1, ['d'], aggregated.get('1/1')?.cid],
      ],
      'one aggregate per subnet, once, whatever the number of blocks',
    )
    assert.deepEqual(
      [...aggregated.values()].map((r) => r.outcome),
      ['submitted', 'submitted'],
    )
    assert.deepEqual(fetched.sort(), ['cid-a', 'cid-b', 'cid-c', 'cid-d'])
    actor.stop()
  })

  it('fails a subnet whose gradient cannot be fetched, sends no aggregate for it, and does not try it again', async () => {
    // Subnet 1's only gradient never arrives; subnet 0's do.
    const { components, sent } = fakes(async (cid) => {
      if (cid === 'cid-d') throw new DeadlineError(`fetching ${cid}`, 60_000)
      return new Uint8Array()
    })
    const trace = stateTrace()
    const machine = aggregatorMachine.provide({ actors: { aggregation: fakeCompute } })
    const actor = createActor(machine, { id: 'aggregator', input: components, inspect: trace.inspect }).start()
    actor.send({ type: 'block', height: 21 })
    await settle()
    actor.send({ type: 'block', height: 22 })
    await settle()

    assert.deepEqual(trace.statesOf('aggregation-1-1'), ['fetchingGradients', 'failed'])
    assert.deepEqual(
      sent.map((m) => m.type === 'aggregate' && m.subnet),
      [0],
    )
    const failed = actor.getSnapshot().context.aggregated.get('1/1')
    assert.equal(failed?.outcome, 'failed')
    assert.match(failed?.reason ?? '', /fetching cid-d/)
    actor.stop()
  })

  it('runs the real fetch step: a gradient that does not decode fails the aggregation', async () => {
    const { components, sent } = fakes(async () => new Uint8Array([1, 2, 3]))
    const trace = stateTrace()
    const actor = createActor(aggregatorMachine, {
      id: 'aggregator',
      input: components,
      inspect: trace.inspect,
    }).start()
    actor.send({ type: 'block', height: 21 })
    await settle()
    assert.deepEqual(trace.statesOf('aggregation-1-0'), ['fetchingGradients', 'failed'])
    assert.deepEqual(sent, [])
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
