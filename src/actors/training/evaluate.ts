/**
 * The network's current model as one piece: the subnets' backbone ranges joined in layer
 * order with every subnet's adapters, and its held-out loss. Serving nodes and testnet
 * reports use it; training never does (each miner holds only its range).
 */
import { evalBatches } from '../../ml/data/dataset.ts'
import type { Kernels } from '../../ml/kernels/contract.ts'
import { evaluate } from '../../ml/train.ts'
import type { Params, StageWeights } from '../../ml/weights.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import type { AdapterState, TrainingProtocol } from './protocol.ts'

/** Join consecutive stages (in layer order) into one stage over their union. */
export function joinStages(stages: readonly StageWeights[]): StageWeights {
  const first = stages[0]
  const last = stages.at(-1)
  if (first === undefined || last === undefined) throw new InvalidArgumentError('no stages to join')
  stages.forEach((s, i) => {
    if (i > 0 && s.first !== (stages[i - 1] as StageWeights).end)
      throw new InvalidArgumentError(`stage [${s.first}, ${s.end}) does not follow the one before`)
  })
  return {
    config: first.config,
    first: first.first,
    end: last.end,
    layers: stages.flatMap((s) => s.layers),
    ...(first.embedding ? { embedding: first.embedding } : {}),
    ...(last.finalNorm ? { finalNorm: last.finalNorm } : {}),
    ...(last.head ? { head: last.head } : {}),
  }
}

export function joinAdapters(states: readonly AdapterState[]): Params {
  const out: Params = new Map()
  for (const s of states) for (const [name, p] of s.adapters) out.set(name, p)
  return out
}

/**
 * The held-out evaluation's shape: fixed, not the training step's (a chain parameter), so a
 * loss curve stays comparable across windows whatever governance does to the step shape.
 */
export const HELD_OUT_SEQUENCE_TOKENS = 64
export const HELD_OUT_BATCH_SEQUENCES = 4

/** Mean held-out cross-entropy (nats per token) of the joined model. */
export function heldOutLoss(
  kernels: Kernels,
  model: StageWeights,
  adapters: Params,
  protocol: TrainingProtocol,
  heldOut: Int32Array,
  maxTokens = 4096,
): number {
  const tokens = Math.min(HELD_OUT_SEQUENCE_TOKENS, model.config.contextLength)
  return evaluate(
    kernels,
    model,
    adapters,
    protocol.lora,
    evalBatches(heldOut, tokens, HELD_OUT_BATCH_SEQUENCES, maxTokens),
  )
}
