/**
 * Model configurations. A configuration is data: it is stored in every backbone and adapter
 * artifact, and the named ones below are the defaults the network and tests use.
 */
import { MAX_TOKENIZER_VOCAB } from '../runtime/limits.ts'
import { MlConfigError } from './errors.ts'

export interface ModelConfig {
  readonly name: string
  /** Token ids are 0 ≤ id < vocabSize: 256 for byte tokens, the BPE vocabulary otherwise. */
  readonly vocabSize: number
  readonly dModel: number
  readonly nLayers: number
  readonly nHeads: number
  /** Width of the squared-ReLU feed-forward layer. */
  readonly dFF: number
  /** Longest sequence the rotary tables cover. */
  readonly contextLength: number
  /** Rotary base frequency. @default 10000 */
  readonly ropeBase: number
  /** RMSNorm epsilon. @default 1e-5 */
  readonly normEps: number
  /**
   * Key/value heads (grouped-query attention): each serves nHeads / nKvHeads consecutive query
   * heads, as in Llama and BitNet b1.58 2B4T. Absent means nHeads (plain multi-head attention).
   */
  readonly nKvHeads?: number
  /**
   * Gated feed-forward: relu(gate(x))² · up(x), with a gate BitLinear (and its LoRA adapter), as
   * BitNet b1.58 2B4T. Absent or false: relu(up(x))².
   */
  readonly ffnGate?: boolean
  /**
   * The output head is the embedding matrix (a published checkpoint without lm_head). The head
   * is still stored in the head artifact, a copy, so the last stage needs no embedding.
   */
  readonly tieEmbeddings?: boolean
}

export interface LoraConfig {
  /** Rank of each adapter. @default 8 */
  readonly rank: number
  /** Scale numerator: the adapter output is multiplied by alpha / rank. @default 16 */
  readonly alpha: number
}

export const modelConfigs: Readonly<Record<string, ModelConfig>> = {
  /** For tests: small enough that the TypeScript reference runs a step in milliseconds. */
  micro: {
    name: 'micro',
    vocabSize: 256,
    dModel: 64,
    nLayers: 2,
    nHeads: 4,
    dFF: 256,
    contextLength: 64,
    ropeBase: 10000,
    normEps: 1e-5,
  },
  /** The default network model. */
  tiny: {
    name: 'tiny',
    vocabSize: 256,
    dModel: 256,
    nLayers: 8,
    nHeads: 4,
    dFF: 1024,
    contextLength: 256,
    ropeBase: 10000,
    normEps: 1e-5,
  },
  /**
   * A real model size: 41 986 560 parameters (12 layers × 3 149 312: 3 145 728 ternary
   * projection weights and 3 584 norm gains; embedding and head 4096 × 512 each; final norm
   * 512), with a byte-level BPE of 4096 tokens trained on the pretraining split
   * (`genesis pretrain --config small` makes both).
   */
  small: {
    name: 'small',
    vocabSize: 4096,
    dModel: 512,
    nLayers: 12,
    nHeads: 8,
    dFF: 2048,
    contextLength: 256,
    ropeBase: 10000,
    normEps: 1e-5,
  },
}

export const defaultLora: LoraConfig = { rank: 8, alpha: 16 }

export function getModelConfig(name: string): ModelConfig {
  const config = modelConfigs[name]
  if (config === undefined) {
    throw new MlConfigError(`unknown model config '${name}'; known: ${Object.keys(modelConfigs).join(', ')}`)
  }
  return config
}

/** Key/value heads of a configuration (nHeads unless grouped-query attention). */
export function kvHeadsOf(c: ModelConfig): number {
  return c.nKvHeads ?? c.nHeads
}

/** Check the invariants the kernels rely on; throws a typed error naming the field. */
export function validateModelConfig(c: ModelConfig): void {
  const positive = ['vocabSize', 'dModel', 'nLayers', 'nHeads', 'dFF', 'contextLength'] as const
  for (const key of positive) {
    if (!Number.isInteger(c[key]) || c[key] <= 0) throw new MlConfigError(`config.${key} must be a positive integer`)
  }
  if (c.vocabSize > MAX_TOKENIZER_VOCAB)
    throw new MlConfigError(`config.vocabSize must be ≤ ${MAX_TOKENIZER_VOCAB} (the largest tokenizer read)`)
  if (c.dModel % c.nHeads !== 0) throw new MlConfigError('config.dModel must be divisible by config.nHeads')
  if ((c.dModel / c.nHeads) % 2 !== 0) throw new MlConfigError('config head dimension must be even (rotary pairs)')
  // The int32 accumulator of a ternary × int8 row is converted to float32 exactly only below 2^24.
  if (127 * Math.max(c.dModel, c.dFF) >= 2 ** 24)
    throw new MlConfigError('config.dModel/dFF too large for exact accumulation')
  if (c.nKvHeads !== undefined) {
    if (!Number.isInteger(c.nKvHeads) || c.nKvHeads <= 0 || c.nHeads % c.nKvHeads !== 0) {
      throw new MlConfigError('config.nKvHeads must be a positive integer dividing config.nHeads')
    }
  }
  if (c.ffnGate !== undefined && typeof c.ffnGate !== 'boolean')
    throw new MlConfigError('config.ffnGate must be a boolean')
  if (c.tieEmbeddings !== undefined && typeof c.tieEmbeddings !== 'boolean') {
    throw new MlConfigError('config.tieEmbeddings must be a boolean')
  }
  if (!(c.normEps > 0) || !(c.ropeBase > 1))
    throw new MlConfigError('config.normEps must be > 0 and config.ropeBase > 1')
}
