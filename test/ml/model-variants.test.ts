import assert from 'node:assert/strict'
import { deriveKey } from '../../src/codec/prng.ts'
import { defaultLora, type ModelConfig, modelConfigs, validateModelConfig } from '../../src/ml/config.ts'
import { MlConfigError } from '../../src/ml/errors.ts'
import type { Kernels } from '../../src/ml/kernels/contract.ts'
import { cpuKernels, nativeStatus } from '../../src/ml/kernels/native.ts'
import { tsKernels } from '../../src/ml/kernels/ts-kernels.ts'
import { type StageRun, stageBackward, stageForward } from '../../src/ml/model.ts'
import { adamwStep, defaultAdamW, initAdamW } from '../../src/ml/optimizer.ts'
import { runStep, stepCollector, stepPlan } from '../../src/ml/steps.ts'
import {
  initAdapters,
  initStageWeights,
  loraNames,
  type Params,
  projectionsOf,
  type StageWeights,
  type TernaryMatrix,
} from '../../src/ml/weights.ts'

const micro = modelConfigs.micro as ModelConfig
/** Grouped-query attention (2 kv heads for 4 query heads) and a gated FFN, as BitNet b1.58 2B4T. */
const gqa: ModelConfig = { ...micro, name: 'micro-gqa', nKvHeads: 2, ffnGate: true, dFF: 128 }
const sequences = 2
const tokens = 12

const bytesOf = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength)

function batch(): { inputs: Int32Array; targets: Int32Array } {
  const text = Buffer.from('grouped heads share keys and values; gates open and close. '.repeat(3))
  const rows = sequences * tokens
  return { inputs: Int32Array.from(text.subarray(0, rows)), targets: Int32Array.from(text.subarray(1, rows + 1)) }
}

function runOf(config: ModelConfig, kernels: Kernels = tsKernels): StageRun {
  const stage = initStageWeights(config, 0, config.nLayers, deriveKey('variants', 'backbone'))
  const adapters = initAdapters(config, defaultLora, 0, config.nLayers, deriveKey('variants', 'lora'))
  // Non-zero B, so every adapter changes the output and gets a gradient through every path.
  for (const [name, p] of adapters) {
    if (name.endsWith('loraB')) for (let i = 0; i < p.length; i++) p[i] = Math.fround(Math.sin(i * 0.7 + 1) * 0.05)
  }
  return { kernels, stage, adapters, lora: defaultLora, sequences, tokens }
}

/** Repeat each kv head's rows `group` times: the plain multi-head matrix a GQA matrix stands for. */
function expandRows(values: Int8Array | Float32Array, headDim: number, cols: number, group: number) {
  const kvHeads = values.length / (headDim * cols)
  const out = new (values.constructor as Int8ArrayConstructor | Float32ArrayConstructor)(values.length * group)
  for (let h = 0; h < kvHeads * group; h++) {
    const from = Math.floor(h / group) * headDim * cols
    out.set(values.subarray(from, from + headDim * cols), h * headDim * cols)
  }
  return out
}

/** The multi-head (nKvHeads = nHeads) model equal to a GQA model: k, v rows and their LoRA B repeated. */
function asMultiHead(run: StageRun): StageRun {
  const c = run.stage.config
  const group = c.nHeads / (c.nKvHeads as number)
  const headDim = c.dModel / c.nHeads
  const config: ModelConfig = { ...c, nKvHeads: c.nHeads }
  const layers = run.stage.layers.map((layer) => {
    const widen = (m: TernaryMatrix): TernaryMatrix => ({
      rows: m.rows * group,
      cols: m.cols,
      gamma: m.gamma,
      w: expandRows(m.w, headDim, m.cols, group) as Int8Array,
    })
    return { ...layer, proj: { ...layer.proj, k: widen(layer.proj.k), v: widen(layer.proj.v) } }
  })
  const adapters: Params = new Map(run.adapters)
  for (let li = 0; li < c.nLayers; li++) {
    for (const proj of ['k', 'v'] as const) {
      const b = loraNames(li, proj).b
      adapters.set(b, expandRows(run.adapters.get(b) as Float32Array, headDim, run.lora.rank, group) as Float32Array)
    }
  }
  const stage: StageWeights = { ...run.stage, config, layers }
  return { ...run, stage, adapters }
}

function maxRelativeDifference(a: Float32Array, b: Float32Array): number {
  let scale = 0
  let diff = 0
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i] as number))
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)))
  }
  return diff / scale
}

describe('ml/model: grouped-query attention and the gated FFN', function () {
  this.timeout(120_000)

  it('validates nKvHeads, ffnGate and tieEmbeddings, naming the field', () => {
    validateModelConfig(gqa)
    assert.throws(() => validateModelConfig({ ...micro, nKvHeads: 3 }), /nKvHeads/)
    assert.throws(() => validateModelConfig({ ...micro, nKvHeads: 0 }), MlConfigError)
    assert.throws(() => validateModelConfig({ ...micro, ffnGate: 'yes' as unknown as boolean }), /ffnGate/)
    assert.throws(() => validateModelConfig({ ...micro, tieEmbeddings: 1 as unknown as boolean }), /tieEmbeddings/)
  })

  it('gives k, v their kv-head width and a gate projection with its adapters only when asked', () => {
    const run = runOf(gqa)
    const layer = run.stage.layers[0]
    assert.equal(layer?.proj.k.rows, 2 * 16)
    assert.equal(layer?.proj.gate?.rows, 128)
    assert.deepEqual(projectionsOf(gqa), ['q', 'k', 'v', 'o', 'up', 'down', 'gate'])
    assert.ok(run.adapters.has('L1.gate.loraA'))
    assert.equal(runOf(micro).stage.layers[0]?.proj.gate, undefined)
    assert.ok(!runOf(micro).adapters.has('L0.gate.loraA'))
  })

  it('forward equals, bit for bit, the multi-head model whose kv heads are repeated', () => {
    const { inputs, targets } = batch()
    const run = runOf(gqa)
    const mha = asMultiHead(run)
    const a = stageForward(run, { kind: 'tokens', tokens: inputs }, targets)
    const b = stageForward(mha, { kind: 'tokens', tokens: inputs }, targets)
    assert.ok(bytesOf(a.output).equals(bytesOf(b.output)))
    assert.equal(a.loss, b.loss)
  })

  it("backward sums the shared heads' gradients: it matches the repeated model's summed over each group", () => {
    const { inputs, targets } = batch()
    const run = runOf(gqa)
    const mha = asMultiHead(run)
    const ga = stageBackward(run, stageForward(run, { kind: 'tokens', tokens: inputs }, targets)).grads
    const gb = stageBackward(mha, stageForward(mha, { kind: 'tokens', tokens: inputs }, targets)).grads
    const headDim = gqa.dModel / gqa.nHeads
    const group = gqa.nHeads / (gqa.nKvHeads as number)
    const r = defaultLora.rank
    for (const [name, g] of ga) {
      let expected = gb.get(name) as Float32Array
      if (/\.(k|v)\.loraB$/.test(name)) {
        // The repeated model's B rows of one kv head's group, summed.
        const summed = new Float32Array(g.length)
        for (let row = 0; row < expected.length / r; row++) {
          const to = Math.floor(row / headDim / group) * headDim + (row % headDim)
          for (let e = 0; e < r; e++)
            summed[to * r + e] = (summed[to * r + e] as number) + (expected[row * r + e] as number)
        }
        expected = summed
      }
      assert.equal(g.length, expected.length, name)
      // Same sums in another order: float32 rounding apart.
      assert.ok(maxRelativeDifference(expected, g) < 1e-4, `${name}: ${maxRelativeDifference(expected, g)}`)
      assert.ok(
        g.some((x) => x !== 0),
        `${name} has a gradient`,
      )
    }
  })

  it('LoRA training alone (gate adapters included) lowers the loss', () => {
    const { inputs, targets } = batch()
    const run = runOf(gqa)
    const state = initAdamW(run.adapters)
    const losses: number[] = []
    for (let step = 0; step < 20; step++) {
      const fw = stageForward(run, { kind: 'tokens', tokens: inputs }, targets)
      losses.push(fw.loss as number)
      adamwStep(tsKernels, run.adapters, stageBackward(run, fw).grads, state, { ...defaultAdamW, lr: 1e-2 })
    }
    assert.ok((losses.at(-1) as number) < (losses[0] as number) * 0.7, `loss ${losses[0]} → ${losses.at(-1)}`)
  })

  it('every step of a traced stage re-executes bit-exactly, on the native backend too', () => {
    const { inputs, targets } = batch()
    const backends: Kernels[] = [tsKernels, ...(nativeStatus().available ? [cpuKernels] : [])]
    const reference: Buffer[] = []
    for (const kernels of backends) {
      const run = runOf(gqa, kernels)
      const steps = stepCollector()
      const fw = stageForward(run, { kind: 'tokens', tokens: inputs }, targets, steps.observe)
      stageBackward(run, fw, undefined, steps.observe)
      for (const spec of stepPlan(run.stage)) {
        const output = steps.outputs[spec.index] as Float32Array
        const again = runStep(
          run,
          spec,
          spec.deps.map((d) => steps.outputs[d] as Float32Array),
          { tokens: inputs, targets },
        )
        assert.ok(bytesOf(again).equals(bytesOf(output)), `step ${spec.index} (${spec.kind})`)
        if (kernels === tsKernels) reference.push(bytesOf(output))
        else assert.ok(bytesOf(output).equals(reference[spec.index] as Buffer), `ts vs cpu step ${spec.index}`)
      }
    }
  })
})
