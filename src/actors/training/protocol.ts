/**
 * The training protocol: what every honest node computes the same way from the chain's state,
 * so replicas of a task produce the same gradient bytes (and CID), a verifier re-executes a
 * stage bit for bit, and any aggregator produces the same new adapters.
 *
 * - The batch of a task is drawn from its data-set shard (a contiguous slice of the training
 *   bytes) with a Philox key from the window seed, so the first and last stages of one
 *   pipeline path rebuild the same tokens and targets without exchanging them.
 * - A pipeline path is one shard across the subnets in layer order; the miner at position i
 *   of subnet k's task works with the miner at position i (modulo the replica count) of the
 *   neighbouring subnets' tasks.
 * - A task is H inner steps (DiLoCo): each step's batch is drawn from the shard, split into M
 *   micro-batches that flow through the path's stages, and ends with a local AdamW step on the
 *   stage's adapters; the submission is the pseudo-gradient Δ = θ_start − θ_end.
 * - The adapter state of a subnet (adapters plus the outer Nesterov momentum and the count of
 *   outer steps) is one bundle in the content store; its CID is the subnet's model pointer on
 *   chain. Before the first aggregation the state is the deterministic initialization from the
 *   chain id.
 */
import type { TrainingParams } from '../../chain/params.ts'
import type { Task } from '../../chain/state.ts'
import { isCid } from '../../codec/cid.ts'
import { deriveKey } from '../../codec/prng.ts'
import { decodeParams, encodeParams } from '../../ml/artifacts.ts'
import { defaultLora, type LoraConfig, type ModelConfig } from '../../ml/config.ts'
import { type Batch, sampleBatch } from '../../ml/data/dataset.ts'
import { type AdamWConfig, defaultAdamW } from '../../ml/optimizer.ts'
import type { NesterovConfig } from '../../ml/outer.ts'
import { initAdapters, type Params } from '../../ml/weights.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { MAX_STAGE_TRACE_BYTES, MAX_TRACE_TENSORS } from '../../runtime/limits.ts'

/** Shape and hyper-parameters every node uses for a model: consensus-critical constants. */
export interface TrainingProtocol {
  /** Sequences of one inner step's batch. */
  readonly sequences: number
  readonly tokens: number
  readonly lora: LoraConfig
  /** H: local optimizer steps per task. */
  readonly innerSteps: number
  /** M: micro-batches per inner step (divides `sequences`). */
  readonly microBatches: number
  /** The inner (local, per task) AdamW. */
  readonly optimizer: AdamWConfig
  /** The outer Nesterov step an aggregate applies to the mean pseudo-gradient. */
  readonly outer: NesterovConfig
  /** Global L2 norm bound on each inner step's gradient. */
  readonly clipNorm: number
}

/** The chain parameters the protocol follows (a window records them when it opens). */
export type { TrainingParams }

/** A rate in millionths (a chain parameter: integers only) as the float32 the kernels use. */
function ppm(value: number): number {
  return Math.fround(value / 1_000_000)
}

export function trainingProtocol(config: ModelConfig, params: TrainingParams): TrainingProtocol {
  const { stepSequences, sequenceTokens, microBatches, innerSteps } = params
  if (!(Number.isInteger(stepSequences) && stepSequences > 0))
    throw new InvalidArgumentError(`stepSequences ${stepSequences} must be a positive integer`)
  if (!(Number.isInteger(sequenceTokens) && sequenceTokens > 1))
    throw new InvalidArgumentError(`sequenceTokens ${sequenceTokens} must be an integer above 1`)
  if (!(Number.isInteger(microBatches) && microBatches > 0 && stepSequences % microBatches === 0))
    throw new InvalidArgumentError(`microBatches ${microBatches} must divide the ${stepSequences} sequences of a step`)
  if (!(Number.isInteger(innerSteps) && innerSteps > 0))
    throw new InvalidArgumentError(`innerSteps ${innerSteps} must be a positive integer`)
  return {
    sequences: stepSequences,
    // The chain does not know the model; its context length caps what a sequence can hold.
    tokens: Math.min(sequenceTokens, config.contextLength),
    lora: defaultLora,
    innerSteps,
    microBatches,
    optimizer: { ...defaultAdamW, lr: ppm(params.innerLrPpm) },
    outer: { lr: ppm(params.outerLrPpm), momentum: ppm(params.outerMomentumPpm) },
    clipNorm: 1,
  }
}

/** The token ids of shard `index` of `shardCount` equal slices of a data set's training ids. */
export function shardBytes(data: Int32Array, shardCount: number, index: number, minBytes: number): Int32Array {
  if (!(Number.isInteger(shardCount) && shardCount > 0 && Number.isInteger(index) && index >= 0 && index < shardCount))
    throw new InvalidArgumentError(`shard ${index} of ${shardCount} does not exist`)
  const start = Math.floor((data.length * index) / shardCount)
  const end = Math.floor((data.length * (index + 1)) / shardCount)
  // A slice too short for one sequence (a tiny data set split many ways) takes the bytes after it.
  return data.subarray(start, Math.min(data.length, Math.max(end, start + minBytes)))
}

/**
 * The batch of inner step `step` of `task`, rebuilt identically by every stage of its pipeline
 * path: Philox keyed by the window seed, counter (task's shard · H + step), so no two steps of
 * one window draw the same stream.
 */
export function stepBatch(
  protocol: TrainingProtocol,
  data: Int32Array,
  shardCount: number,
  task: Task,
  windowSeed: string,
  step: number,
): Batch {
  if (!(Number.isInteger(step) && step >= 0 && step < protocol.innerSteps))
    throw new InvalidArgumentError(`inner step ${step} is not in [0, ${protocol.innerSteps})`)
  const bytes = shardBytes(data, shardCount, task.datasetShard, protocol.tokens + 1)
  const counter = task.shard * protocol.innerSteps + step
  return sampleBatch(bytes, deriveKey(windowSeed, 'r3mes/batch/2'), counter, protocol.sequences, protocol.tokens)
}

/** Micro-batch `j` of `microBatches`: consecutive sequences of the step's batch (views, not copies). */
export function microBatchOf(batch: Batch, j: number, microBatches: number): Batch {
  if (!(Number.isInteger(microBatches) && microBatches > 0 && batch.sequences % microBatches === 0))
    throw new InvalidArgumentError(`${microBatches} micro-batches do not divide ${batch.sequences} sequences`)
  if (!(Number.isInteger(j) && j >= 0 && j < microBatches))
    throw new InvalidArgumentError(`micro-batch ${j} is not in [0, ${microBatches})`)
  const sequences = batch.sequences / microBatches
  const from = j * sequences * batch.tokens
  const to = from + sequences * batch.tokens
  return {
    sequences,
    tokens: batch.tokens,
    inputs: batch.inputs.subarray(from, to),
    targets: batch.targets.subarray(from, to),
  }
}

/** Tokens a task trains on (every inner step's batch): the weight of its pseudo-gradient in the aggregate. */
export function taskTokens(protocol: TrainingProtocol): number {
  return protocol.sequences * protocol.tokens * protocol.innerSteps
}

// ---- adapter state ------------------------------------------------------------------------

export const ADAPTER_STATE_KIND = 'r3mes-adapter-state'

export interface AdapterState {
  readonly subnet: number
  readonly first: number
  readonly end: number
  readonly adapters: Params
  /** The outer Nesterov momentum buffer, one per adapter tensor. */
  readonly momentum: Params
  /** Outer steps (aggregates) applied so far. */
  readonly step: number
}

/** The state of a subnet before its first aggregation: a function of the chain id alone. */
export function initialAdapterState(
  config: ModelConfig,
  protocol: TrainingProtocol,
  chainId: string,
  subnet: number,
  layers: readonly [number, number],
): AdapterState {
  const [first, end] = layers
  // One key for the whole model, so a subnet's layers get the same init whatever the split.
  const adapters = initAdapters(config, protocol.lora, first, end, deriveKey(chainId, 'r3mes/lora-init/1'))
  const momentum: Params = new Map()
  for (const [name, p] of adapters) momentum.set(name, new Float32Array(p.length))
  return { subnet, first, end, adapters, momentum, step: 0 }
}

export function encodeAdapterState(s: AdapterState): Uint8Array {
  const all: Params = new Map()
  for (const [name, p] of s.adapters) all.set(`p:${name}`, p)
  for (const [name, u] of s.momentum) all.set(`u:${name}`, u)
  return encodeParams(ADAPTER_STATE_KIND, all, {
    subnet: s.subnet,
    first: s.first,
    end: s.end,
    step: s.step,
  })
}

export function decodeAdapterState(bytes: Uint8Array): AdapterState {
  const { params, meta } = decodeParams(ADAPTER_STATE_KIND, bytes)
  const pick = (prefix: string): Params => {
    const out: Params = new Map()
    for (const [name, t] of params) if (name.startsWith(prefix)) out.set(name.slice(prefix.length), t)
    return out
  }
  const num = (key: string): number => {
    const v = meta[key]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw new InvalidArgumentError(`adapter state meta '${key}' must be a non-negative integer`)
    return v
  }
  const adapters = pick('p:')
  const momentum = pick('u:')
  if (momentum.size !== adapters.size)
    throw new InvalidArgumentError('adapter state momentum does not match its adapters')
  for (const [name, p] of adapters)
    if (momentum.get(name)?.length !== p.length)
      throw new InvalidArgumentError(`adapter state lacks the momentum of '${name}'`)
  if (params.size !== adapters.size + momentum.size)
    throw new InvalidArgumentError('adapter state holds tensors that are neither adapters nor momentum')
  return { subnet: num('subnet'), first: num('first'), end: num('end'), adapters, momentum, step: num('step') }
}

// ---- gradients and stage traces -----------------------------------------------------------

export const GRADIENT_KIND = 'r3mes-gradient'

export function encodeGradient(grads: Params, task: Task, tokens: number): Uint8Array {
  return encodeParams(GRADIENT_KIND, grads, { task: task.id, tokens })
}

export function decodeGradient(bytes: Uint8Array): { grads: Params; task: string; tokens: number } {
  const { params, meta } = decodeParams(GRADIENT_KIND, bytes)
  if (typeof meta.task !== 'string') throw new InvalidArgumentError('gradient bundle names no task')
  if (typeof meta.tokens !== 'number' || !Number.isSafeInteger(meta.tokens) || meta.tokens <= 0)
    throw new InvalidArgumentError('gradient bundle has no positive token count')
  return { grads: params, task: meta.task, tokens: meta.tokens }
}

/**
 * What a verifier needs to re-execute a stage's share of a task alone, by CID: the adapter
 * state it started from, the tensors it received from its neighbours for each inner step and
 * micro-batch (step-major: step k's micro-batch j at k·M + j), and its step trace
 * (step-trace.ts): the CID of its index and the Merkle root of its leaves, one per inner step
 * and one for the pseudo-gradient, so a dispute bisects to one inner step.
 * Version 3: tasks of H inner steps of M micro-batches.
 */
export interface StageTrace {
  readonly v: 3
  readonly task: string
  readonly adapterState: string
  /** The activations received, H·M CIDs; null on the first stage. */
  readonly inputs: readonly string[] | null
  /** The output gradients received, H·M CIDs; null on the last stage. */
  readonly dOutputs: readonly string[] | null
  /** The CID of the step trace's index. */
  readonly steps: string
  /** The Merkle root (hex) over the step trace's leaves. */
  readonly stepRoot: string
}

/** The reveal's metadata: the trace CID, so the chain carries one short string. */
/**
 * A reveal's metadata: the CID of the miner's step trace, as its text. The chain carries a
 * CID-valued metadata in its binary form, so this costs the reveal 38 bytes.
 */
export function traceMetadata(traceCid: string): string {
  return traceCid
}

export function traceCidOf(metadata: string): string {
  if (!isCid(metadata)) throw new InvalidArgumentError('submission metadata names no trace (it must be a CID)')
  return metadata
}

export function encodeTrace(t: StageTrace): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(t))
}

/** A stage trace's list of received tensors: null, or at most MAX_TRACE_TENSORS CIDs. */
function isTensorList(v: unknown): v is readonly string[] | null {
  if (v === null) return true
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    v.length <= MAX_TRACE_TENSORS &&
    v.every((cid) => typeof cid === 'string' && cid.length <= 128 && isCid(cid))
  )
}

export function decodeTrace(bytes: Uint8Array): StageTrace {
  if (bytes.length > MAX_STAGE_TRACE_BYTES)
    throw new InvalidArgumentError(`stage trace of ${bytes.length} bytes is over ${MAX_STAGE_TRACE_BYTES}`)
  let t: StageTrace
  try {
    t = JSON.parse(new TextDecoder().decode(bytes)) as StageTrace
  } catch {
    throw new InvalidArgumentError('stage trace is not JSON')
  }
  if (
    t?.v !== 3 ||
    typeof t.task !== 'string' ||
    typeof t.adapterState !== 'string' ||
    !isTensorList(t.inputs) ||
    !isTensorList(t.dOutputs) ||
    typeof t.steps !== 'string' ||
    typeof t.stepRoot !== 'string' ||
    !/^[0-9a-f]{64}$/.test(t.stepRoot)
  )
    throw new InvalidArgumentError('stage trace has the wrong shape')
  return t
}

/** Float32 tensor bytes (little-endian, as the host stores them) and back, copying. */
export function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength))
}

export function f32From(bytes: Uint8Array): Float32Array {
  if (bytes.length % 4 !== 0) throw new InvalidArgumentError(`${bytes.length} bytes are not whole float32 values`)
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length))
}
