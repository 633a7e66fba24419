/**
 * Published BitNet b1.58 checkpoints in the Hugging Face layout (e.g. microsoft/bitnet-b1.58-2B-4T,
 * read by transformers' `BitNetForCausalLM`), turned into this project's model configuration and
 * backbone weights.
 *
 * A checkpoint directory holds `config.json`, the weights (`model.safetensors`, or shards
 * `model-0000X-of-0000Y.safetensors` named by `model.safetensors.index.json`) and usually
 * `tokenizer.json`. What this reader assumes of that layout (transformers'
 * models/bitnet/modeling_bitnet.py and integrations/bitnet.py):
 *
 * - config.json: hidden_size, intermediate_size, num_attention_heads, num_key_value_heads
 *   (default num_attention_heads), num_hidden_layers, vocab_size, rms_norm_eps (default 1e-5),
 *   rope_theta (default 500000, BitNetConfig's), max_position_embeddings (default 2048),
 *   hidden_act "relu2", tie_word_embeddings (default false), and quantization_config
 *   { quant_method "bitnet", linear_class "bitlinear" | "autobitlinear", quantization_mode
 *   "offline" }. Options that change the computation and are not modelled here (rope_scaling,
 *   attention_bias, a head_dim other than hidden/heads, online quantization, the optional RMSNorm
 *   inside AutoBitLinear) are refused, never ignored.
 * - Tensors: model.embed_tokens.weight [V, d]; per layer i, model.layers.{i}.input_layernorm.weight,
 *   .self_attn.{q,k,v,o}_proj.weight and .weight_scale, .self_attn.attn_sub_norm.weight [d],
 *   .post_attention_layernorm.weight, .mlp.{gate,up,down}_proj.weight and .weight_scale,
 *   .mlp.ffn_sub_norm.weight [intermediate]; model.norm.weight; lm_head.weight [V, d] unless tied.
 *   Norms and embeddings are floating (BF16 in the releases; F16 and F32 read too).
 * - A projection's weight is U8 [out/4, in]: four ternary codes per byte packed along the output
 *   dimension, rows [k·out/4, (k+1)·out/4) in bits 2k..2k+1 (transformers' unpack_weights), the
 *   value being code − 1 (code 3 is invalid). weight_scale holds one number per matrix.
 * - How weight_scale scales: AutoBitLinear ("autobitlinear") multiplies the output by it, so it is
 *   the absmean scale itself (our gamma); BitLinear ("bitlinear") divides the integer product by
 *   (input_scale · weight_scale) with input_scale = 127/absmax, so there it is 1/gamma.
 * - Activations: per token absmax int8 (ours rounds half away from zero and clamps to ±127; torch
 *   rounds half to even and clamps to [−128, 127]: the two differ only on exact ties, since
 *   |x|·127/absmax ≤ 127).
 * - Rotary embedding as Llama (rotate_half: dimension j of a head pairs with j + headDim/2); ours
 *   pairs (2j, 2j+1), so the rows of q_proj and k_proj are permuted per head, row 2j ← j and
 *   2j+1 ← j + headDim/2. Attention scores q·k are unchanged by permuting both alike.
 * - Grouped-query attention: query head h reads kv head ⌊h / (heads/kvHeads)⌋ (repeat_kv).
 * - FFN = down(ffn_sub_norm(relu(gate(x))² · up(x))); attention output = o(attn_sub_norm(attn)).
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { MAX_CHECKPOINT_JSON_BYTES, MAX_CHECKPOINT_SHARDS, MAX_SAFETENSORS_TENSORS } from '../../runtime/limits.ts'
import { type ModelConfig, validateModelConfig } from '../config.ts'
import { CheckpointError, MlConfigError } from '../errors.ts'
import {
  headDimOf,
  type LayerProjections,
  type LayerWeights,
  type NormName,
  normWidth,
  type Projection,
  projectionShape,
  projectionsOf,
  type StageWeights,
} from '../weights.ts'
import { openSafetensors, type RawTensor, type SafetensorsFile, toFloat32 } from './safetensors.ts'

export const CONFIG_FILE = 'config.json'
export const WEIGHTS_FILE = 'model.safetensors'
export const INDEX_FILE = 'model.safetensors.index.json'
export const TOKENIZER_FILE = 'tokenizer.json'

/** How a checkpoint's weight_scale applies (see the header comment). */
export type LinearClass = 'bitlinear' | 'autobitlinear'

export interface HfBitNetConfig {
  readonly model: ModelConfig
  readonly linearClass: LinearClass
}

/** The Hugging Face name of each of our projections and norms. */
const PROJECTION_NAMES: Record<Projection, string> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
}
const NORM_NAMES: Record<NormName, string> = {
  attnNorm: 'input_layernorm',
  attnSubNorm: 'self_attn.attn_sub_norm',
  ffnNorm: 'post_attention_layernorm',
  ffnSubNorm: 'mlp.ffn_sub_norm',
}

export function projectionTensorName(layer: number, proj: Projection): string {
  return `model.layers.${layer}.${PROJECTION_NAMES[proj]}.weight`
}

function readJsonFile(path: string): unknown {
  let text: string
  try {
    const size = statSync(path).size
    if (size > MAX_CHECKPOINT_JSON_BYTES) {
      throw new CheckpointError(`${path}: ${size} bytes, more than ${MAX_CHECKPOINT_JSON_BYTES}`, { file: path })
    }
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if (error instanceof CheckpointError) throw error
    throw new CheckpointError(`${path}: cannot read: ${(error as Error).message}`, { file: path })
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new CheckpointError(`${path}: not JSON: ${(error as Error).message}`, { file: path })
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Read and check config.json into our configuration (named `name`). */
export function readHfBitNetConfig(dir: string, name = basename(dir)): HfBitNetConfig {
  const file = join(dir, CONFIG_FILE)
  const raw = readJsonFile(file)
  const fail = (message: string): never => {
    throw new CheckpointError(`${file}: ${message}`, { file })
  }
  if (!isObject(raw)) return fail('is not a JSON object')
  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback
    if (!Number.isSafeInteger(v) || (v as number) <= 0)
      fail(`${key} must be a positive integer, got ${JSON.stringify(v)}`)
    return v as number
  }
  const num = (key: string, fallback: number): number => {
    const v = raw[key] ?? fallback
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      fail(`${key} must be a positive number, got ${JSON.stringify(v)}`)
    return v as number
  }
  if (raw.model_type !== undefined && raw.model_type !== 'bitnet')
    fail(`model_type is ${JSON.stringify(raw.model_type)}, not "bitnet"`)
  if (raw.hidden_act !== undefined && raw.hidden_act !== 'relu2') {
    fail(`hidden_act ${JSON.stringify(raw.hidden_act)} is not supported (BitNet b1.58 uses "relu2")`)
  }
  if (raw.rope_scaling !== undefined && raw.rope_scaling !== null) fail('rope_scaling is not supported')
  if (raw.attention_bias === true) fail('attention_bias is not supported (BitNet projections have no bias)')
  const q = raw.quantization_config
  if (!isObject(q)) return fail('lacks quantization_config (a BitNet b1.58 checkpoint has one)')
  if (q.quant_method !== 'bitnet')
    fail(`quantization_config.quant_method is ${JSON.stringify(q.quant_method)}, not "bitnet"`)
  const linearClass = q.linear_class ?? 'bitlinear'
  if (linearClass !== 'bitlinear' && linearClass !== 'autobitlinear') {
    fail(`quantization_config.linear_class ${JSON.stringify(linearClass)} is not "bitlinear" or "autobitlinear"`)
  }
  if ((q.quantization_mode ?? 'offline') !== 'offline') {
    fail(
      `quantization_config.quantization_mode ${JSON.stringify(q.quantization_mode)}: only "offline" (packed ternary) is read`,
    )
  }
  if (q.use_rms_norm === true) fail('quantization_config.use_rms_norm is not supported')
  const dModel = int('hidden_size')
  const nHeads = int('num_attention_heads')
  if (raw.head_dim !== undefined && raw.head_dim !== dModel / nHeads) {
    fail(`head_dim ${JSON.stringify(raw.head_dim)} differs from hidden_size / num_attention_heads`)
  }
  const tie = raw.tie_word_embeddings ?? false
  if (typeof tie !== 'boolean') fail('tie_word_embeddings must be a boolean')
  const model: ModelConfig = {
    name,
    vocabSize: int('vocab_size'),
    dModel,
    nLayers: int('num_hidden_layers'),
    nHeads,
    nKvHeads: int('num_key_value_heads', nHeads),
    dFF: int('intermediate_size'),
    contextLength: int('max_position_embeddings', 2048),
    ropeBase: num('rope_theta', 500000),
    normEps: num('rms_norm_eps', 1e-5),
    ffnGate: true,
    tieEmbeddings: tie as boolean,
  }
  try {
    validateModelConfig(model)
  } catch (error) {
    if (error instanceof MlConfigError) fail(`gives a model this project cannot run: ${error.message}`)
    throw error
  }
  // Four ternary codes per byte along the output dimension: every projection's rows divide by 4.
  for (const proj of projectionsOf(model)) {
    const [rows] = projectionShape(model, proj)
    if (rows % 4 !== 0) fail(`the ${proj} projection has ${rows} output rows, not a multiple of 4 (packed ternary)`)
  }
  return { model, linearClass: linearClass as LinearClass }
}

/** Where each tensor lives: one file, or the shards of the index. */
function tensorFiles(dir: string): { files: SafetensorsFile[]; where: Map<string, SafetensorsFile> } {
  const single = join(dir, WEIGHTS_FILE)
  const index = join(dir, INDEX_FILE)
  const names: string[] = []
  if (existsSync(index)) {
    const raw = readJsonFile(index)
    if (!isObject(raw) || !isObject(raw.weight_map)) {
      throw new CheckpointError(`${index}: lacks a weight_map object`, { file: index })
    }
    names.push(...new Set(Object.values(raw.weight_map).map(String)))
    if (names.length > MAX_CHECKPOINT_SHARDS) {
      throw new CheckpointError(`${index}: names ${names.length} shards, at most ${MAX_CHECKPOINT_SHARDS}`, {
        file: index,
      })
    }
    for (const shard of names) {
      // A shard is a file of this directory, never a path out of it.
      if (!/^[\w.-]+\.safetensors$/.test(shard) || shard.startsWith('.')) {
        throw new CheckpointError(`${index}: shard name ${JSON.stringify(shard)} is not a file name`, { file: index })
      }
    }
  } else if (existsSync(single)) {
    names.push(WEIGHTS_FILE)
  } else {
    throw new CheckpointError(`${dir}: neither ${WEIGHTS_FILE} nor ${INDEX_FILE}`, { file: single })
  }
  const files: SafetensorsFile[] = []
  const where = new Map<string, SafetensorsFile>()
  try {
    for (const name of names) {
      const file = openSafetensors(join(dir, name))
      files.push(file)
      for (const tensor of file.header.tensors.keys()) {
        const other = where.get(tensor)
        if (other !== undefined) {
          throw new CheckpointError(`tensor '${tensor}' is in both ${other.path} and ${file.path}`, {
            file: file.path,
            tensor,
          })
        }
        where.set(tensor, file)
        if (where.size > MAX_SAFETENSORS_TENSORS) {
          throw new CheckpointError(`${dir}: more than ${MAX_SAFETENSORS_TENSORS} tensors`, { file: file.path })
        }
      }
    }
  } catch (error) {
    for (const f of files) f.close()
    throw error
  }
  return { files, where }
}

/** Every tensor name the configuration needs, with its dtype class and shape. */
function expectedTensors(config: ModelConfig): Map<string, { kind: 'float' | 'packed' | 'scale'; shape: number[] }> {
  const out = new Map<string, { kind: 'float' | 'packed' | 'scale'; shape: number[] }>()
  const V = config.vocabSize
  const d = config.dModel
  out.set('model.embed_tokens.weight', { kind: 'float', shape: [V, d] })
  for (let li = 0; li < config.nLayers; li++) {
    for (const norm of Object.keys(NORM_NAMES) as NormName[]) {
      out.set(`model.layers.${li}.${NORM_NAMES[norm]}.weight`, { kind: 'float', shape: [normWidth(config, norm)] })
    }
    for (const proj of projectionsOf(config)) {
      const [rows, cols] = projectionShape(config, proj)
      out.set(projectionTensorName(li, proj), { kind: 'packed', shape: [rows / 4, cols] })
      out.set(`model.layers.${li}.${PROJECTION_NAMES[proj]}.weight_scale`, { kind: 'scale', shape: [1] })
    }
  }
  out.set('model.norm.weight', { kind: 'float', shape: [d] })
  if (config.tieEmbeddings !== true) out.set('lm_head.weight', { kind: 'float', shape: [V, d] })
  return out
}

export interface TensorListing {
  readonly name: string
  readonly dtype: string
  readonly shape: readonly number[]
  readonly file: string
}

export interface CheckpointInspection {
  readonly config: ModelConfig
  readonly linearClass: LinearClass
  /** Parameters of the model (each ternary weight and each float counted once; the tied head not again). */
  readonly parameters: number
  readonly tensors: readonly TensorListing[]
  /** Tensors the configuration does not use. */
  readonly unused: readonly string[]
  readonly tokenizer: string | null
}

function parameterCount(config: ModelConfig): number {
  let n = config.vocabSize * config.dModel * (config.tieEmbeddings === true ? 1 : 2) + config.dModel
  for (const proj of projectionsOf(config)) {
    const [rows, cols] = projectionShape(config, proj)
    n += config.nLayers * rows * cols
  }
  n += config.nLayers * (3 * config.dModel + config.dFF)
  return n
}

/** The configuration and tensor list of a checkpoint, its headers checked, no weights read. */
export function inspectHfBitNet(dir: string): CheckpointInspection {
  const { model, linearClass } = readHfBitNetConfig(dir)
  const { files, where } = tensorFiles(dir)
  try {
    const expected = expectedTensors(model)
    const tensors: TensorListing[] = []
    for (const [name, file] of where) {
      const e = file.header.tensors.get(name)
      if (e !== undefined) tensors.push({ name, dtype: e.dtype, shape: e.shape, file: basename(file.path) })
    }
    const tokenizer = join(dir, TOKENIZER_FILE)
    return {
      config: model,
      linearClass,
      parameters: parameterCount(model),
      tensors,
      unused: [...where.keys()].filter((n) => !expected.has(n)),
      tokenizer: existsSync(tokenizer) ? tokenizer : null,
    }
  } finally {
    for (const f of files) f.close()
  }
}

/** transformers' unpack_weights: U8 [rows/4, cols] → ternary [rows, cols]. */
export function unpackTernary(packed: Uint8Array, rows: number, cols: number, what: string): Int8Array {
  const quarter = rows / 4
  const out = new Int8Array(rows * cols)
  for (let r = 0; r < quarter; r++) {
    for (let c = 0; c < cols; c++) {
      const byte = packed[r * cols + c] as number
      for (let k = 0; k < 4; k++) {
        const code = (byte >> (2 * k)) & 3
        if (code === 3) throw new CheckpointError(`${what}: byte [${r}, ${c}] holds the invalid ternary code 3`)
        out[(k * quarter + r) * cols + c] = code - 1
      }
    }
  }
  return out
}

/**
 * Rotary pairs, from Llama's halves to ours: within each head, row 2j ← row j and
 * row 2j+1 ← row j + headDim/2.
 */
export function interleaveRotaryRows(w: Int8Array, heads: number, headDim: number, cols: number): Int8Array {
  const out = new Int8Array(w.length)
  const half = headDim / 2
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      const base = h * headDim
      out.set(w.subarray((base + j) * cols, (base + j + 1) * cols), (base + 2 * j) * cols)
      out.set(w.subarray((base + j + half) * cols, (base + j + half + 1) * cols), (base + 2 * j + 1) * cols)
    }
  }
  return out
}

export interface HfBitNetModel {
  readonly config: ModelConfig
  readonly linearClass: LinearClass
  /** The whole model: every layer, the embedding, the final norm and the head. */
  readonly stage: StageWeights
  /** Path of tokenizer.json, when the checkpoint has one. */
  readonly tokenizer: string | null
}

/** Read a checkpoint directory into our configuration and backbone weights. */
export function loadHfBitNet(dir: string, name?: string): HfBitNetModel {
  const { model: config, linearClass } = readHfBitNetConfig(dir, name)
  const { files, where } = tensorFiles(dir)
  try {
    const expected = expectedTensors(config)
    const read = (tensor: string): RawTensor => {
      const file = where.get(tensor)
      if (file === undefined)
        throw new CheckpointError(`${dir}: checkpoint lacks tensor '${tensor}'`, { file: dir, tensor })
      const spec = expected.get(tensor)
      const t = file.read(tensor)
      const what = `${file.path}: tensor '${tensor}'`
      const fail = (message: string): never => {
        throw new CheckpointError(`${what} ${message}`, { file: file.path, tensor })
      }
      if (spec !== undefined) {
        const okDtype =
          spec.kind === 'packed' ? t.dtype === 'U8' : t.dtype === 'F32' || t.dtype === 'BF16' || t.dtype === 'F16'
        if (!okDtype)
          fail(`is ${t.dtype}, expected ${spec.kind === 'packed' ? 'U8 (packed ternary)' : 'F32, BF16 or F16'}`)
        const shapeOk = t.shape.length === spec.shape.length && t.shape.every((s, i) => s === spec.shape[i])
        // A scale may also be a scalar (shape []).
        if (!shapeOk && !(spec.kind === 'scale' && t.shape.length === 0)) {
          fail(`has shape [${t.shape.join(', ')}], expected [${spec.shape.join(', ')}]`)
        }
      }
      return t
    }
    const floats = (tensor: string): Float32Array => {
      const values = toFloat32(read(tensor), `tensor '${tensor}'`)
      for (let i = 0; i < values.length; i++) {
        if (!Number.isFinite(values[i])) {
          throw new CheckpointError(`${where.get(tensor)?.path}: tensor '${tensor}' holds a non-finite value at ${i}`, {
            file: where.get(tensor)?.path,
            tensor,
          })
        }
      }
      return values
    }
    const headDim = headDimOf(config)
    const layers: LayerWeights[] = []
    for (let li = 0; li < config.nLayers; li++) {
      const proj = {} as LayerProjections
      for (const p of projectionsOf(config)) {
        const [rows, cols] = projectionShape(config, p)
        const wName = projectionTensorName(li, p)
        let w = unpackTernary(read(wName).bytes, rows, cols, `${where.get(wName)?.path}: tensor '${wName}'`)
        if (p === 'q') w = interleaveRotaryRows(w, config.nHeads, headDim, cols)
        if (p === 'k') w = interleaveRotaryRows(w, rows / headDim, headDim, cols)
        const sName = `model.layers.${li}.${PROJECTION_NAMES[p]}.weight_scale`
        const scale = floats(sName)[0] as number
        const gamma = Math.fround(linearClass === 'autobitlinear' ? scale : 1 / scale)
        if (!(gamma > 0 && Number.isFinite(gamma))) {
          throw new CheckpointError(`${where.get(sName)?.path}: tensor '${sName}' must be positive, got ${scale}`, {
            file: where.get(sName)?.path,
            tensor: sName,
          })
        }
        proj[p] = { rows, cols, w, gamma }
      }
      const norm = {} as Record<NormName, Float32Array>
      for (const n of Object.keys(NORM_NAMES) as NormName[])
        norm[n] = floats(`model.layers.${li}.${NORM_NAMES[n]}.weight`)
      layers.push({ proj, norm })
    }
    const embedding = floats('model.embed_tokens.weight')
    const stage: StageWeights = {
      config,
      first: 0,
      end: config.nLayers,
      layers,
      embedding,
      finalNorm: floats('model.norm.weight'),
      // A tied head is the embedding; the head artifact keeps its own copy (config.ts).
      head: config.tieEmbeddings === true ? embedding.slice() : floats('lm_head.weight'),
    }
    const tokenizer = join(dir, TOKENIZER_FILE)
    return { config, linearClass, stage, tokenizer: existsSync(tokenizer) ? tokenizer : null }
  } finally {
    for (const f of files) f.close()
  }
}
