/**
 * Running a loaded checkpoint: logits of a token sequence and greedy generation, with the
 * backbone alone (fresh adapters, whose zero B adds exactly nothing).
 */
import { deriveKey } from '../../codec/prng.ts'
import { defaultLora } from '../config.ts'
import { ShapeError } from '../errors.ts'
import { nextTokenLogits, sampleToken } from '../generate.ts'
import type { Kernels } from '../kernels/contract.ts'
import { stageForward } from '../model.ts'
import { initAdapters, type StageWeights } from '../weights.ts'

/** Token ids as the model takes them. */
function tokenArray(stage: StageWeights, ids: readonly number[]): Int32Array {
  if (ids.length === 0) throw new ShapeError('no tokens to run')
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= stage.config.vocabSize) {
      throw new ShapeError(`token id ${id} is outside the vocabulary of ${stage.config.vocabSize}`)
    }
  }
  return Int32Array.from(ids)
}

function backboneOnly(kernels: Kernels, stage: StageWeights) {
  const c = stage.config
  return {
    kernels,
    backbone: stage,
    adapters: initAdapters(c, defaultLora, 0, c.nLayers, deriveKey('checkpoint', 'zero-b')),
    lora: defaultLora,
  }
}

/** Logits [tokens, vocab] of every position of `ids` (at most contextLength of them). */
export function checkpointLogits(kernels: Kernels, stage: StageWeights, ids: readonly number[]): Float32Array {
  const tokens = tokenArray(stage, ids)
  const m = backboneOnly(kernels, stage)
  return stageForward(
    { kernels, stage, adapters: m.adapters, lora: m.lora, sequences: 1, tokens: tokens.length },
    { kind: 'tokens', tokens },
    new Int32Array(tokens.length),
  ).output
}

/** Greedy continuation of `prompt`: `maxTokens` token ids, argmax at each step (lowest id on ties). */
export function greedyContinuation(
  kernels: Kernels,
  stage: StageWeights,
  prompt: readonly number[],
  maxTokens: number,
): number[] {
  const m = backboneOnly(kernels, stage)
  const context = [...tokenArray(stage, prompt)]
  const out: number[] = []
  for (let i = 0; i < maxTokens; i++) {
    const next = sampleToken(nextTokenLogits(m, Int32Array.from(context)), 0, 1, 0)
    out.push(next)
    context.push(next)
  }
  return out
}
