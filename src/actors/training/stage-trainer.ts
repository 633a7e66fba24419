/**
 * One pipeline stage's share of a whole task, as pure deterministic computation: H inner
 * steps of a local AdamW over the stage's adapters, each step's batch split into M
 * micro-batches that flow through the pipeline, then the pseudo-gradient Δ = θ_start − θ_end.
 *
 * Per inner step k: the batch is `stepBatch(…, k)`; each micro-batch j runs forward (the
 * first stage from its tokens, the others from the activations received) and backward (the
 * last stage from its loss, the others from the output gradient received); the step's
 * gradient is the micro-batch gradients folded in micro-batch order through `weightedSum`
 * with coefficients 1/M rounded once, clipped to `protocol.clipNorm`, and applied with
 * `adamwStep` and `protocol.optimizer` from a fresh AdamW state per task.
 *
 * The miner drives a `StageTrainer` with tensors arriving over the network (`runStage` with
 * links to its neighbours); a verifier drives the same object with the tensors the miner
 * stored, so the live computation and its re-execution cannot drift apart. A re-execution of
 * one inner step resumes from the inner state after the step before it.
 */
import type { Batch } from '../../ml/data/dataset.ts'
import { ShapeError } from '../../ml/errors.ts'
import type { Kernels } from '../../ml/kernels/contract.ts'
import type { StageForward } from '../../ml/model.ts'
import { type AdamWState, adamwStep, initAdamW } from '../../ml/optimizer.ts'
import { pseudoGradient } from '../../ml/outer.ts'
import { clipGradients } from '../../ml/train.ts'
import type { Params, StageWeights } from '../../ml/weights.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { nextTurn } from '../../runtime/event-loop.ts'
import { microBatchOf, type TrainingProtocol } from './protocol.ts'
import { backward, forward, type StageContext } from './stage-work.ts'

export type LinkDirection = 'forward' | 'backward'

/** A stage's adapters and its inner optimizer's state, between inner steps. */
export interface InnerState {
  readonly adapters: Params
  readonly optimizer: AdamWState
}

export function copyParams(p: Params): Params {
  return new Map([...p].map(([name, t]) => [name, new Float32Array(t)]))
}

export function copyInnerState(s: InnerState): InnerState {
  return {
    adapters: copyParams(s.adapters),
    optimizer: { step: s.optimizer.step, m: copyParams(s.optimizer.m), v: copyParams(s.optimizer.v) },
  }
}

export interface StageTrainerInit {
  readonly kernels: Kernels
  readonly stage: StageWeights
  readonly protocol: TrainingProtocol
  /** The whole batch of inner step k (`stepBatch` of the task), rebuilt identically by every stage. */
  readonly batchOf: (step: number) => Batch
  /** The adapters the task starts from (the subnet pointer's); not modified. */
  readonly start: Params
  /**
   * Resume before inner step `step` with `state` (the state after step `step − 1`): the
   * re-execution of one inner step. @default step 0 from `start` and a fresh AdamW state
   */
  readonly resume?: { readonly step: number; readonly state: InnerState }
}

/** What one inner step came to, once its optimizer step is applied. */
export interface InnerStepResult {
  readonly step: number
  /** Mean of the micro-batch losses (last stage only). */
  readonly loss?: number
  /** The global L2 norm of the step's gradient before clipping. */
  readonly gradNorm: number
}

/**
 * The computation of a stage over a task, one call per micro-batch pass. Calls come in this
 * order per inner step: `beginStep`, each micro-batch's `forward` (any order), each one's
 * `backward` (any order, after its forward), `endStep`; after H steps, `pseudoGradient`.
 */
export class StageTrainer {
  readonly innerSteps: number
  readonly microBatches: number
  readonly isFirst: boolean
  readonly isLast: boolean
  readonly #init: StageTrainerInit
  readonly #state: InnerState
  #step: number
  #inStep = false
  #micro: Batch[] = []
  #forwards: (StageForward | undefined)[] = []
  #grads: (Params | undefined)[] = []
  #losses: (number | undefined)[] = []

  constructor(init: StageTrainerInit) {
    const { innerSteps, microBatches } = init.protocol
    if (!(Number.isSafeInteger(innerSteps) && innerSteps > 0))
      throw new InvalidArgumentError(`inner steps ${innerSteps} must be a positive integer`)
    if (!(Number.isSafeInteger(microBatches) && microBatches > 0 && init.protocol.sequences % microBatches === 0))
      throw new InvalidArgumentError(`${microBatches} micro-batches do not divide ${init.protocol.sequences} sequences`)
    this.#init = init
    this.innerSteps = innerSteps
    this.microBatches = microBatches
    this.isFirst = init.stage.first === 0
    this.isLast = init.stage.end === init.stage.config.nLayers
    const resume = init.resume
    if (resume !== undefined && !(Number.isSafeInteger(resume.step) && resume.step >= 0 && resume.step < innerSteps))
      throw new InvalidArgumentError(`cannot resume at inner step ${resume.step} of ${innerSteps}`)
    this.#step = resume?.step ?? 0
    const adapters = copyParams(init.start)
    this.#state = resume === undefined ? { adapters, optimizer: initAdamW(adapters) } : copyInnerState(resume.state)
  }

  /** The inner step to run next (H once all have run). */
  get step(): number {
    return this.#step
  }

  /** The inner state now (a copy): after the last ended step. */
  state(): InnerState {
    return copyInnerState(this.#state)
  }

  beginStep(): number {
    if (this.#inStep) throw new InvalidArgumentError(`inner step ${this.#step} has not ended`)
    if (this.#step >= this.innerSteps) throw new InvalidArgumentError(`all ${this.innerSteps} inner steps have run`)
    const batch = this.#init.batchOf(this.#step)
    this.#micro = Array.from({ length: this.microBatches }, (_, j) => microBatchOf(batch, j, this.microBatches))
    this.#forwards = new Array(this.microBatches).fill(undefined)
    this.#grads = new Array(this.microBatches).fill(undefined)
    this.#losses = new Array(this.microBatches).fill(undefined)
    this.#inStep = true
    return this.#step
  }

  /**
   * Micro-batch j's forward: `input` is the activations received (null on the first stage).
   * Returns the output to send downstream, or null on the last stage (which keeps its loss).
   */
  forward(j: number, input: Float32Array | null): Float32Array | null {
    const ctx = this.#context(j)
    if (this.#forwards[j] !== undefined || this.#grads[j] !== undefined)
      throw new InvalidArgumentError(`micro-batch ${j} of inner step ${this.#step} already ran forward`)
    if (!this.isFirst && input === null) throw new ShapeError(`micro-batch ${j} needs its input activations`)
    const fw = forward(ctx, input)
    this.#forwards[j] = fw
    if (this.isLast) {
      this.#losses[j] = fw.loss
      return null
    }
    return fw.output
  }

  /**
   * Micro-batch j's backward: `dOutput` is the output gradient received (null on the last
   * stage). Returns the input gradient to send upstream, or null on the first stage.
   */
  backward(j: number, dOutput: Float32Array | null): Float32Array | null {
    const ctx = this.#context(j)
    const fw = this.#forwards[j]
    if (fw === undefined) throw new InvalidArgumentError(`micro-batch ${j} of inner step ${this.#step} ran no forward`)
    if (!this.isLast && dOutput === null) throw new ShapeError(`micro-batch ${j} needs its output gradient`)
    const bw = backward(ctx, fw, dOutput)
    this.#forwards[j] = undefined // its caches are no longer needed
    this.#grads[j] = bw.grads
    return this.isFirst ? null : bw.dInput
  }

  /** Fold the micro-batch gradients, clip, and take the inner AdamW step. */
  endStep(): InnerStepResult {
    if (!this.#inStep) throw new InvalidArgumentError('no inner step has begun')
    const parts = this.#grads
    if (parts.some((g) => g === undefined))
      throw new InvalidArgumentError(`inner step ${this.#step} has micro-batches without a backward`)
    const grads = foldMicroGradients(this.#init.kernels, parts as Params[])
    const gradNorm = clipGradients(grads, this.#init.protocol.clipNorm)
    adamwStep(this.#init.kernels, this.#state.adapters, grads, this.#state.optimizer, this.#init.protocol.optimizer)
    const step = this.#step
    let loss: number | undefined
    if (this.isLast) {
      let sum = 0
      for (const l of this.#losses) sum += l as number
      loss = sum / this.microBatches
    }
    this.#inStep = false
    this.#micro = []
    this.#grads = []
    this.#step++
    return { step, gradNorm, ...(loss === undefined ? {} : { loss }) }
  }

  /** Δ = θ_start − θ_end, once every inner step has run. */
  pseudoGradient(): Params {
    if (this.#step !== this.innerSteps || this.#inStep)
      throw new InvalidArgumentError(`the pseudo-gradient needs all ${this.innerSteps} inner steps`)
    return pseudoGradient(this.#init.kernels, this.#init.start, this.#state.adapters)
  }

  #context(j: number): StageContext {
    if (!this.#inStep) throw new InvalidArgumentError('no inner step has begun')
    const batch = this.#micro[j]
    if (!Number.isInteger(j) || batch === undefined)
      throw new InvalidArgumentError(`micro-batch ${j} is not one of ${this.microBatches}`)
    return {
      kernels: this.#init.kernels,
      stage: this.#init.stage,
      adapters: this.#state.adapters,
      protocol: this.#init.protocol,
      batch,
    }
  }
}

/**
 * The mean of the micro-batch gradients: per parameter (sorted names), a `weightedSum` of the
 * micro-batches in order with the coefficient 1/M rounded once, so every backend folds alike.
 */
export function foldMicroGradients(K: Kernels, parts: readonly Params[]): Params {
  const first = parts[0]
  if (first === undefined) throw new ShapeError('no micro-batch gradients to fold')
  const coef = new Float32Array(parts.length).fill(Math.fround(1 / parts.length))
  const out: Params = new Map()
  for (const name of [...first.keys()].sort()) {
    const size = (first.get(name) as Float32Array).length
    const values = parts.map((p, j) => {
      const g = p.get(name)
      if (g?.length !== size) throw new ShapeError(`micro-batch ${j} lacks '${name}' of ${size} values`)
      return g
    })
    const sum = new Float32Array(size)
    K.weightedSum(sum, values, coef)
    out.set(name, sum)
  }
  return out
}

// ---- driving a stage trainer through its pipeline links -----------------------------------

/**
 * A stage's pipeline neighbours, as the trainer sees them: the miner's are activation streams
 * and its tensor inbox, a re-execution's the tensors the miner stored.
 */
export interface StageLinks {
  /** The tensor for (inner step, micro-batch): activations ('forward') or the output gradient ('backward'). */
  receive(step: number, micro: number, direction: LinkDirection): Promise<Float32Array>
  /** Hand a computed tensor to the neighbour; settles once it is delivered. */
  send(step: number, micro: number, direction: LinkDirection, tensor: Float32Array): Promise<void>
}

/** What one inner step received, sent and came to: the stuff of its step-trace leaf. */
export interface InnerStepRecord extends InnerStepResult {
  /** Activations received, by micro-batch (empty on the first stage). */
  readonly inputs: readonly Float32Array[]
  /** Output gradients received, by micro-batch (empty on the last stage). */
  readonly dOutputs: readonly Float32Array[]
  /** Activations sent downstream, by micro-batch (empty on the last stage). */
  readonly outputs: readonly Float32Array[]
  /** Input gradients sent upstream, by micro-batch (empty on the first stage). */
  readonly dInputs: readonly Float32Array[]
  /** The inner state after the step. */
  readonly state: InnerState
}

export interface RunStageOptions {
  /** Called after each inner step, in order. */
  readonly onStep?: (record: InnerStepRecord) => void | Promise<void>
  /** Run at most this many inner steps (a re-execution of one step). @default all that remain */
  readonly steps?: number
  readonly signal?: AbortSignal
}

/**
 * Drive `trainer` through its remaining inner steps as a GPipe pipeline: per inner step, every
 * micro-batch's forward, each output sent downstream as soon as it is computed (the next stage
 * starts on it while this one computes the next), then every backward likewise upstream, then
 * the optimizer step. Sends of a step are awaited before its optimizer step ends it, so a
 * failed send fails the task.
 */
export async function runStage(trainer: StageTrainer, links: StageLinks, options: RunStageOptions = {}): Promise<void> {
  const last = Math.min(trainer.innerSteps, trainer.step + (options.steps ?? trainer.innerSteps))
  while (trainer.step < last) {
    options.signal?.throwIfAborted()
    const step = trainer.beginStep()
    const sends: Promise<void>[] = []
    const inputs: Float32Array[] = []
    const dOutputs: Float32Array[] = []
    const outputs: Float32Array[] = []
    const dInputs: Float32Array[] = []
    for (let j = 0; j < trainer.microBatches; j++) {
      const input = trainer.isFirst ? null : await links.receive(step, j, 'forward')
      if (input !== null) inputs.push(input)
      const output = trainer.forward(j, input)
      if (output !== null) {
        outputs.push(output)
        sends.push(settled(links.send(step, j, 'forward', output)))
      }
      // Let the stream carry this micro-batch's output while the next one computes; and, on
      // a stage with no neighbours (the whole path on one node), let the node answer its
      // peers and its API between micro-batches instead of only after the whole task.
      await nextTurn()
    }
    for (let j = 0; j < trainer.microBatches; j++) {
      const dOutput = trainer.isLast ? null : await links.receive(step, j, 'backward')
      if (dOutput !== null) dOutputs.push(dOutput)
      const dInput = trainer.backward(j, dOutput)
      if (dInput !== null) {
        dInputs.push(dInput)
        sends.push(settled(links.send(step, j, 'backward', dInput)))
      }
      await nextTurn()
    }
    await Promise.all(sends)
    const result = trainer.endStep()
    await options.onStep?.({ ...result, inputs, dOutputs, outputs, dInputs, state: trainer.state() })
  }
}

/** `p`, marked handled now (it is awaited later, with the step's other sends). */
function settled(p: Promise<void>): Promise<void> {
  p.catch(() => undefined)
  return p
}
