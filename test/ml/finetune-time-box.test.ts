import assert from 'node:assert/strict'
import { deriveKey } from '../../src/codec/prng.ts'
import { modelConfigs } from '../../src/ml/config.ts'
import { tsKernels } from '../../src/ml/kernels/ts-kernels.ts'
import { finetune } from '../../src/ml/train.ts'
import { initStageWeights, type Params } from '../../src/ml/weights.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'

const config = modelConfigs.micro as NonNullable<typeof modelConfigs.micro>
const text = Int32Array.from(new TextEncoder().encode('the quick brown fox jumps over the lazy dog; '.repeat(40)))

const copy = (p: Params): Params => new Map([...p].map(([n, t]) => [n, Float32Array.from(t)]))

function run(onStep?: (step: number, adapters: Params) => boolean | undefined) {
  return finetune({
    kernels: tsKernels,
    clock: new SimulatedClock(),
    backbone: initStageWeights(config, 0, config.nLayers, deriveKey('time-box', 'backbone')),
    train: text.subarray(0, 1200),
    heldOut: text.subarray(1200),
    steps: 6,
    sequences: 2,
    tokens: 16,
    seed: 'time-box',
    eval: { sequences: 1, tokens: 16, maxTokens: 16 },
    ...(onStep === undefined ? {} : { onStep }),
  })
}

describe('ml/train: a fine-tuning run read and ended step by step (onStep)', function () {
  this.timeout(60_000)

  it('hands over the adapters after every step and ends the run where onStep says, with the same bytes as a full run at that step', () => {
    const seen: number[] = []
    let atThree: Params | undefined
    const full = run((step, adapters) => {
      seen.push(step)
      if (step === 3) atThree = copy(adapters)
      return undefined
    })
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6])
    assert.equal(full.steps, 6)

    let handed: Params | undefined
    const stopped = run((step, adapters) => {
      handed = adapters
      return step === 3
    })
    assert.equal(stopped.steps, 3)
    assert.equal(handed, stopped.adapters, 'the live adapters are handed over, not a copy')
    const expected = atThree as Params
    assert.deepEqual([...stopped.adapters.keys()], [...expected.keys()])
    for (const [name, t] of stopped.adapters)
      assert.deepEqual(Buffer.from(t.buffer), Buffer.from((expected.get(name) as Float32Array).buffer), name)
    // Training moved the adapters between step 3 and step 6.
    const moved = [...full.adapters].some(
      ([n, t]) => !Buffer.from(t.buffer).equals(Buffer.from((expected.get(n) as Float32Array).buffer)),
    )
    assert.ok(moved)
  })
})
