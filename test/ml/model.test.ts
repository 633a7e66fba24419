import assert from 'node:assert/strict'
import { deriveKey } from '../../src/codec/prng.ts'
import { defaultLora, modelConfigs } from '../../src/ml/config.ts'
import { NonFiniteError, ShapeError } from '../../src/ml/errors.ts'
import { runGoldenCase } from '../../src/ml/golden.ts'
import { tsKernels as K } from '../../src/ml/kernels/ts-kernels.ts'
import { type StageRun, stageBackward, stageForward } from '../../src/ml/model.ts'
import { adamwStep, defaultAdamW, initAdamW } from '../../src/ml/optimizer.ts'
import { initAdapters, initStageWeights } from '../../src/ml/weights.ts'

const config = modelConfigs.micro as NonNullable<typeof modelConfigs.micro>

function setup(sequences = 2, tokens = 16): { run: StageRun; inputs: Int32Array; targets: Int32Array } {
  const stage = initStageWeights(config, 0, config.nLayers, deriveKey('test', 'backbone'))
  const adapters = initAdapters(config, defaultLora, 0, config.nLayers, deriveKey('test', 'lora'))
  const text = Buffer.from('a stitch in time saves nine; a stitch in time saves nine. '.repeat(4))
  const inputs = new Int32Array(sequences * tokens)
  const targets = new Int32Array(sequences * tokens)
  for (let s = 0; s < sequences; s++) {
    for (let t = 0; t < tokens; t++) {
      inputs[s * tokens + t] = text[s * 5 + t] as number
      targets[s * tokens + t] = text[s * 5 + t + 1] as number
    }
  }
  return { run: { kernels: K, stage, adapters, lora: defaultLora, sequences, tokens }, inputs, targets }
}

describe('ml/model: BitNet b1.58 stage with LoRA', function () {
  // The reference backend on `tiny` golden cases takes seconds; a shared 2-core machine, more.
  this.timeout(180_000)

  it('starts near the uniform loss and LoRA training alone lowers it (backbone frozen)', () => {
    const { run, inputs, targets } = setup()
    const backboneBefore = Buffer.from(run.stage.layers[0]?.proj.q.w as Int8Array)
    const state = initAdamW(run.adapters)
    const losses: number[] = []
    for (let step = 0; step < 25; step++) {
      const fw = stageForward(run, { kind: 'tokens', tokens: inputs }, targets)
      losses.push(fw.loss as number)
      const { grads } = stageBackward(run, fw)
      assert.ok(
        [...grads.keys()].every((name) => name.includes('lora')),
        'only adapters get gradients',
      )
      adamwStep(K, run.adapters, grads, state, { ...defaultAdamW, lr: 1e-2 })
    }
    assert.ok(Math.abs((losses[0] as number) - Math.log(256)) < 0.3, `initial loss ${losses[0]}`)
    assert.ok((losses.at(-1) as number) < (losses[0] as number) * 0.6, `loss ${losses[0]} → ${losses.at(-1)}`)
    assert.deepEqual(Buffer.from(run.stage.layers[0]?.proj.q.w as Int8Array), backboneBefore)
  })

  it('gives the same bytes as two pipeline stages as it does whole (golden stage cases)', () => {
    for (const index of [10, 22, 34, 46, 58, 70]) {
      const result = runGoldenCase(K, index)
      assert.equal(result.kind, 'stage')
      assert.deepEqual(result.problems, [], `case ${index}`)
    }
  })

  it('is deterministic: the same run twice gives the same bytes', () => {
    const a = setup()
    const b = setup()
    const fa = stageForward(a.run, { kind: 'tokens', tokens: a.inputs }, a.targets)
    const fb = stageForward(b.run, { kind: 'tokens', tokens: b.inputs }, b.targets)
    assert.deepEqual(Buffer.from(fa.output.buffer), Buffer.from(fb.output.buffer))
    const ga = stageBackward(a.run, fa).grads
    const gb = stageBackward(b.run, fb).grads
    for (const [name, g] of ga)
      assert.deepEqual(Buffer.from(g.buffer), Buffer.from((gb.get(name) as Float32Array).buffer), name)
  })

  it('rejects bad input with typed errors and computes nothing wrong', () => {
    const { run, inputs, targets } = setup()
    assert.throws(() => stageForward(run, { kind: 'tokens', tokens: inputs.subarray(1) }, targets), ShapeError)
    assert.throws(() => stageForward(run, { kind: 'tokens', tokens: inputs }), /targets/)
    for (const bad of [-1, config.vocabSize]) {
      const outside = Int32Array.from(inputs)
      outside[3] = bad
      assert.throws(() => stageForward(run, { kind: 'tokens', tokens: outside }, targets), /outside \[0, 256\)/)
    }
    assert.throws(
      () => stageForward({ ...run, tokens: 1000, sequences: 1 }, { kind: 'tokens', tokens: new Int32Array(1000) }),
      /context/,
    )
    const last = { ...run.stage, first: 1, layers: run.stage.layers.slice(1) }
    const rows = run.sequences * run.tokens
    const acts = new Float32Array(rows * config.dModel)
    acts[5] = Number.NaN
    assert.throws(
      () => stageForward({ ...run, stage: last }, { kind: 'activations', activations: acts }, targets),
      NonFiniteError,
    )
    assert.throws(
      () => stageForward({ ...run, stage: last }, { kind: 'tokens', tokens: inputs }, targets),
      /takes activations/,
    )
    const missing = new Map(run.adapters)
    missing.delete('L0.q.loraA')
    assert.throws(
      () => stageForward({ ...run, adapters: missing }, { kind: 'tokens', tokens: inputs }, targets),
      /adapter/,
    )
    const first = { ...run.stage, end: 1, layers: run.stage.layers.slice(0, 1) }
    const fw = stageForward({ ...run, stage: first }, { kind: 'tokens', tokens: inputs })
    assert.throws(() => stageBackward({ ...run, stage: first }, fw, new Float32Array(3)), /output gradient/)
  })
})
