/**
 * Disputes by bisection, with the real re-execution code on the `micro` model: a miner's step
 * trace is stored as the miner role stores it, a challenger's as the challenger role does
 * (from its own whole-stage re-execution), and the verifier bisects the two. Only the content
 * fetcher is a fake (a map by CID, which records what was asked).
 */
import { strict as assert } from 'node:assert'
import { ContentUnavailableError } from '../../src/actors/roles/availability.ts'
import { type ReexecuteComponents, reexecute } from '../../src/actors/roles/reexecute.ts'
import type { Dispute } from '../../src/actors/roles/reexecute-steps.ts'
import type { FetchOptions } from '../../src/actors/services/content-fetcher.ts'
import {
  encodeGradient,
  encodeTrace,
  initialAdapterState,
  type StageTrace,
  taskBatch,
  taskTokens,
  traceMetadata,
  trainingProtocol,
} from '../../src/actors/training/protocol.ts'
import { type StageContext, tracedBackward, tracedForward } from '../../src/actors/training/stage-work.ts'
import { stepBytes, storeStepTrace } from '../../src/actors/training/step-trace.ts'
import { localTestnetParams } from '../../src/chain/params.ts'
import type { Claim, Task } from '../../src/chain/state.ts'
import { cidOf } from '../../src/codec/cid.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { modelConfigs } from '../../src/ml/config.ts'
import { getKernels } from '../../src/ml/kernels/select.ts'
import { stepPlan } from '../../src/ml/steps.ts'
import { bytesTokenizer } from '../../src/ml/tokenizer/bytes.ts'
import { initStageWeights, type Params } from '../../src/ml/weights.ts'
import { DeadlineError } from '../../src/runtime/clock.ts'

const config = modelConfigs.micro as NonNullable<typeof modelConfigs.micro>
const protocol = trainingProtocol(config, localTestnetParams)
const kernels = getKernels('ts')
const stage = initStageWeights(config, 0, config.nLayers, deriveKey('bisect-test', 'backbone'))
const state = initialAdapterState(config, protocol, 'r3mes-test', 0, [0, config.nLayers])
const data = { train: bytesTokenizer.encode('all that glitters is not gold; '.repeat(40)), shardCount: 1 }
const task: Task = {
  id: '1.0.0',
  window: 1,
  shard: 0,
  datasetCid: 'bafy-data',
  datasetShard: 0,
  subnet: 0,
  miners: ['r3mes1miner'],
}
const SEED = '00'.repeat(32)
const ctx: StageContext = {
  kernels,
  stage,
  adapters: state.adapters,
  protocol,
  batch: taskBatch(protocol, data.train, data.shardCount, task, SEED),
}
// embed, 2 layer forwards, head backward, 2 layer backwards, then the gradient bundle.
const STEPS = stepPlan(stage).length + 1

/** A content store by CID; `asked` records each fetch's CID and the holder it named. */
function contentStore() {
  const bytes = new Map<string, Uint8Array>()
  const asked: { cid: string; from: readonly string[] | undefined; deadlineMs?: number | undefined }[] = []
  return {
    bytes,
    asked,
    store: async (b: Uint8Array): Promise<string> => {
      const cid = cidOf(b).toString()
      bytes.set(cid, b)
      return cid
    },
    fetch: async (cid: string, options?: FetchOptions): Promise<Uint8Array> => {
      asked.push({ cid, from: options?.from, deadlineMs: options?.deadlineMs })
      const b = bytes.get(cid)
      if (b === undefined) throw new DeadlineError(`fetching ${cid}`, 60_000)
      return b
    },
  }
}

type Store = ReturnType<typeof contentStore>

function components(content: Store): ReexecuteComponents {
  return {
    chain: {
      tasks: () => [task],
      window: () => ({ id: 1, seed: SEED, closeHeight: 20 }),
      claim: () => null,
    },
    content,
    model: { stageWeights: async () => stage, adapterState: async () => state, aggregatorOf: () => undefined },
    training: { protocol, data },
  } as unknown as ReexecuteComponents
}

/** A miner's work as the miner role stores it; `tamper` changes its gradient or its steps first. */
async function minerClaim(
  content: Store,
  tamper: { grads?: (g: Params) => void; steps?: (steps: Float32Array[]) => void } = {},
): Promise<Claim> {
  const fw = tracedForward(ctx, null)
  const bw = tracedBackward(ctx, fw, null)
  tamper.grads?.(bw.grads)
  const outputs = bw.steps.map((s) => new Float32Array(s))
  tamper.steps?.(outputs)
  const gradient = encodeGradient(bw.grads, task, taskTokens(protocol))
  const cid = await content.store(gradient)
  const steps = await storeStepTrace(content.store, task.id, stepBytes(outputs, gradient))
  const trace: StageTrace = {
    v: 2,
    task: task.id,
    adapterState: 'initial',
    input: null,
    output: null,
    dOutput: null,
    dInput: null,
    steps: steps.index,
    stepRoot: steps.root,
  }
  const traceCid = await content.store(encodeTrace(trace))
  return {
    id: `${task.id}/r3mes1miner`,
    kind: 'submission',
    owner: 'r3mes1miner',
    window: 1,
    subnet: 0,
    taskId: task.id,
    cid,
    metadata: traceMetadata(traceCid),
  } as unknown as Claim
}

/** What the challenger role does: re-execute the whole stage, and publish its steps when it finds a fault. */
async function challengerDispute(content: Store, claim: Claim, tamper?: (steps: Uint8Array[]) => void) {
  const check = await reexecute(components(content), claim, kernels, undefined, { keepSteps: true })
  const steps = [...(check.steps ?? [])]
  tamper?.(steps)
  const stored = await storeStepTrace(content.store, task.id, steps)
  return { check, dispute: { challenger: 'r3mes1challenger', trace: stored.index } as Dispute }
}

const nudge = (a: Float32Array, i = 0): void => {
  a[i] = Math.fround((a[i] as number) + 0.01)
}

describe('actors: disputes by bisection over step traces', function () {
  this.timeout(60_000)

  it('convicts a miner whose gradient is one value off: bisection lands on the gradient step, re-executed from the backward steps', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, {
      grads: (g) => nudge(g.get([...g.keys()].sort()[0] as string) as Float32Array),
    })
    const { check, dispute } = await challengerDispute(content, claim)
    assert.equal(check.honest, false)
    assert.equal(check.steps?.length, STEPS)
    content.asked.length = 0
    const verdict = await reexecute(components(content), claim, kernels, undefined, { dispute })
    assert.equal(verdict.honest, false, verdict.reason)
    assert.equal(verdict.bisected?.step, STEPS - 1)
    assert.equal(verdict.bisected?.kind, 'gradient')
    assert.match(verdict.reason, /re-executes to the challenger's leaf/)
    assert.ok((verdict.bisected?.comparisons as number) <= 1 + Math.ceil(Math.log2(STEPS)))
    // The challenger's index was asked of the challenger.
    assert.ok(content.asked.some((a) => a.cid === dispute.trace && a.from?.[0] === 'r3mes1challenger'))
  })

  it('convicts a miner whose trace skips a layer (one forward step wrong): re-executes that step alone, fetching only its input', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, { steps: (s) => nudge(s[2] as Float32Array, 5) })
    const { dispute } = await challengerDispute(content, claim)
    const honestSteps = (await reexecute(components(content), claim, kernels, undefined, { keepSteps: true }))
      .steps as readonly Uint8Array[]
    const stepCids = new Set(honestSteps.map((b) => cidOf(b).toString()))
    content.asked.length = 0
    const verdict = await reexecute(components(content), claim, kernels, undefined, { dispute })
    assert.equal(verdict.honest, false)
    assert.equal(verdict.bisected?.step, 2)
    assert.equal(verdict.bisected?.kind, 'layerForward')
    // Of the step tensors, only step 1 (layer 1's input) was fetched (the gradient bundle is the claim's own).
    const fetchedSteps = content.asked.filter((a) => stepCids.has(a.cid) && a.cid !== claim.cid).map((a) => a.cid)
    assert.deepEqual(fetchedSteps, [cidOf(honestSteps[1] as Uint8Array).toString()])
  })

  it('clears an honest miner against a challenger whose trace is wrong at one step, at exactly that step', async () => {
    const content = contentStore()
    const claim = await minerClaim(content)
    const full = await reexecute(components(content), claim, kernels)
    assert.equal(full.honest, true, full.reason)
    for (const bad of [0, 3, STEPS - 2]) {
      // The griefing challenger publishes an honest trace but for one step's bytes.
      const steps = stepBytes(
        tracedBackward(ctx, tracedForward(ctx, null), null).steps.map((s, i) => {
          const copy = new Float32Array(s)
          if (i === bad) nudge(copy)
          return copy
        }),
        new Uint8Array(0),
      ).slice(0, STEPS - 1)
      const gradient = content.bytes.get(claim.cid) as Uint8Array
      const stored = await storeStepTrace(content.store, task.id, [...steps, gradient])
      const verdict = await reexecute(components(content), claim, kernels, undefined, {
        dispute: { challenger: 'r3mes1griefer', trace: stored.index },
      })
      assert.equal(verdict.honest, true, verdict.reason)
      assert.equal(verdict.bisected?.step, bad)
      assert.match(verdict.reason, /re-executes to the owner's leaf/)
    }
  })

  it('clears the owner when both traces agree, or the challenger’s trace is not of this stage', async () => {
    const content = contentStore()
    const claim = await minerClaim(content)
    const { dispute } = await challengerDispute(content, claim)
    const same = await reexecute(components(content), claim, kernels, undefined, { dispute })
    assert.deepEqual([same.honest, same.reason], [true, 'both step traces agree'])
    const short = await storeStepTrace(content.store, task.id, [new Uint8Array(4)])
    const verdict = await reexecute(components(content), claim, kernels, undefined, {
      dispute: { challenger: 'r3mes1challenger', trace: short.index },
    })
    assert.deepEqual([verdict.honest, verdict.reason], [true, "the challenger's step trace is not of this stage"])
    const garbage = await content.store(new TextEncoder().encode('{"v":1}'))
    const bad = await reexecute(components(content), claim, kernels, undefined, {
      dispute: { challenger: 'x', trace: garbage },
    })
    assert.equal(bad.honest, true)
    assert.match(bad.reason, /the challenger's step trace is malformed/)
  })

  it('convicts without bisecting when the owner’s last leaf is not the claimed gradient', async () => {
    const content = contentStore()
    const claim = await minerClaim(content)
    const honestGradient = content.bytes.get(claim.cid) as Uint8Array
    // The claim names another gradient than the one its step trace ends in.
    const other = encodeGradient(new Map([['x', new Float32Array(1)]]), task, 1)
    const lying = { ...claim, cid: await content.store(other) } as Claim
    const { dispute } = await challengerDispute(content, claim)
    const verdict = await reexecute(components(content), lying, kernels, undefined, { dispute })
    assert.deepEqual(
      [verdict.honest, verdict.reason, verdict.bisected],
      [false, 'the step trace does not end in the claimed gradient', undefined],
    )
    assert.ok(honestGradient.length > 0)
  })

  it('throws ContentUnavailableError, convicting nobody of a fault, when a step tensor cannot be had in time', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, { steps: (s) => nudge(s[2] as Float32Array, 5) })
    const { dispute, check } = await challengerDispute(content, claim)
    // The one input the bisection needs (step 1) is gone from every holder.
    content.bytes.delete(cidOf(check.steps?.[1] as Uint8Array).toString())
    await assert.rejects(
      reexecute(components(content), claim, kernels, undefined, { dispute }),
      ContentUnavailableError,
    )
  })

  it('re-executes the whole stage when the challenger’s step trace cannot be had', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, {
      grads: (g) => nudge(g.get([...g.keys()].sort()[0] as string) as Float32Array),
    })
    const { dispute } = await challengerDispute(content, claim)
    content.bytes.delete(dispute.trace)
    content.asked.length = 0
    const verdict = await reexecute(components(content), claim, kernels, undefined, { dispute, fetchDeadlineMs: 8000 })
    assert.deepEqual(
      [verdict.honest, verdict.reason, verdict.bisected],
      [false, 'the gradient differs from re-execution', undefined],
    )
    // The challenger's trace gets half the time, so the whole stage still fits in the rest.
    const deadlines = (cid: string) => content.asked.filter((a) => a.cid === cid).map((a) => a.deadlineMs)
    assert.deepEqual(deadlines(dispute.trace), [4000])
    const owners = content.asked.filter((a) => a.cid !== dispute.trace)
    assert.ok(
      owners.length > 0 && owners.every((a) => a.deadlineMs === 8000),
      'the owner’s content keeps the whole time',
    )
  })

  it('without a challenger trace, re-executes the whole stage and also checks the step trace’s root', async () => {
    const content = contentStore()
    const honest = await minerClaim(content)
    assert.equal((await reexecute(components(content), honest, kernels)).honest, true)
    const lazy = await minerClaim(content, { steps: (s) => nudge(s[1] as Float32Array) })
    const verdict = await reexecute(components(content), lazy, kernels)
    assert.deepEqual([verdict.honest, verdict.reason], [false, 'the step trace differs from re-execution'])
  })
})
