/**
 * One pipeline stage's pass over one micro-batch, as pure computation: forward from tokens or
 * input activations, backward from the loss or the output's gradient. The stage trainer
 * (stage-trainer.ts) runs it for every micro-batch of every inner step of a task.
 */
import type { Batch } from '../../ml/data/dataset.ts'
import type { Kernels } from '../../ml/kernels/contract.ts'
import { type StageForward, type StageRun, stageBackward, stageForward } from '../../ml/model.ts'
import type { Params, StageWeights } from '../../ml/weights.ts'
import type { TrainingProtocol } from './protocol.ts'

export interface StageContext {
  readonly kernels: Kernels
  readonly stage: StageWeights
  readonly adapters: Params
  readonly protocol: TrainingProtocol
  readonly batch: Batch
}

function runOf(c: StageContext): StageRun {
  return {
    kernels: c.kernels,
    stage: c.stage,
    adapters: c.adapters,
    lora: c.protocol.lora,
    sequences: c.batch.sequences,
    tokens: c.batch.tokens,
  }
}

export function isFirstStage(c: StageContext): boolean {
  return c.stage.first === 0
}

export function isLastStage(c: StageContext): boolean {
  return c.stage.end === c.stage.config.nLayers
}

/** Forward: the first stage reads the batch's tokens, the others `input`; the last also takes the loss. */
export function forward(c: StageContext, input: Float32Array | null): StageForward {
  const run = runOf(c)
  const targets = isLastStage(c) ? c.batch.targets : undefined
  return isFirstStage(c)
    ? stageForward(run, { kind: 'tokens', tokens: c.batch.inputs }, targets)
    : stageForward(run, { kind: 'activations', activations: input ?? new Float32Array(0) }, targets)
}

/** Backward: from the loss on the last stage, from `dOutput` elsewhere. */
export function backward(
  c: StageContext,
  fw: StageForward,
  dOutput: Float32Array | null,
): { grads: Params; dInput: Float32Array | null } {
  const bw = stageBackward(runOf(c), fw, isLastStage(c) ? undefined : (dOutput ?? undefined))
  return { grads: bw.grads, dInput: bw.dInput ?? null }
}
