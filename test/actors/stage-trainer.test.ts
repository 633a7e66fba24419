import { inMemoryLinks } from '../helpers/stage-links.ts'
/**
 * The stage trainer of a task (H inner steps of M micro-batches through a pipeline), on the
 * `micro` model: two stages driven side by side in one process through in-memory links give,
 * byte for byte, what the same inner steps compute on the whole model at once; the `ts` and
 * native `cpu` kernels give the same bytes; and the path's loss falls over the inner steps.
 */

import { strict as assert } from 'node:assert'
import { stepBatch, trainingProtocol } from '../../src/actors/training/protocol.ts'
import { type InnerStepRecord, runStage, StageTrainer } from '../../src/actors/training/stage-trainer.ts'
import { innerStepBytes } from '../../src/actors/training/step-trace.ts'
import { localTestnetParams } from '../../src/chain/params.ts'
import type { Task } from '../../src/chain/state.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { encodeParams } from '../../src/ml/artifacts.ts'
import { modelConfigs } from '../../src/ml/config.ts'
import type { Kernels } from '../../src/ml/kernels/contract.ts'
import { getKernels } from '../../src/ml/kernels/select.ts'
import { stageBackward, stageForward } from '../../src/ml/model.ts'
import { adamwStep, initAdamW } from '../../src/ml/optimizer.ts'
import { pseudoGradient } from '../../src/ml/outer.ts'
import { bytesTokenizer } from '../../src/ml/tokenizer/bytes.ts'
import { clipGradients } from '../../src/ml/train.ts'
import { initAdapters, initStageWeights, type Params, type StageWeights } from '../../src/ml/weights.ts'
import { onNextTurn } from '../../src/runtime/event-loop.ts'

const config = modelConfigs.micro as NonNullable<typeof modelConfigs.micro>
const protocol = trainingProtocol(config, { ...localTestnetParams, innerSteps: 6, microBatches: 2 })
const backboneKey = deriveKey('stage-trainer-test', 'backbone')
const whole = initStageWeights(config, 0, 2, backboneKey)
const stages = [initStageWeights(config, 0, 1, backboneKey), initStageWeights(config, 1, 2, backboneKey)]
const loraKey = deriveKey('r3mes-test', 'r3mes/lora-init/1')
const startOf = (first: number, end: number): Params => initAdapters(config, protocol.lora, first, end, loraKey)
const data = bytesTokenizer.encode('the quick brown fox jumps over the lazy dog. '.repeat(60))
const task = { id: '1.0.0', window: 1, shard: 0, datasetShard: 0, subnet: 0, miners: [] } as unknown as Task
const SEED = '11'.repeat(32)
const batchOf = (step: number) => stepBatch(protocol, data, 1, task, SEED, step)

interface PathRun {
  readonly deltas: [Params, Params]
  readonly records: [InnerStepRecord[], InnerStepRecord[]]
}

async function runPath(kernels: Kernels): Promise<PathRun> {
  const trainers = stages.map(
    (stage) => new StageTrainer({ kernels, stage, protocol, batchOf, start: startOf(stage.first, stage.end) }),
  ) as [StageTrainer, StageTrainer]
  const links = inMemoryLinks()
  const records: [InnerStepRecord[], InnerStepRecord[]] = [[], []]
  await Promise.all([
    runStage(trainers[0], links, { onStep: (r) => void records[0].push(r) }),
    runStage(trainers[1], links, { onStep: (r) => void records[1].push(r) }),
  ])
  return { deltas: [trainers[0].pseudoGradient(), trainers[1].pseudoGradient()], records }
}

/** The same inner steps on the whole model at once, written from the ml functions alone. */
function wholeModel(kernels: Kernels): [Params, Params] {
  const start = startOf(0, 2)
  const adapters = new Map([...start].map(([n, t]) => [n, new Float32Array(t)]))
  const layerOf = (name: string) => Number(/^L(\d+)\./.exec(name)?.[1])
  const part = (p: Params, layer: number): Params => new Map([...p].filter(([n]) => layerOf(n) === layer))
  const parts = [part(adapters, 0), part(adapters, 1)]
  const states = parts.map((p) => initAdamW(p))
  const M = protocol.microBatches
  for (let k = 0; k < protocol.innerSteps; k++) {
    const batch = batchOf(k)
    const per = batch.sequences / M
    const micro: Params[] = []
    for (let j = 0; j < M; j++) {
      const span = [j * per * batch.tokens, (j + 1) * per * batch.tokens] as const
      const run = {
        kernels,
        stage: whole as StageWeights,
        adapters,
        lora: protocol.lora,
        sequences: per,
        tokens: batch.tokens,
      }
      const fw = stageForward(
        run,
        { kind: 'tokens', tokens: batch.inputs.subarray(...span) },
        batch.targets.subarray(...span),
      )
      micro.push(stageBackward(run, fw).grads)
    }
    const coef = new Float32Array(M).fill(Math.fround(1 / M))
    const grads: Params = new Map()
    for (const name of [...adapters.keys()].sort()) {
      const out = new Float32Array((adapters.get(name) as Float32Array).length)
      kernels.weightedSum(
        out,
        micro.map((g) => g.get(name) as Float32Array),
        coef,
      )
      grads.set(name, out)
    }
    parts.forEach((p, layer) => {
      const g = part(grads, layer)
      clipGradients(g, protocol.clipNorm)
      adamwStep(kernels, p, g, states[layer] as ReturnType<typeof initAdamW>, protocol.optimizer)
    })
  }
  return [
    pseudoGradient(kernels, part(start, 0), parts[0] as Params),
    pseudoGradient(kernels, part(start, 1), parts[1] as Params),
  ]
}

const bytesOf = (p: Params) => encodeParams('delta', p)
const unused = async (): Promise<never> => {
  throw new Error('a stage with no neighbours uses no link')
}

describe('actors: the stage trainer of a task', function () {
  // Whole-model inner steps on two kernels: 2 s here, over 20 s under coverage on a busy 2-core runner.
  this.timeout(120_000)
  it('two stages driven through their links equal, byte for byte, the same inner steps on the whole model', async () => {
    const kernels = getKernels('ts')
    const path = await runPath(kernels)
    const reference = wholeModel(kernels)
    assert.deepEqual(bytesOf(path.deltas[0]), bytesOf(reference[0]))
    assert.deepEqual(bytesOf(path.deltas[1]), bytesOf(reference[1]))
    assert.ok(
      [...path.deltas[1].values()].some((d) => d.some((x) => x !== 0)),
      'the adapters moved',
    )
    assert.equal(path.records[0].length, protocol.innerSteps)
    assert.equal(path.records[0][0]?.outputs.length, protocol.microBatches, 'one output per micro-batch sent')
    assert.equal(path.records[1][0]?.dInputs.length, protocol.microBatches, 'one input gradient per micro-batch sent')
  })

  it('the ts and native cpu kernels give the same bytes for every inner step and the pseudo-gradient', async () => {
    const [ts, cpu] = [await runPath(getKernels('ts')), await runPath(getKernels('cpu'))]
    for (const s of [0, 1]) {
      assert.deepEqual(bytesOf(ts.deltas[s] as Params), bytesOf(cpu.deltas[s] as Params))
      for (const [k, r] of (ts.records[s] ?? []).entries())
        assert.deepEqual(
          innerStepBytes(r),
          innerStepBytes(cpu.records[s]?.[k] as InnerStepRecord),
          `stage ${s} step ${k}`,
        )
    }
  })

  it('the path loss falls over the inner steps', async () => {
    const { records } = await runPath(getKernels('cpu'))
    const losses = records[1].map((r) => r.loss as number)
    assert.equal(losses.length, protocol.innerSteps)
    const firstTwo = ((losses[0] as number) + (losses[1] as number)) / 2
    const lastTwo = ((losses.at(-1) as number) + (losses.at(-2) as number)) / 2
    assert.ok(lastTwo < firstTwo - 0.05, `loss ${losses.map((l) => l.toFixed(3)).join(' → ')}`)
  })

  it('resumed at an inner step from the state after the one before, it recomputes that step alone', async () => {
    const kernels = getKernels('ts')
    const { records } = await runPath(kernels)
    const stage = stages[1] as StageWeights
    const before = records[1][2] as InnerStepRecord
    const inputs = records[0][3]?.outputs as Float32Array[]
    const trainer = new StageTrainer({
      kernels,
      stage,
      protocol,
      batchOf,
      start: startOf(1, 2),
      resume: { step: 3, state: before.state },
    })
    let again: InnerStepRecord | undefined
    await runStage(
      trainer,
      { receive: async (_s, j) => inputs[j] as Float32Array, send: async () => undefined },
      {
        steps: 1,
        onStep: (r) => {
          again = r
        },
      },
    )
    assert.equal(trainer.step, 4)
    assert.deepEqual(innerStepBytes(again as InnerStepRecord), innerStepBytes(records[1][3] as InnerStepRecord))
  })

  it('on a node that trains the whole path, lets the event loop run between micro-batches', async () => {
    // A stage with no neighbours awaits no link: without its own yields, a node training the
    // whole model would answer neither its peers nor its API until the task ended.
    const trainer = new StageTrainer({
      kernels: getKernels('ts'),
      stage: whole,
      protocol,
      batchOf,
      start: startOf(0, 2),
    })
    let turns = 0
    let training = true
    const count = (): void => {
      if (!training) return
      turns++
      onNextTurn(count)
    }
    onNextTurn(count)
    await runStage(trainer, { receive: unused, send: unused })
    training = false
    assert.equal(trainer.step, protocol.innerSteps)
    assert.ok(
      turns >= protocol.innerSteps * protocol.microBatches * 2 - 1,
      `${turns} event-loop turns in ${protocol.innerSteps} inner steps of ${protocol.microBatches} micro-batches`,
    )
  })

  it('refuses calls out of order: a backward before its forward, a step ended early, a missing input', () => {
    const trainer = new StageTrainer({
      kernels: getKernels('ts'),
      stage: stages[1] as StageWeights,
      protocol,
      batchOf,
      start: startOf(1, 2),
    })
    assert.throws(() => trainer.forward(0, null), /no inner step has begun/)
    trainer.beginStep()
    assert.throws(() => trainer.backward(0, null), /ran no forward/)
    assert.throws(() => trainer.forward(0, null), /needs its input activations/)
    assert.throws(() => trainer.forward(2, new Float32Array(1)), /not one of 2/)
    assert.throws(() => trainer.endStep(), /without a backward/)
    assert.throws(() => trainer.pseudoGradient(), /needs all 6 inner steps/)
  })
})
