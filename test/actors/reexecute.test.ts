/**
 * Re-execution convicts a miner only on what the miner did: content that arrives wrong or
 * cannot be decoded. Content that does not arrive in time (a slow or cut network) makes the
 * check throw, to be tried again later; it never reads as a fault. The components are stubbed
 * down to what the check touches before it fetches.
 */
import { strict as assert } from 'node:assert'
import { aggregateState, copyAdapterState } from '../../src/actors/roles/aggregate-work.ts'
import { ContentUnavailableError } from '../../src/actors/roles/availability.ts'
import { type ReexecuteComponents, reexecute } from '../../src/actors/roles/reexecute.ts'
import type { FetchOptions } from '../../src/actors/services/content-fetcher.ts'
import {
  decodeGradient,
  encodeAdapterState,
  encodeGradient,
  initialAdapterState,
  traceMetadata,
  trainingProtocol,
} from '../../src/actors/training/protocol.ts'
import { localTestnetParams } from '../../src/chain/params.ts'
import type { Claim, Task } from '../../src/chain/state.ts'
import { modelConfigs } from '../../src/ml/config.ts'
import type { Kernels } from '../../src/ml/kernels/contract.ts'
import { getKernels } from '../../src/ml/kernels/select.ts'
import type { Params } from '../../src/ml/weights.ts'
import { ContentIntegrityError } from '../../src/net/errors.ts'
import { DeadlineError } from '../../src/runtime/clock.ts'

const TRACE = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

const claim = {
  id: '1.0.0/r3mes1miner',
  kind: 'submission',
  owner: 'r3mes1miner',
  window: 1,
  subnet: 0,
  taskId: '1.0.0',
  cid: 'bafkreia5ar5hyxfpufwhkwgn6bq7xaxzpdjkbfl2f5nfw5q7zhomvjfkhq',
  metadata: traceMetadata(TRACE),
} as unknown as Claim

/** Components whose fetches all answer with `fetch`; `asked` records who each fetch named as holder. */
function services(
  fetch: () => Promise<Uint8Array>,
  asked: (readonly string[] | undefined)[] = [],
): ReexecuteComponents {
  return {
    chain: {
      tasks: () => [{ id: '1.0.0', window: 1, subnet: 0, shard: 0, miners: ['r3mes1miner'] }],
      window: () => ({ id: 1, seed: '00', closeHeight: 20 }),
    },
    content: {
      fetch: (_cid: string, options?: FetchOptions) => {
        asked.push(options?.from)
        return fetch()
      },
    },
  } as unknown as ReexecuteComponents
}

describe('actors: re-execution verdicts', () => {
  it('throws ContentUnavailableError, and convicts nobody, when the trace does not arrive in time', async () => {
    const asked: (readonly string[] | undefined)[] = []
    const s = services(() => Promise.reject(new DeadlineError(`fetching ${TRACE}`, 60_000)), asked)
    await assert.rejects(reexecute(s, claim, {} as Kernels), ContentUnavailableError)
    assert.deepEqual(asked, [['r3mes1miner']], 'the trace is asked of the miner that stored it')
  })

  it('asks the owner first, then the other miners of a replicated task (they stored the same CID)', async () => {
    const asked: (readonly string[] | undefined)[] = []
    const s = services(() => Promise.reject(new DeadlineError(`fetching ${TRACE}`, 60_000)), asked)
    const replicated = {
      ...s,
      chain: { ...s.chain, tasks: () => [{ id: '1.0.0', window: 1, miners: ['r3mes1a', 'r3mes1miner', 'r3mes1z'] }] },
    } as unknown as ReexecuteComponents
    await assert.rejects(reexecute(replicated, claim, {} as Kernels), ContentUnavailableError)
    assert.deepEqual(asked, [['r3mes1miner', 'r3mes1a', 'r3mes1z']])
  })

  it('a caller’s abort is not unavailability: it passes through as is', async () => {
    const abort = new Error('stopped')
    const controller = new AbortController()
    controller.abort(abort)
    const s = services(() => Promise.reject(abort))
    await assert.rejects(reexecute(s, claim, {} as Kernels, controller.signal), (e) => e === abort)
  })

  it('any failure that is neither corrupt content nor the caller’s abort is unavailability', async () => {
    // bitswap reports its deadline's abort in its own words, not as a DeadlineError.
    const s = services(() =>
      Promise.reject(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' })),
    )
    await assert.rejects(reexecute(s, claim, {} as Kernels), ContentUnavailableError)
  })

  it('convicts when the trace arrives corrupt or is not a trace', async () => {
    const corrupt = services(() => Promise.reject(new ContentIntegrityError(TRACE, 'bafkreiother', 'content')))
    assert.deepEqual(await reexecute(corrupt, claim, {} as Kernels), {
      honest: false,
      reason: 'the trace is not served',
    })
    const garbage = services(() => Promise.resolve(new Uint8Array([1, 2, 3])))
    const verdict = await reexecute(garbage, claim, {} as Kernels)
    assert.equal(verdict.honest, false)
    assert.match(verdict.reason, /^bad trace: /)
  })
})

describe('actors: re-execution of an aggregate', () => {
  const config = modelConfigs.micro as (typeof modelConfigs)['micro']
  const protocol = trainingProtocol(config, localTestnetParams)
  const kernels = getKernels('ts')
  const base = initialAdapterState(config, protocol, 'r3mes-test', 0, [0, config.nLayers])
  const task = (id: string) => ({ id, window: 1, shard: 0, subnet: 0, miners: [] }) as unknown as Task
  /** A gradient of the adapters' shapes, its values drawn from `salt`. */
  const gradient = (salt: number): Params =>
    new Map(
      [...base.adapters].map(([name, p]) => [name, p.map((_, i) => Math.fround(Math.sin(i * 0.37 + salt) * 0.01))]),
    )
  const submissions = [
    { id: '1.0.0/r3mes1a', kind: 'submission', owner: 'r3mes1a', taskId: '1.0.0', cid: 'bafy-g0' },
    { id: '1.0.0/r3mes1b', kind: 'submission', owner: 'r3mes1b', taskId: '1.0.0', cid: 'bafy-g0' }, // a replica
    { id: '1.1.0/r3mes1c', kind: 'submission', owner: 'r3mes1c', taskId: '1.1.0', cid: 'bafy-g1' },
  ] as unknown as Claim[]
  const bytes = new Map<string, Uint8Array>([
    ['bafy-g0', encodeGradient(gradient(1), task('1.0.0'), 256)],
    ['bafy-g1', encodeGradient(gradient(2), task('1.1.0'), 128)],
  ])
  const honest = aggregateState(kernels, protocol.outer, {
    contributions: ['bafy-g0', 'bafy-g1'].map((cid) => {
      const g = decodeGradient(bytes.get(cid) as Uint8Array)
      return { grads: g.grads, tokens: g.tokens }
    }),
    base: copyAdapterState(base),
  })
  const aggregate = (cid: string) =>
    ({
      id: 'agg/1/0',
      kind: 'aggregate',
      owner: 'r3mes1aggregator',
      window: 1,
      subnet: 0,
      taskId: null,
      cid,
      previousCid: null,
      claims: submissions.map((c) => c.id),
    }) as unknown as Claim

  function components(fetched: string[] = []): ReexecuteComponents {
    return {
      chain: { claim: (id: string) => submissions.find((c) => c.id === id) ?? null },
      content: {
        fetch: async (cid: string) => {
          fetched.push(cid)
          const b = bytes.get(cid)
          if (b === undefined) throw new DeadlineError(`fetching ${cid}`, 60_000)
          return b
        },
      },
      model: { adapterState: async () => base, aggregatorOf: () => undefined },
      training: { protocolAt: () => protocol },
    } as unknown as ReexecuteComponents
  }

  it('clears an aggregate that recomputes bit for bit, fetching each task once', async () => {
    bytes.set('bafy-honest', encodeAdapterState(honest))
    const fetched: string[] = []
    assert.deepEqual(await reexecute(components(fetched), aggregate('bafy-honest'), kernels), {
      honest: true,
      reason: 'the aggregate re-executes bit for bit',
    })
    assert.deepEqual(fetched, ['bafy-honest', 'bafy-g0', 'bafy-g1'])
  })

  it('convicts an aggregate one adapter value off, as the wrongAggregate misbehaviour leaves it', async () => {
    const wrong = copyAdapterState(honest)
    const first = [...wrong.adapters.keys()].sort()[0] as string
    const values = wrong.adapters.get(first) as Float32Array
    values[0] = Math.fround((values[0] as number) + 0.01)
    bytes.set('bafy-wrong', encodeAdapterState(wrong))
    assert.deepEqual(await reexecute(components(), aggregate('bafy-wrong'), kernels), {
      honest: false,
      reason: 'the aggregate differs from re-execution',
    })
  })

  it('the aggregate is one outer Nesterov step on the token-weighted mean pseudo-gradient, momentum kept in the state', () => {
    const { lr, momentum: mu } = protocol.outer
    const [g1, g2] = [gradient(1), gradient(2)]
    for (const [name, before] of base.adapters) {
      const after = honest.adapters.get(name) as Float32Array
      const v = honest.momentum.get(name) as Float32Array
      for (let i = 0; i < before.length; i++) {
        // First step from zero momentum: v = Δ̄, θ' = θ − lr·(Δ̄ + μ·v).
        const mean =
          (256 * ((g1.get(name) as Float32Array)[i] as number) + 128 * ((g2.get(name) as Float32Array)[i] as number)) /
          384
        assert.ok(Math.abs((v[i] as number) - mean) < 1e-7, `${name}[${i}] momentum`)
        const expected = (before[i] as number) - lr * (mean + mu * mean)
        assert.ok(Math.abs((after[i] as number) - expected) < 1e-6, `${name}[${i}]: ${after[i]} vs ${expected}`)
      }
    }
    assert.equal(honest.step, 1)
  })

  it('recomputes with the rates its window recorded: a later change does not convict it, another window’s rates do', async () => {
    const changed = trainingProtocol(config, { ...localTestnetParams, outerLrPpm: 500_000, outerMomentumPpm: 0 })
    bytes.set('bafy-honest', encodeAdapterState(honest))
    const c = components()
    ;(c.training as { protocolAt: (w: number) => unknown }).protocolAt = (w) => (w === 1 ? protocol : changed)
    assert.equal((await reexecute(c, aggregate('bafy-honest'), kernels)).honest, true)
    // The same inputs aggregated for window 2, but with window 1's rates: wrong for window 2.
    const stale = { ...aggregate('bafy-honest'), id: 'agg/2/0', window: 2 } as Claim
    assert.deepEqual(await reexecute(c, stale, kernels), {
      honest: false,
      reason: 'the aggregate differs from re-execution',
    })
  })

  it('throws, convicting nobody, when a named gradient does not arrive; convicts when the aggregate arrives corrupt', async () => {
    bytes.set('bafy-honest', encodeAdapterState(honest))
    const missing = [...submissions, { id: '1.2.0/r3mes1d', taskId: '1.2.0', cid: 'bafy-gone' }] as unknown as Claim[]
    const c = components()
    ;(c.chain as { claim: (id: string) => Claim | null }).claim = (id) => missing.find((m) => m.id === id) ?? null
    const claim = { ...aggregate('bafy-honest'), claims: missing.map((m) => m.id) } as Claim
    await assert.rejects(reexecute(c, claim, kernels), DeadlineError)
    const corrupt = components()
    ;(corrupt.content as { fetch: () => Promise<Uint8Array> }).fetch = () =>
      Promise.reject(new ContentIntegrityError('bafy-honest', 'bafkreiother', 'content'))
    assert.deepEqual(await reexecute(corrupt, aggregate('bafy-honest'), kernels), {
      honest: false,
      reason: 'the aggregate is not served',
    })
  })
})
