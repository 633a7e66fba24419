/**
 * A stage's forward and backward over one batch as a list of steps, each one re-executable
 * alone from the outputs of the steps before it: the finer level a dispute could bisect
 * inside one inner step of a task (disputes today stop at the inner step, stage-trainer.ts,
 * whose re-execution costs one forward and backward of the stage per micro-batch).
 *
 * For a stage over layers [first, end) with n = end − first:
 *   0          the stage input: the token embeddings (first stage) or the given activations
 *   1 … n      layer first+j−1 forward: its output, from step j−1
 *   n+1        the gradient of the last layer's output: the head and loss backward (last stage,
 *              from step n and the targets) or the given output gradient
 *   n+2+k      layer end−1−k backward: its input gradient then its LoRA gradients (sorted by
 *              name), from the layer's forward input (step end−1−k−first) and the gradient
 *              above it (step n+1+k; a backward step's input gradient is its first rows×d values)
 * Given steps (the input activations and output gradient a stage receives from its
 * neighbours) are not computed: a re-executor takes them from the claim's trace.
 *
 * The outputs are those of `stageForward`/`stageBackward` with a step observer, bit for bit:
 * the same functions compute both (a layer's backward step recomputes that layer's forward
 * caches from its input first).
 */
import { ShapeError } from './errors.ts'
import { embed, headGradient, layerBackward, layerForward, packLayerBackward, type StageRun } from './model.ts'
import { type LayerWeights, loraNames, matrixOf, type Params, projectionsOf, type StageWeights } from './weights.ts'

export type StepKind = 'embed' | 'input' | 'layerForward' | 'headBackward' | 'dOutput' | 'layerBackward'

export interface StepSpec {
  readonly index: number
  readonly kind: StepKind
  /** The layer of a layer step; null otherwise. */
  readonly layer: number | null
  /** Indices of the earlier steps whose outputs this step reads, in argument order. */
  readonly deps: readonly number[]
}

/** Steps a re-executor cannot compute: the stage receives their outputs from its neighbours. */
export function isGivenStep(spec: StepSpec): boolean {
  return spec.kind === 'input' || spec.kind === 'dOutput'
}

/** The steps of `stage`, in trace order. */
export function stepPlan(stage: StageWeights): StepSpec[] {
  const n = stage.end - stage.first
  const isFirst = stage.first === 0
  const isLast = stage.end === stage.config.nLayers
  const plan: StepSpec[] = [{ index: 0, kind: isFirst ? 'embed' : 'input', layer: null, deps: [] }]
  for (let j = 1; j <= n; j++) plan.push({ index: j, kind: 'layerForward', layer: stage.first + j - 1, deps: [j - 1] })
  plan.push({ index: n + 1, kind: isLast ? 'headBackward' : 'dOutput', layer: null, deps: isLast ? [n] : [] })
  for (let k = 0; k < n; k++) {
    const layer = stage.end - 1 - k
    plan.push({ index: n + 2 + k, kind: 'layerBackward', layer, deps: [layer - stage.first, n + 1 + k] })
  }
  return plan
}

/** What a step reads besides earlier steps: the batch's tokens (embedding) and targets (head). */
export interface StepBatch {
  readonly tokens: Int32Array
  readonly targets: Int32Array
}

/**
 * Re-execute one computed step from the outputs of its `deps` (in `spec.deps` order). Given
 * steps throw: their outputs are not computed.
 */
export function runStep(run: StageRun, spec: StepSpec, deps: readonly Float32Array[], batch: StepBatch): Float32Array {
  if (run.trainBackbone === true) throw new ShapeError('step traces cover adapter training only')
  const c = run.stage.config
  const rows = run.sequences * run.tokens
  const width = rows * c.dModel
  if (deps.length !== spec.deps.length)
    throw new ShapeError(`step ${spec.index} reads ${spec.deps.length} earlier outputs, got ${deps.length}`)
  const activations = (i: number): Float32Array => {
    const a = deps[i] as Float32Array
    if (a.length < width) throw new ShapeError(`step ${spec.index} needs ${width} values from its input ${i}`)
    // A backward step's output starts with its input gradient: that is what the next layer reads.
    return a.length === width ? a : a.subarray(0, width)
  }
  const weights = (layer: number): LayerWeights => {
    const w = run.stage.layers[layer - run.stage.first]
    if (w === undefined) throw new ShapeError(`layer ${layer} is not in this stage`)
    return w
  }
  switch (spec.kind) {
    case 'embed':
      if (batch.tokens.length !== rows) throw new ShapeError(`expected ${rows} tokens, got ${batch.tokens.length}`)
      for (const t of batch.tokens) if (t >= c.vocabSize) throw new ShapeError(`token ${t} ≥ vocab size`)
      return embed(run, batch.tokens)
    case 'layerForward': {
      const layer = spec.layer as number
      return layerForward(run, layer, weights(layer), activations(0))[0]
    }
    case 'headBackward':
      if (batch.targets.length !== rows) throw new ShapeError(`expected ${rows} targets, got ${batch.targets.length}`)
      return headGradient(run, activations(0), batch.targets)
    case 'layerBackward': {
      const layer = spec.layer as number
      const w = weights(layer)
      const [, cache] = layerForward(run, layer, w, activations(0))
      const grads: Params = new Map()
      const dx = layerBackward(run, layer, w, cache, activations(1), grads)
      return packLayerBackward(dx, grads)
    }
    case 'input':
    case 'dOutput':
      throw new ShapeError(`step ${spec.index} (${spec.kind}) is given, not computed`)
  }
}

/** The LoRA gradients inside a layer backward step's output (the part after its input gradient). */
export function layerGradsOf(run: StageRun, layer: number, output: Float32Array): Params {
  const w = run.stage.layers[layer - run.stage.first]
  if (w === undefined) throw new ShapeError(`layer ${layer} is not in this stage`)
  const r = run.lora.rank
  const sizes = new Map<string, number>()
  for (const proj of projectionsOf(run.stage.config)) {
    const m = matrixOf(w, proj)
    const names = loraNames(layer, proj)
    sizes.set(names.a, r * m.cols)
    sizes.set(names.b, m.rows * r)
  }
  let at = run.sequences * run.tokens * run.stage.config.dModel
  let expected = at
  for (const size of sizes.values()) expected += size
  if (output.length !== expected)
    throw new ShapeError(`layer ${layer} backward step holds ${output.length} values, expected ${expected}`)
  const grads: Params = new Map()
  for (const name of [...sizes.keys()].sort()) {
    const size = sizes.get(name) as number
    grads.set(name, output.slice(at, at + size))
    at += size
  }
  return grads
}

/** A traced stage: the untraced functions with a step observer, the outputs collected in step order. */
export interface TracedSteps {
  readonly outputs: Float32Array[]
  readonly observe: (output: Float32Array) => void
}

export function stepCollector(): TracedSteps {
  const outputs: Float32Array[] = []
  return { outputs, observe: (output) => outputs.push(output) }
}
