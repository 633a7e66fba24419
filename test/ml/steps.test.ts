import assert from 'node:assert/strict'
import { firstDifference, MerkleTree } from '../../src/codec/merkle.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { defaultLora, type ModelConfig, modelConfigs } from '../../src/ml/config.ts'
import { ShapeError } from '../../src/ml/errors.ts'
import type { Kernels } from '../../src/ml/kernels/contract.ts'
import { cpuKernels, nativeStatus } from '../../src/ml/kernels/native.ts'
import { tsKernels } from '../../src/ml/kernels/ts-kernels.ts'
import { type StageInput, type StageRun, stageBackward, stageForward } from '../../src/ml/model.ts'
import { isGivenStep, layerGradsOf, runStep, stepCollector, stepPlan } from '../../src/ml/steps.ts'
import { initAdapters, initStageWeights, type Params } from '../../src/ml/weights.ts'

// Four layers, so a stage can be first, middle, last or whole.
const config: ModelConfig = { ...(modelConfigs.micro as ModelConfig), nLayers: 4 }
const sequences = 2
const tokens = 8
const rows = sequences * tokens

const bytesOf = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength)

function stageSetup(kernels: Kernels, first: number, end: number) {
  const stage = initStageWeights(config, first, end, deriveKey('steps-test', 'backbone'))
  const adapters = initAdapters(config, defaultLora, first, end, deriveKey('steps-test', 'lora'))
  const run: StageRun = { kernels, stage, adapters, lora: defaultLora, sequences, tokens }
  const text = Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(3))
  const batch = {
    tokens: Int32Array.from(text.subarray(0, rows)),
    targets: Int32Array.from(text.subarray(1, rows + 1)),
  }
  const wave = (seed: number): Float32Array =>
    Float32Array.from({ length: rows * config.dModel }, (_, i) => Math.fround(Math.sin(i * 0.37 + seed) * 0.5))
  const input: StageInput =
    first === 0 ? { kind: 'tokens', tokens: batch.tokens } : { kind: 'activations', activations: wave(1) }
  const dOutput = end === config.nLayers ? undefined : wave(2)
  return { run, batch, input, dOutput, targets: end === config.nLayers ? batch.targets : undefined }
}

function traced(s: ReturnType<typeof stageSetup>) {
  const steps = stepCollector()
  const fw = stageForward(s.run, s.input, s.targets, steps.observe)
  const bw = stageBackward(s.run, fw, s.dOutput, steps.observe)
  return { fw, bw, steps: steps.outputs }
}

function sameParams(a: Params, b: Params): void {
  assert.deepEqual([...a.keys()], [...b.keys()])
  for (const [name, g] of a) assert.ok(bytesOf(g).equals(bytesOf(b.get(name) as Float32Array)), name)
}

const backends: [string, Kernels | null][] = [
  ['ts kernels', tsKernels],
  ['native cpu kernels', nativeStatus().available ? cpuKernels : null],
]
const stages: [number, number][] = [
  [0, 4],
  [0, 2],
  [1, 3],
  [2, 4],
]

describe('ml/steps: a stage as re-executable steps', function () {
  this.timeout(120_000)

  for (const [backend, kernels] of backends) {
    describe(backend, () => {
      beforeEach(function () {
        if (kernels === null) this.skip()
      })

      for (const [first, end] of stages) {
        it(`stage [${first}, ${end}): traced outputs, loss and gradients equal the untraced run bit for bit`, () => {
          const s = stageSetup(kernels as Kernels, first, end)
          const plain = stageForward(s.run, s.input, s.targets)
          const plainBw = stageBackward(s.run, plain, s.dOutput)
          const t = traced(s)
          assert.ok(bytesOf(t.fw.output).equals(bytesOf(plain.output)))
          assert.equal(t.fw.loss, plain.loss)
          sameParams(t.bw.grads, plainBw.grads)
          if (plainBw.dInput !== undefined)
            assert.ok(bytesOf(t.bw.dInput as Float32Array).equals(bytesOf(plainBw.dInput)))
          assert.equal(t.steps.length, stepPlan(s.run.stage).length)
          // The last backward step's input gradient is the stage's; the layer gradients union to the stage's.
          const last = t.steps.at(-1) as Float32Array
          if (plainBw.dInput !== undefined)
            assert.ok(bytesOf(last.subarray(0, rows * config.dModel)).equals(bytesOf(plainBw.dInput)))
          const union: Params = new Map()
          for (const spec of stepPlan(s.run.stage))
            if (spec.kind === 'layerBackward')
              for (const [n, g] of layerGradsOf(s.run, spec.layer as number, t.steps[spec.index] as Float32Array))
                union.set(n, g)
          assert.deepEqual([...union.keys()].sort(), [...plainBw.grads.keys()].sort())
          for (const [n, g] of union) assert.ok(bytesOf(g).equals(bytesOf(plainBw.grads.get(n) as Float32Array)), n)
        })

        it(`stage [${first}, ${end}): each computed step re-executed alone equals the traced step`, () => {
          const s = stageSetup(kernels as Kernels, first, end)
          const t = traced(s)
          let computed = 0
          for (const spec of stepPlan(s.run.stage)) {
            if (isGivenStep(spec)) {
              assert.throws(() => runStep(s.run, spec, [], s.batch), ShapeError)
              continue
            }
            const deps = spec.deps.map((j) => t.steps[j] as Float32Array)
            const again = runStep(s.run, spec, deps, s.batch)
            assert.ok(bytesOf(again).equals(bytesOf(t.steps[spec.index] as Float32Array)), `step ${spec.index}`)
            computed++
          }
          assert.equal(computed, 2 * (end - first) + (first === 0 ? 1 : 0) + (end === config.nLayers ? 1 : 0))
        })
      }
    })
  }

  it('a step perturbed in one value is located by bisection at exactly that index', () => {
    const s = stageSetup(tsKernels, 0, 4)
    const t = traced(s)
    const leaves = t.steps.map((o) => new Uint8Array(bytesOf(o)))
    const honest = new MerkleTree(leaves)
    assert.equal(firstDifference(honest, new MerkleTree(leaves)), null)
    for (let i = 0; i < leaves.length; i++) {
      const bad = t.steps.map((o) => new Float32Array(o))
      const v = bad[i] as Float32Array
      v[v.length - 1] = Math.fround((v[v.length - 1] as number) + 1e-3)
      const found = firstDifference(honest, new MerkleTree(bad.map((o) => new Uint8Array(bytesOf(o)))))
      assert.equal(found?.index, i)
      assert.ok((found?.comparisons as number) <= 1 + Math.ceil(Math.log2(leaves.length)))
    }
  })

  it('refuses a step whose inputs are of the wrong size, and a backward step of the wrong length', () => {
    const s = stageSetup(tsKernels, 0, 2)
    const plan = stepPlan(s.run.stage)
    const fwd = plan[1] as (typeof plan)[number]
    assert.throws(() => runStep(s.run, fwd, [new Float32Array(3)], s.batch), ShapeError)
    assert.throws(() => runStep(s.run, fwd, [], s.batch), ShapeError)
    assert.throws(() => layerGradsOf(s.run, 1, new Float32Array(10)), ShapeError)
  })
})
