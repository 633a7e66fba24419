/**
 * The aggregator role machine over a fake chain: at the first block after the chain has an
 * aggregation due to this node, one aggregation per due subnet runs fetch → aggregate → store
 * → submit and names the accepted claims in the chain's order; a gradient that is not served
 * in time (or does not decode) is left out and declared unavailable while the rest are
 * aggregated; an aggregation still
 * waiting (work unsettled, pointer not final), past its deadline, or drawn to another
 * validator is left alone; a later attempt this node is drawn for runs again.
 */
import { strict as assert } from 'node:assert'
import { createActor, fromPromise } from 'xstate'
import {
  aggregationFetchDeadlineMs,
  aggregationMachine,
  kernelAggregation,
} from '../../../src/actors/roles/aggregate-work.ts'
import { type AggregatorComponents, aggregatorMachine } from '../../../src/actors/roles/aggregator.ts'
import type { ContentFetcher } from '../../../src/actors/services/content-fetcher.ts'
import type { TrainingSetup } from '../../../src/actors/services/training-setup.ts'
import {
  type AdapterState,
  decodeAdapterState,
  decodeGradient,
  encodeAdapterState,
  encodeGradient,
  initialAdapterState,
  trainingProtocol,
} from '../../../src/actors/training/protocol.ts'
import { claimListDigest } from '../../../src/chain/claim-list.ts'
import { localTestnetParams } from '../../../src/chain/params.ts'
import type { Aggregation, Claim, Task } from '../../../src/chain/state.ts'
import type { Msg } from '../../../src/chain/tx.ts'
import { getModelConfig } from '../../../src/ml/config.ts'
import { getKernels } from '../../../src/ml/kernels/select.ts'
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

function aggregation(window: number, subnet: number, over: Partial<Aggregation> = {}): Aggregation {
  return {
    window,
    subnet,
    stage: 'due',
    attempt: 0,
    aggregator: SELF,
    tried: [],
    dueHeight: 21,
    deadline: 25,
    claimId: null,
    finishedHeight: null,
    ...over,
  }
}

/** Window 1's subnets are due to this node until height 25; window 0's to another validator; window 2's wait. */
const AGGREGATIONS: Aggregation[] = [
  aggregation(0, 0, { aggregator: 'r3mes1other' }),
  aggregation(1, 0),
  aggregation(1, 1),
  aggregation(2, 0, { stage: 'waiting', dueHeight: null, deadline: null }),
]

const CLAIMS: Claim[] = [
  claim('b', 0, 'accepted', 't1'),
  claim('x', 1, 'flagged', 't3'),
  claim('a', 0, 'accepted', 't0'),
  claim('c', 0, 'accepted', 't1'), // a replica of t1: named, fetched once
  claim('d', 1, 'accepted', 't2'),
]

function fakes(fetch: (cid: string) => Promise<Uint8Array>, aggregations: () => Aggregation[] = () => AGGREGATIONS) {
  const sent: Msg[] = []
  const stored: Uint8Array[] = []
  const fetched: string[] = []
  const content: Pick<ContentFetcher, 'fetch' | 'store'> = {
    fetch: (cid) => {
      fetched.push(cid)
      return fetch(cid)
    },
    store: async (bytes) => {
      stored.push(bytes)
      return `bafy-new-${stored.length}`
    },
  }
  const model = {
    adapterState: async () => newState(),
    aggregatorOf: () => undefined,
  }
  const components: AggregatorComponents = {
    chain: {
      openAggregations: aggregations,
      params: { aggregationDeadlineBlocks: 5, blockTimeMs: 1000 } as AggregatorComponents['chain']['params'],
      claims: (window: number) => (window === 1 ? CLAIMS : []),
      adapterPointer: (subnet: number) => (subnet === 0 ? 'bafy-pointer-0' : null),
    },
    content,
    // The real fetch step over the fake content; the compute is faked where a test says so.
    aggregation: kernelAggregation({ content, model, training: {} as TrainingSetup }, getKernels('ts')),
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
  return { components, content, model, sent, stored, fetched }
}

const config = getModelConfig('micro')
/** A real adapter state (what the store step encodes). */
const newState = (): AdapterState =>
  initialAdapterState(config, trainingProtocol(config, localTestnetParams), 'testchain', 0, [0, 1])

/** A gradient as a miner stores it (what the real fetch step decodes). */
const gradient = (): Uint8Array => encodeGradient(new Map([['w', new Float32Array([1, 2])]]), { id: 't' } as Task, 4096)

/** The aggregation's compute over the fetched inputs: the new state is an initial one. */
const fakeCompute = aggregationMachine.provide({
  actors: { aggregate: fromPromise(async () => encodeAdapterState(newState())) },
})

/** The role machine over `components`, with the fake compute, started and traced. */
function startAggregator(components: ReturnType<typeof fakes>['components']) {
  const trace = stateTrace()
  const machine = aggregatorMachine.provide({ actors: { aggregation: fakeCompute } })
  const actor = createActor(machine, { id: 'aggregator', input: components, inspect: trace.inspect }).start()
  return { actor, trace }
}

const aggregatesOf = (sent: Msg[]) =>
  sent.map((m) => (m.type === 'aggregate' ? [m.window, m.subnet, m.claimsDigest, m.unavailable] : m.type)).sort()

describe('actors: aggregator role machine', () => {
  it('aggregates each subnet of a closed window once: fetch, aggregate, store, submit the claims in chain order', async () => {
    const { components, sent, fetched } = fakes(async () => gradient())
    const { actor, trace } = startAggregator(components)
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
      .map((m) => (m.type === 'aggregate' ? [m.window, m.subnet, m.claimsDigest, m.unavailable, m.adapterCid] : m.type))
      .sort()
    assert.deepEqual(
      aggregates,
      [
        [1, 0, claimListDigest(['b', 'a', 'c']), '00', aggregated.get('1/0')?.cid],
        [1, 1, claimListDigest(['d']), '00', aggregated.get('1/1')?.cid],
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
    const { actor, trace } = startAggregator(components)
    actor.send({ type: 'block', height: 21 })
    await settle()
    actor.send({ type: 'block', height: 22 })
    await settle()

    assert.deepEqual(trace.statesOf('aggregation-1-1').at(-1), 'submitted')
    // The bitmap over each subnet's accepted claims in the chain's order (b, a, c; d): a is bit 1.
    assert.deepEqual(aggregatesOf(sent), [
      [1, 0, claimListDigest(['b', 'c']), '02'],
      [1, 1, claimListDigest([]), '01'],
    ])
    assert.deepEqual(actor.getSnapshot().context.aggregated.get('1/0')?.unavailable, ['a'])
    actor.stop()
  })

  it('asks every replica of a task for its gradient, within the deadline the chain parameters give', async () => {
    const asked: { cid: string; from: readonly string[]; deadlineMs: number | undefined }[] = []
    const { components, content } = fakes(async () => gradient())
    content.fetch = async (cid, options) => {
      asked.push({ cid, from: options?.from ?? [], deadlineMs: options?.deadlineMs })
      return gradient()
    }
    const { actor } = startAggregator(components)
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
    const { actor } = startAggregator(components)
    actor.send({ type: 'block', height: 21 })
    await settle()
    assert.deepEqual(aggregatesOf(sent), [
      [1, 0, claimListDigest([]), '07'],
      [1, 1, claimListDigest([]), '01'],
    ])
    actor.stop()
  })

  it('runs the real aggregate step: the window’s outer rates on the mean pseudo-gradient; wrongAggregate stores other bytes', async () => {
    /** Pseudo-gradients shaped like the state's adapters, as a miner stores them. */
    const delta = (): Uint8Array =>
      encodeGradient(
        new Map([...newState().adapters].map(([name, p]) => [name, p.map((_, i) => Math.fround(0.001 * (i % 7)))])),
        { id: 't' } as Task,
        4096,
      )
    const rates = { ...localTestnetParams, outerLrPpm: 500_000, outerMomentumPpm: 0 }
    const run = async (wrong: boolean): Promise<AdapterState> => {
      const { components, content, model, stored } = fakes(async () => delta())
      const windows: number[] = []
      const training: Pick<TrainingSetup, 'protocolAt'> = {
        protocolAt: (window: number) => {
          windows.push(window)
          return trainingProtocol(config, rates)
        },
      }
      const misbehaviours = new Set(wrong ? (['wrongAggregate'] as const) : [])
      const actor = createActor(aggregationMachine, {
        input: {
          components: {
            ...components,
            aggregation: kernelAggregation({ content, model, training }, getKernels('ts')),
            misbehaviours,
          },
          window: 1,
          subnet: 0,
          claims: CLAIMS.filter((c) => c.subnet === 0 && c.status === 'accepted'),
          pointer: null,
          fetchDeadlineMs: 1000,
        },
      }).start()
      await settle()
      assert.equal(actor.getSnapshot().output?.outcome, 'submitted')
      assert.deepEqual(windows, [1], 'the rates of the aggregated window')
      return decodeAdapterState(stored[0] as Uint8Array)
    }
    const honest = await run(false)
    const base = newState()
    // Every task's Δ is the same, so the mean is Δ; with μ = 0 the step is θ − 0.5·Δ.
    const d = decodeGradient(delta()).grads
    for (const [name, p] of base.adapters)
      for (let i = 0; i < p.length; i++)
        assert.equal(
          (honest.adapters.get(name) as Float32Array)[i],
          Math.fround((p[i] as number) - Math.fround(0.5 * ((d.get(name) as Float32Array)[i] as number))),
        )
    assert.equal(honest.step, 1)
    const wrong = await run(true)
    assert.notDeepEqual(encodeAdapterState(wrong), encodeAdapterState(honest))
  })

  it('leaves alone an aggregation past its deadline, still waiting, or drawn to another validator', async () => {
    const { components, sent } = fakes(async () => new Uint8Array())
    const { actor, trace } = startAggregator(components)
    // At 25 a transaction would land after window 1's deadline; window 0 is another's, window 2 waits.
    actor.send({ type: 'block', height: 25 })
    await settle()
    assert.deepEqual(trace.actorsLike('aggregation-'), [])
    assert.deepEqual(sent, [])
    actor.stop()
  })

  it('runs a (window, subnet) again when the chain draws this node for a later attempt', async () => {
    // Attempt 0 of window 1 subnet 0 is this node's; after another validator's attempt 1 was
    // slashed, the chain draws this node again for attempt 2 (a new deadline).
    let due = [aggregation(1, 0)]
    const { components, sent } = fakes(
      async () => gradient(),
      () => due,
    )
    const { actor, trace } = startAggregator(components)
    actor.send({ type: 'block', height: 21 })
    await settle()
    actor.send({ type: 'block', height: 22 })
    await settle()
    assert.equal(sent.length, 1, 'one transaction per attempt, however many blocks it stays due')
    due = [aggregation(1, 0, { attempt: 1, aggregator: 'r3mes1other', tried: [SELF], dueHeight: 31, deadline: 35 })]
    actor.send({ type: 'block', height: 31 })
    await settle()
    assert.equal(sent.length, 1, 'another validator’s attempt is not this node’s')
    due = [aggregation(1, 0, { attempt: 2, tried: ['r3mes1other'], dueHeight: 41, deadline: 45 })]
    actor.send({ type: 'block', height: 41 })
    await settle()
    assert.deepEqual(trace.statesOf('aggregation-1-0-2'), [
      'fetchingGradients',
      'aggregating',
      'storing',
      'submitting',
      'submitted',
    ])
    assert.deepEqual(
      sent.map((m) => m.type === 'aggregate' && [m.window, m.subnet, m.claimsDigest]),
      [
        [1, 0, claimListDigest(['b', 'a', 'c'])],
        [1, 0, claimListDigest(['b', 'a', 'c'])],
      ],
    )
    actor.stop()
  })
})
