/**
 * Re-execution of a task of H inner steps, whole, by bisection and by spot check, with the
 * real code on the `micro` model split into two stages: the path is trained through the stage
 * trainer, each miner's work stored as the miner role stores it (its `storeResults` effect), a
 * challenger's step trace as the challenger role does (from its own whole-task re-execution,
 * or a spot check's divergence spliced into the owner's trace), and the verifier re-executes
 * the whole task or bisects the two traces to one inner step. Only the content fetcher is a
 * fake (a map by CID, which records what was asked).
 */
import { strict as assert } from 'node:assert'
import { ContentUnavailableError } from '../../src/actors/roles/availability.ts'
import {
  type KernelTaskWorkComponents,
  kernelTaskWork,
  type TrainedTask,
} from '../../src/actors/roles/kernel-task-work.ts'
import { type ReexecuteComponents, reexecute } from '../../src/actors/roles/reexecute.ts'
import type { Dispute } from '../../src/actors/roles/reexecute-steps.ts'
import { challengerCheck, drawnSteps, storeDivergentTrace } from '../../src/actors/roles/spot-check.ts'
import { storedLinks } from '../../src/actors/roles/stored-links.ts'
import type { FetchOptions } from '../../src/actors/services/content-fetcher.ts'
import {
  decodeTrace,
  encodeGradient,
  stepBatch,
  traceCidOf,
  traceMetadata,
  trainingProtocol,
} from '../../src/actors/training/protocol.ts'
import { runStage, StageTrainer } from '../../src/actors/training/stage-trainer.ts'
import { innerStateOf, innerStepBytes, storeStepTrace } from '../../src/actors/training/step-trace.ts'
import { localTestnetParams } from '../../src/chain/params.ts'
import type { Claim, Task } from '../../src/chain/state.ts'
import { cidOf } from '../../src/codec/cid.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { modelConfigs } from '../../src/ml/config.ts'
import type { Kernels } from '../../src/ml/kernels/contract.ts'
import { getKernels } from '../../src/ml/kernels/select.ts'
import { bytesTokenizer } from '../../src/ml/tokenizer/bytes.ts'
import { initAdapters, initStageWeights, type Params } from '../../src/ml/weights.ts'
import { DeadlineError } from '../../src/runtime/clock.ts'
import { inMemoryLinks } from '../helpers/stage-links.ts'

const config = modelConfigs.micro as NonNullable<typeof modelConfigs.micro>
const H = 4
const protocol = trainingProtocol(config, { ...localTestnetParams, innerSteps: H, microBatches: 2 })
const backbone = deriveKey('bisect-test', 'backbone')
const stages = [initStageWeights(config, 0, 1, backbone), initStageWeights(config, 1, 2, backbone)]
const loraKey = deriveKey('r3mes-test', 'r3mes/lora-init/1')
const adaptersOf = (s: number) => initAdapters(config, protocol.lora, s, s + 1, loraKey)
const data = { train: bytesTokenizer.encode('all that glitters is not gold; '.repeat(40)), shardCount: 1 }
const SEED = '00'.repeat(32)
const tasks: Task[] = [0, 1].map(
  (subnet) =>
    ({
      id: `1.0.${subnet}`,
      window: 1,
      shard: 0,
      datasetCid: 'bafy-data',
      datasetShard: 0,
      subnet,
      miners: [`r3mes1miner${subnet}`],
    }) as Task,
)
/** One leaf per inner step, then the pseudo-gradient. */
const LEAVES = H + 1

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
    cidOf: (b: Uint8Array) => cidOf(b).toString(),
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
      tasks: () => tasks,
      window: () => ({ id: 1, seed: SEED, closeHeight: 20 }),
      claim: () => null,
    },
    content,
    model: {
      stageWeights: async (subnet: number) => stages[subnet],
      adapterState: async (subnet: number) => ({ adapters: adaptersOf(subnet) }),
      aggregatorOf: () => undefined,
    },
    training: { protocolAt: () => protocol, data },
  } as unknown as ReexecuteComponents
}

/** The path trained in memory: each stage's work as the miner's training effect returns it. */
async function trainPath(kernels: Kernels): Promise<TrainedTask[]> {
  const batchOf = (step: number) => stepBatch(protocol, data.train, 1, tasks[0] as Task, SEED, step)
  const trainers = [0, 1].map(
    (s) =>
      new StageTrainer({ kernels, stage: stages[s] as (typeof stages)[0], protocol, batchOf, start: adaptersOf(s) }),
  )
  const links = inMemoryLinks()
  const work = trainers.map(() => ({
    steps: [] as Uint8Array[],
    inputs: [] as Float32Array[],
    dOutputs: [] as Float32Array[],
  }))
  await Promise.all(
    trainers.map((t, s) =>
      runStage(t, links, {
        onStep: (r) => {
          const w = work[s] as (typeof work)[0]
          w.steps.push(innerStepBytes(r))
          w.inputs.push(...r.inputs)
          w.dOutputs.push(...r.dOutputs)
        },
      }),
    ),
  )
  return trainers.map((t, s) => ({ ...(work[s] as (typeof work)[0]), delta: t.pseudoGradient() }))
}

const honestWork = await trainPath(getKernels('ts'))

/** Stage `s`'s work stored as the miner role stores it; `tamper` changes its work first. */
async function minerClaim(
  content: Store,
  s: number,
  tamper: (w: { delta: Params; steps: Uint8Array[] }) => void = () => {},
) {
  const honest = honestWork[s] as TrainedTask
  const work = {
    ...honest,
    delta: new Map([...honest.delta].map(([n, d]) => [n, new Float32Array(d)])),
    steps: [...honest.steps],
  }
  tamper(work)
  const storing = {
    content,
    training: { protocolAt: () => protocol },
  } as unknown as KernelTaskWorkComponents
  const task = tasks[s] as Task
  const { cid, traceCid } = await kernelTaskWork(storing).storeResults(
    { task, pointer: null, trained: work, first: s === 0, last: s === 1, withhold: false },
    new AbortController().signal,
  )
  return {
    id: `${task.id}/${task.miners[0]}`,
    kind: 'submission',
    owner: task.miners[0],
    window: 1,
    subnet: s,
    taskId: task.id,
    cid,
    metadata: traceMetadata(traceCid),
  } as unknown as Claim
}

/** What the challenger role does: re-execute the whole task, and publish its steps. */
async function challengerDispute(content: Store, claim: Claim, tamper?: (steps: Uint8Array[]) => void) {
  const check = await reexecute(components(content), claim, getKernels('ts'), undefined, { keepSteps: true })
  const steps = [...(check.steps ?? [])]
  tamper?.(steps)
  const stored = await storeStepTrace(content.store, claim.taskId as string, steps)
  return { check, dispute: { challenger: 'r3mes1challenger', trace: stored.index } as Dispute }
}

/** An inner step's leaf with its first adapter value a little off, as a wrong or skipped step leaves it. */
function nudgedLeaf(bytes: Uint8Array): Uint8Array {
  const { step, state } = innerStateOf(bytes)
  const first = state.adapters.get([...state.adapters.keys()].sort()[0] as string) as Float32Array
  first[0] = Math.fround((first[0] as number) + 0.01)
  return innerStepBytes({ step, state, outputs: [], dInputs: [] })
}

const nudgeDelta = (d: Params): void => {
  const g = d.get([...d.keys()].sort()[0] as string) as Float32Array
  g[0] = Math.fround((g[0] as number) + 0.01)
}

describe('actors: re-execution of a task of inner steps, whole and by bisection', function () {
  this.timeout(120_000)
  const ts = getKernels('ts')

  it('clears both honest stages of the path, whole, on ts and on cpu, with the same step bytes', async () => {
    const content = contentStore()
    for (const s of [0, 1]) {
      const claim = await minerClaim(content, s)
      const onTs = await reexecute(components(content), claim, ts, undefined, { keepSteps: true })
      const onCpu = await reexecute(components(content), claim, getKernels('cpu'), undefined, { keepSteps: true })
      assert.deepEqual([onTs.honest, onTs.reason], [true, 'the pseudo-gradient re-executes bit for bit'])
      assert.deepEqual([onCpu.honest, onCpu.reason], [true, 'the pseudo-gradient re-executes bit for bit'])
      assert.equal(onTs.steps?.length, LEAVES)
      assert.deepEqual(onTs.steps, onCpu.steps)
    }
  })

  it('whole: convicts a wrong pseudo-gradient, and a trace whose inner step differs', async () => {
    const content = contentStore()
    const wrong = await reexecute(components(content), await minerClaim(content, 1, (w) => nudgeDelta(w.delta)), ts)
    assert.deepEqual([wrong.honest, wrong.reason], [false, 'the pseudo-gradient differs from re-execution'])
    const lazy = await minerClaim(content, 1, (w) => {
      w.steps[2] = nudgedLeaf(w.steps[2] as Uint8Array)
    })
    const verdict = await reexecute(components(content), lazy, ts)
    assert.deepEqual([verdict.honest, verdict.reason], [false, 'the step trace differs from re-execution'])
  })

  it('whole: convicts a trace that names the wrong number of received tensors, or one not served intact', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, 1)
    const trace = decodeTrace(content.bytes.get(traceCidOf(claim.metadata)) as Uint8Array)
    const short = await content.store(
      new TextEncoder().encode(JSON.stringify({ ...trace, inputs: trace.inputs?.slice(1) })),
    )
    const verdict = await reexecute(components(content), { ...claim, metadata: traceMetadata(short) }, ts)
    assert.deepEqual(
      [verdict.honest, verdict.reason],
      [false, `the trace names ${2 * H - 1} input activations, not ${2 * H}`],
    )
    const odd = await content.store(new Uint8Array(3))
    const inputs = [...(trace.inputs as string[])]
    inputs[5] = odd
    const bad = await content.store(new TextEncoder().encode(JSON.stringify({ ...trace, inputs })))
    const served = await reexecute(components(content), { ...claim, metadata: traceMetadata(bad) }, ts)
    assert.deepEqual(
      [served.honest, served.reason],
      [false, 'input of inner step 2 micro-batch 1 is not served intact'],
    )
  })

  it('bisection: convicts a wrong pseudo-gradient at its leaf, re-executed from the last inner state', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, 1, (w) => nudgeDelta(w.delta))
    const { check, dispute } = await challengerDispute(content, claim)
    assert.equal(check.honest, false)
    content.asked.length = 0
    const verdict = await reexecute(components(content), claim, ts, undefined, { dispute })
    assert.equal(verdict.honest, false, verdict.reason)
    assert.deepEqual([verdict.bisected?.step, verdict.bisected?.kind], [H, 'pseudoGradient'])
    assert.match(verdict.reason, /the pseudo-gradient re-executes to the challenger's leaf/)
    assert.ok((verdict.bisected?.comparisons as number) <= 1 + Math.ceil(Math.log2(LEAVES)))
    assert.ok(content.asked.some((a) => a.cid === dispute.trace && a.from?.[0] === 'r3mes1challenger'))
    // No received tensor was fetched: the pseudo-gradient needs only the last inner state.
    const trace = decodeTrace(content.bytes.get(traceCidOf(claim.metadata)) as Uint8Array)
    assert.ok(!content.asked.some((a) => trace.inputs?.includes(a.cid)))
  })

  it('bisection: convicts a wrong inner step, re-executing that step alone from the tensors it received', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, 1, (w) => {
      w.steps[2] = nudgedLeaf(w.steps[2] as Uint8Array)
    })
    const { dispute } = await challengerDispute(content, claim)
    const trace = decodeTrace(content.bytes.get(traceCidOf(claim.metadata)) as Uint8Array)
    content.asked.length = 0
    const verdict = await reexecute(components(content), claim, ts, undefined, { dispute })
    assert.equal(verdict.honest, false)
    assert.deepEqual([verdict.bisected?.step, verdict.bisected?.kind], [2, 'innerStep'])
    assert.match(verdict.reason, /inner step 2 re-executes to the challenger's leaf/)
    // Of the received tensors, only inner step 2's two micro-batches were fetched.
    const fetched = content.asked.filter((a) => trace.inputs?.includes(a.cid)).map((a) => a.cid)
    assert.deepEqual(fetched, trace.inputs?.slice(4, 6))
  })

  it('bisection: clears an honest miner against a challenger whose trace is wrong at one inner step, at that step', async () => {
    const content = contentStore()
    for (const s of [0, 1]) {
      const claim = await minerClaim(content, s)
      for (const bad of [0, H - 1]) {
        const { dispute } = await challengerDispute(content, claim, (steps) => {
          steps[bad] = nudgedLeaf(steps[bad] as Uint8Array)
        })
        const verdict = await reexecute(components(content), claim, ts, undefined, { dispute })
        assert.equal(verdict.honest, true, verdict.reason)
        assert.deepEqual([verdict.bisected?.step, verdict.bisected?.kind], [bad, 'innerStep'])
        assert.match(verdict.reason, /re-executes to the owner's leaf/)
      }
    }
  })

  it('clears the owner when both traces agree, or the challenger’s trace is not of this task', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, 1)
    const { dispute } = await challengerDispute(content, claim)
    const same = await reexecute(components(content), claim, ts, undefined, { dispute })
    assert.deepEqual([same.honest, same.reason], [true, 'both step traces agree'])
    const short = await storeStepTrace(content.store, claim.taskId as string, [new Uint8Array(4)])
    const verdict = await reexecute(components(content), claim, ts, undefined, {
      dispute: { challenger: 'r3mes1challenger', trace: short.index },
    })
    assert.deepEqual([verdict.honest, verdict.reason], [true, "the challenger's step trace is not of this task"])
    const garbage = await content.store(new TextEncoder().encode('{"v":1}'))
    const bad = await reexecute(components(content), claim, ts, undefined, {
      dispute: { challenger: 'x', trace: garbage },
    })
    assert.equal(bad.honest, true)
    assert.match(bad.reason, /the challenger's step trace is malformed/)
  })

  it('convicts without bisecting when the owner’s last leaf is not the claimed pseudo-gradient', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, 1)
    const other = encodeGradient(new Map([['x', new Float32Array(1)]]), tasks[1] as Task, 1)
    const lying = { ...claim, cid: await content.store(other) } as Claim
    const { dispute } = await challengerDispute(content, claim)
    const verdict = await reexecute(components(content), lying, ts, undefined, { dispute })
    assert.deepEqual(
      [verdict.honest, verdict.reason, verdict.bisected],
      [false, 'the step trace does not end in the claimed pseudo-gradient', undefined],
    )
  })

  it('throws ContentUnavailableError, convicting nobody, when the inner state a bisection needs cannot be had', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, 1, (w) => {
      w.steps[2] = nudgedLeaf(w.steps[2] as Uint8Array)
    })
    const { dispute } = await challengerDispute(content, claim)
    // The state after inner step 1, which the re-execution of step 2 starts from, is gone.
    content.bytes.delete(cidOf(honestWork[1]?.steps[1] as Uint8Array).toString())
    await assert.rejects(reexecute(components(content), claim, ts, undefined, { dispute }), ContentUnavailableError)
  })

  it('re-executes the whole task when the challenger’s step trace cannot be had', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, 1, (w) => nudgeDelta(w.delta))
    const { dispute } = await challengerDispute(content, claim)
    content.bytes.delete(dispute.trace)
    content.asked.length = 0
    const verdict = await reexecute(components(content), claim, ts, undefined, { dispute, fetchDeadlineMs: 8000 })
    assert.deepEqual(
      [verdict.honest, verdict.reason, verdict.bisected],
      [false, 'the pseudo-gradient differs from re-execution', undefined],
    )
    // The challenger's trace gets half the time, so the whole task still fits in the rest.
    const deadlines = (cid: string) => content.asked.filter((a) => a.cid === cid).map((a) => a.deadlineMs)
    assert.deepEqual(deadlines(dispute.trace), [4000])
    const owners = content.asked.filter((a) => a.cid !== dispute.trace)
    assert.ok(
      owners.length > 0 && owners.every((a) => a.deadlineMs === 8000),
      'the owner’s content keeps the whole time',
    )
  })
})

/**
 * Stage 1's work with inner step `faked` faked (its state a little off) and the steps after it
 * trained honestly from the faked state: the one-step cheat a spot check has to land on.
 */
async function oneStepFake(faked: number): Promise<{ delta: Params; steps: Uint8Array[] }> {
  const honest = honestWork[1] as TrainedTask
  const nudged = nudgedLeaf(honest.steps[faked] as Uint8Array)
  const steps = [...honest.steps.slice(0, faked), nudged]
  const batchOf = (step: number) => stepBatch(protocol, data.train, 1, tasks[1] as Task, SEED, step)
  const trainer = new StageTrainer({
    kernels: getKernels('ts'),
    stage: stages[1] as (typeof stages)[0],
    protocol,
    batchOf,
    start: adaptersOf(1),
    ...(faked + 1 < H ? { resume: { step: faked + 1, state: innerStateOf(nudged).state } } : {}),
  })
  if (faked + 1 < H) {
    // The inputs stage 0 sent do not depend on stage 1's state: the honest ones serve.
    const received = new Map(honest.inputs.map((t, i) => [String(i), new Uint8Array(t.buffer.slice(0))]))
    const links = storedLinks({ inputs: [...received.keys()], dOutputs: null }, protocol.microBatches, async (i) =>
      received.get(i),
    )
    await runStage(trainer, links, { onStep: (r) => void steps.push(innerStepBytes(r)) })
  }
  const delta = faked + 1 < H ? trainer.pseudoGradient() : honest.delta
  return { delta, steps }
}

describe('actors: a challenger’s spot check of drawn inner steps', function () {
  this.timeout(120_000)
  const ts = getKernels('ts')
  const secret = (i: number) => new TextEncoder().encode(`challenger-secret-${i}`)

  it('draws k distinct inner steps per claim from the secret, each step about k/H of the time', () => {
    const counts = new Array<number>(16).fill(0)
    for (let i = 0; i < 800; i++) {
      const drawn = drawnSteps(secret(0), `1.${i}.0/r3mes1miner`, 16, 2)
      assert.equal(new Set(drawn).size, 2)
      assert.deepEqual(
        drawn,
        [...drawn].sort((a, b) => a - b),
      )
      for (const s of drawn) counts[s] = (counts[s] as number) + 1
    }
    // 800 × 2 / 16 = 100 a step; a skewed draw (a step never or always drawn) lands far outside.
    assert.ok(Math.min(...counts) > 60 && Math.max(...counts) < 140, `counts ${counts}`)
    assert.notDeepEqual(
      Array.from({ length: 8 }, (_, i) => drawnSteps(secret(1), `c${i}`, 16, 2)),
      Array.from({ length: 8 }, (_, i) => drawnSteps(secret(2), `c${i}`, 16, 2)),
      'another secret draws other steps',
    )
    assert.deepEqual(drawnSteps(secret(0), 'c', 4, 9), [0, 1, 2, 3], 'k ≥ H draws them all')
  })

  it('clears both honest stages on every draw, re-executing k inner steps and never the whole task', async () => {
    const content = contentStore()
    for (const s of [0, 1]) {
      const claim = await minerClaim(content, s)
      for (let i = 0; i < 4; i++) {
        const check = await challengerCheck(components(content), claim, ts, { secret: secret(i), steps: 2 })
        assert.equal(check.honest, true, check.reason)
        assert.equal(check.innerStepsRun, 2)
        assert.equal(check.steps, undefined)
      }
      const whole = await challengerCheck(components(content), claim, ts, { secret: secret(0), steps: 0 })
      assert.deepEqual([whole.honest, whole.innerStepsRun, whole.steps?.length], [true, H, LEAVES])
    }
  })

  it('catches a miner that fakes one inner step when the draw covers it, and the dispute convicts it at that step', async () => {
    const faked = 1
    const content = contentStore()
    const fake = await oneStepFake(faked)
    const claim = await minerClaim(content, 1, (w) => {
      w.delta = fake.delta
      w.steps.splice(0, w.steps.length, ...fake.steps)
    })
    // Only inner step `faked` differs from an honest re-execution of what the trace stores.
    let caught = 0
    let missed = 0
    for (let i = 0; i < 12; i++) {
      const check = await challengerCheck(components(content), claim, ts, { secret: secret(i), steps: 2 })
      const covered = drawnSteps(secret(i), claim.id, H, 2).includes(faked)
      assert.equal(check.honest, !covered, `draw ${i}: ${check.reason}`)
      if (!covered) {
        missed++
        continue
      }
      caught++
      assert.equal(check.divergence?.step, faked)
      assert.equal(check.reason, `inner step ${faked} does not re-execute to the owner's leaf`)
      if (caught > 1) continue
      // The challenge: the owner's trace with the challenger's leaf at the faked step. The
      // verifier (ts) and the arbiters (cpu) bisect to that step and convict the owner.
      const stored = await storeDivergentTrace(content.store, check.divergence as NonNullable<typeof check.divergence>)
      const dispute = { challenger: 'r3mes1challenger', trace: stored.index }
      for (const kernels of [ts, getKernels('cpu')]) {
        const verdict = await reexecute(components(content), claim, kernels, undefined, { dispute })
        assert.equal(verdict.honest, false, verdict.reason)
        assert.deepEqual([verdict.bisected?.step, verdict.bisected?.kind], [faked, 'innerStep'])
        assert.match(verdict.reason, new RegExp(`inner step ${faked} re-executes to the challenger's leaf`))
      }
    }
    assert.ok(caught > 0 && missed > 0, `caught ${caught}, missed ${missed}`)
    // A whole re-execution catches it too, as before.
    const whole = await challengerCheck(components(content), claim, ts, { secret: secret(0), steps: 0 })
    assert.equal(whole.honest, false)
  })

  it('catches a wrong pseudo-gradient on every draw, without re-executing an inner step; the dispute convicts at its leaf', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, 1, (w) => nudgeDelta(w.delta))
    for (let i = 0; i < 4; i++) {
      const check = await challengerCheck(components(content), claim, ts, { secret: secret(i), steps: 2 })
      assert.deepEqual(
        [check.honest, check.reason, check.innerStepsRun, check.divergence?.step],
        [false, 'the pseudo-gradient is not the change of the adapters over the inner steps', 0, H],
      )
      if (i > 0) continue
      const stored = await storeDivergentTrace(content.store, check.divergence as NonNullable<typeof check.divergence>)
      const verdict = await reexecute(components(content), claim, getKernels('cpu'), undefined, {
        dispute: { challenger: 'r3mes1challenger', trace: stored.index },
      })
      assert.equal(verdict.honest, false)
      assert.deepEqual([verdict.bisected?.step, verdict.bisected?.kind], [H, 'pseudoGradient'])
    }
  })

  it('clears an honest miner against a spliced trace whose leaf is wrong', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, 1)
    const check = await challengerCheck(components(content), claim, ts, { secret: secret(0), steps: 2 })
    assert.equal(check.honest, true)
    const index = JSON.parse(
      new TextDecoder().decode(
        content.bytes.get(decodeTrace(content.bytes.get(traceCidOf(claim.metadata)) as Uint8Array).steps),
      ),
    )
    const bytes = nudgedLeaf(honestWork[1]?.steps[2] as Uint8Array)
    const stored = await storeDivergentTrace(content.store, { step: 2, bytes, owner: index })
    const verdict = await reexecute(components(content), claim, ts, undefined, {
      dispute: { challenger: 'r3mes1challenger', trace: stored.index },
    })
    assert.equal(verdict.honest, true, verdict.reason)
    assert.deepEqual([verdict.bisected?.step, verdict.reason], [2, "inner step 2 re-executes to the owner's leaf"])
  })

  it('re-executes the whole task, and challenges with its trace, when the trace breaks its commitments', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, 1)
    const other = encodeGradient(new Map([['x', new Float32Array(1)]]), tasks[1] as Task, 1)
    const lying = { ...claim, cid: await content.store(other) } as Claim
    const check = await challengerCheck(components(content), lying, ts, { secret: secret(0), steps: 2 })
    assert.deepEqual(
      [check.honest, check.reason, check.steps?.length, check.innerStepsRun],
      [false, 'the step trace does not end in the claimed pseudo-gradient', LEAVES, H],
    )
  })

  it('throws ContentUnavailableError (the withholding path) when a stored inner state cannot be had', async () => {
    const content = contentStore()
    const claim = await minerClaim(content, 1)
    content.bytes.delete(cidOf(honestWork[1]?.steps[H - 1] as Uint8Array).toString())
    await assert.rejects(
      challengerCheck(components(content), claim, ts, { secret: secret(0), steps: 2 }),
      ContentUnavailableError,
    )
  })

  it('asks every fetch with the deadline the challenger gives its check, spot check and whole re-execution alike', async () => {
    for (const steps of [2, 0]) {
      const content = contentStore()
      const claim = await minerClaim(content, 1)
      content.asked.length = 0
      const check = await challengerCheck(
        components(content),
        claim,
        ts,
        { secret: secret(0), steps },
        {
          fetchDeadlineMs: 2_000,
        },
      )
      assert.equal(check.honest, true, check.reason)
      assert.ok(content.asked.length > 0)
      assert.deepEqual(new Set(content.asked.map((a) => a.deadlineMs)), new Set([2_000]), `spot steps ${steps}`)
    }
  })
})
