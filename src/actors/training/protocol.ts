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
 * - The adapter state of a subnet (adapters plus AdamW moments and step) is one bundle in the
 *   content store; its CID is the subnet's model pointer on chain. Before the first
 *   aggregation the state is the deterministic initialization from the chain id.
 */
import type { Task } from '../../chain/state.ts'
import { deriveKey } from '../../codec/prng.ts'
import { decodeParams, encodeParams } from '../../ml/artifacts.ts'
import { defaultLora, type LoraConfig, type ModelConfig } from '../../ml/config.ts'
import { type Batch, sampleBatch } from '../../ml/data/dataset.ts'
import { type AdamWConfig, type AdamWState, defaultAdamW, initAdamW } from '../../ml/optimizer.ts'
import { initAdapters, type Params } from '../../ml/weights.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'

/** Shape and hyper-parameters every node uses for a model: consensus-critical constants. */
export interface TrainingProtocol {
  readonly sequences: number
  readonly tokens: number
  readonly lora: LoraConfig
  readonly optimizer: AdamWConfig
  /** Global L2 norm bound on a subnet's aggregated gradient. */
  readonly clipNorm: number
}

export function trainingProtocol(config: ModelConfig): TrainingProtocol {
  return {
    sequences: 4,
    tokens: Math.min(64, config.contextLength),
    lora: defaultLora,
    optimizer: { ...defaultAdamW, lr: 4e-3 },
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

/** The batch of `task`, rebuilt identically by every stage of its pipeline path. */
export function taskBatch(
  protocol: TrainingProtocol,
  data: Int32Array,
  shardCount: number,
  task: Task,
  windowSeed: string,
): Batch {
  const bytes = shardBytes(data, shardCount, task.datasetShard, protocol.tokens + 1)
  return sampleBatch(bytes, deriveKey(windowSeed, 'r3mes/batch/1'), task.shard, protocol.sequences, protocol.tokens)
}

/** Tokens a task trains on: the weight of its gradient in the aggregate. */
export function taskTokens(protocol: TrainingProtocol): number {
  return protocol.sequences * protocol.tokens
}

// ---- adapter state ------------------------------------------------------------------------

export const ADAPTER_STATE_KIND = 'r3mes-adapter-state'

export interface AdapterState {
  readonly subnet: number
  readonly first: number
  readonly end: number
  readonly adapters: Params
  readonly optimizer: AdamWState
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
  return { subnet, first, end, adapters, optimizer: initAdamW(adapters) }
}

export function encodeAdapterState(s: AdapterState): Uint8Array {
  const all: Params = new Map()
  for (const [name, p] of s.adapters) all.set(`p:${name}`, p)
  for (const [name, m] of s.optimizer.m) all.set(`m:${name}`, m)
  for (const [name, v] of s.optimizer.v) all.set(`v:${name}`, v)
  return encodeParams(ADAPTER_STATE_KIND, all, {
    subnet: s.subnet,
    first: s.first,
    end: s.end,
    step: s.optimizer.step,
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
  const m = pick('m:')
  const v = pick('v:')
  for (const name of adapters.keys())
    if (!m.has(name) || !v.has(name)) throw new InvalidArgumentError(`adapter state lacks the moments of '${name}'`)
  return {
    subnet: num('subnet'),
    first: num('first'),
    end: num('end'),
    adapters,
    optimizer: { step: num('step'), m, v },
  }
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
 * What a verifier needs to re-execute one stage alone, by CID: the adapter state it ran with,
 * its input activations (absent on the first stage, which starts from tokens) and the
 * gradient of its output it received (absent on the last stage, which starts from the loss).
 * Version 2 adds the stage's step trace (step-trace.ts): the CID of its index and the Merkle
 * root of its leaves, so a dispute can bisect to one step instead of re-running the stage.
 */
export interface StageTrace {
  readonly v: 2
  readonly task: string
  readonly adapterState: string
  readonly input: string | null
  readonly output: string | null
  readonly dOutput: string | null
  readonly dInput: string | null
  /** The CID of the step trace's index. */
  readonly steps: string
  /** The Merkle root (hex) over the step trace's leaves. */
  readonly stepRoot: string
}

/** The reveal's metadata: the trace CID, so the chain carries one short string. */
export function traceMetadata(traceCid: string): string {
  return JSON.stringify({ trace: traceCid })
}

export function traceCidOf(metadata: string): string {
  let parsed: unknown
  try {
    parsed = JSON.parse(metadata)
  } catch {
    throw new InvalidArgumentError('submission metadata is not JSON')
  }
  const trace = (parsed as { trace?: unknown } | null)?.trace
  if (typeof trace !== 'string') throw new InvalidArgumentError('submission metadata names no trace')
  return trace
}

export function encodeTrace(t: StageTrace): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(t))
}

export function decodeTrace(bytes: Uint8Array): StageTrace {
  let t: StageTrace
  try {
    t = JSON.parse(new TextDecoder().decode(bytes)) as StageTrace
  } catch {
    throw new InvalidArgumentError('stage trace is not JSON')
  }
  const opt = (v: unknown): boolean => v === null || typeof v === 'string'
  if (
    t?.v !== 2 ||
    typeof t.task !== 'string' ||
    typeof t.adapterState !== 'string' ||
    !opt(t.input) ||
    !opt(t.output) ||
    !opt(t.dOutput) ||
    !opt(t.dInput) ||
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
