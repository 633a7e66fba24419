/**
 * Training-step throughput of LoRA fine-tuning on a model config, per backend, measured side
 * by side in one run on the same batch. Time comes from process.hrtime (benchmarks only).
 */

import { deriveKey, PhiloxStream } from '../src/codec/prng.ts'
import { defaultLora, getModelConfig } from '../src/ml/config.ts'
import type { Kernels } from '../src/ml/kernels/contract.ts'
import { type StageRun, stageBackward, stageForward } from '../src/ml/model.ts'
import { adamwStep, defaultAdamW, initAdamW } from '../src/ml/optimizer.ts'
import { initAdapters, initStageWeights } from '../src/ml/weights.ts'

export interface StepThroughput {
  readonly backend: string
  readonly tokensPerSecond: number
  readonly stepSeconds: number
  readonly steps: number
}

/** Tokens per second of forward + backward + AdamW on LoRA adapters, best of `steps` steps. */
export function trainStepThroughput(
  K: Kernels,
  configName: string,
  sequences: number,
  tokens: number,
  steps: number,
): StepThroughput {
  const config = getModelConfig(configName)
  const stage = initStageWeights(config, 0, config.nLayers, deriveKey('bench', 'backbone'))
  for (const layer of stage.layers) for (const m of Object.values(layer.proj)) delete m.latent
  const adapters = initAdapters(config, defaultLora, 0, config.nLayers, deriveKey('bench', 'lora'))
  const stream = new PhiloxStream(deriveKey('bench', 'data'))
  const inputs = Int32Array.from({ length: sequences * tokens }, () => stream.nextInt(256))
  const targets = Int32Array.from({ length: sequences * tokens }, () => stream.nextInt(256))
  const state = initAdamW(adapters)
  const run: StageRun = { kernels: K, stage, adapters, lora: defaultLora, sequences, tokens }
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < steps; i++) {
    const t0 = process.hrtime.bigint()
    const fw = stageForward(run, { kind: 'tokens', tokens: inputs }, targets)
    const { grads } = stageBackward(run, fw)
    adamwStep(K, adapters, grads, state, defaultAdamW)
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9)
  }
  return { backend: K.name, tokensPerSecond: (sequences * tokens) / best, stepSeconds: best, steps }
}
