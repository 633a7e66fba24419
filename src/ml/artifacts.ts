/**
 * Model artifacts on disk and on the wire: one bundle per backbone layer (so a subnet fetches
 * only its layers), one for the embedding, one for the output head, one for adapters, and a
 * manifest naming each by CID, and the model's tokenizer (byte tokens, or a BPE tokenizer.json
 * by CID: every node turns text into the same ids). Loading verifies every file against its CID and every tensor
 * against the configuration: a truncated, corrupt or mismatched artifact is a typed error.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { JsonValue } from '../codec/canonical-json.ts'
import { cidOf } from '../codec/cid.ts'
import { type ModelConfig, validateModelConfig } from './config.ts'
import { ArtifactError } from './errors.ts'
import { type Bundle, decodeBundle, encodeBundle, verifyCid } from './serialize.ts'
import { assertFinite, type Tensor, tensor } from './tensor.ts'
import { BpeTokenizer } from './tokenizer/bpe.ts'
import { bytesTokenizer } from './tokenizer/bytes.ts'
import type { Tokenizer } from './tokenizer/tokenizer.ts'
import {
  type LayerProjections,
  type LayerWeights,
  matrixOf,
  NORMS,
  type NormName,
  normWidth,
  type Params,
  projectionShape,
  projectionsOf,
  type StageWeights,
} from './weights.ts'

export const MANIFEST_FILE = 'manifest.json'

export interface BackboneManifest {
  readonly kind: 'r3mes-backbone'
  readonly config: ModelConfig
  /** CID of each layer's bundle, index = layer. */
  readonly layers: readonly string[]
  readonly embedding: string
  readonly head: string
  /** Free-form provenance (command, steps, held-out loss). */
  readonly provenance: { [key: string]: JsonValue }
  /** The model's tokenizer; absent in manifests written before tokenizers: byte tokens. */
  readonly tokenizer?: TokenizerRef
}

/** How a manifest names its tokenizer: byte tokens, or a tokenizer.json file `<cid>.json` by CID. */
export type TokenizerRef = { readonly kind: 'bytes' } | { readonly kind: 'bpe'; readonly cid: string }

/** The file name of a BPE tokenizer.json in a backbone directory. */
export function tokenizerFile(cid: string): string {
  return `${cid}.json`
}

function checkTokenizerRef(ref: unknown, where: string): TokenizerRef {
  const r = ref as { kind?: unknown; cid?: unknown } | null
  if (r?.kind === 'bytes') return { kind: 'bytes' }
  if (r?.kind === 'bpe' && typeof r.cid === 'string' && /^b[a-z2-7]{20,100}$/.test(r.cid))
    return { kind: 'bpe', cid: r.cid }
  throw new ArtifactError(
    `${where}: tokenizer must be { kind: 'bytes' } or { kind: 'bpe', cid }, got ${JSON.stringify(ref)}`,
  )
}

/** A tokenizer from its reference and, for BPE, the tokenizer.json bytes (checked against the CID). */
export function tokenizerFromRef(ref: TokenizerRef, config: ModelConfig, file?: Uint8Array): Tokenizer {
  let tokenizer: Tokenizer
  if (ref.kind === 'bytes') tokenizer = bytesTokenizer
  else {
    if (file === undefined) throw new ArtifactError(`tokenizer ${ref.cid} is needed but was not given`)
    verifyCid(ref.cid, file)
    tokenizer = new BpeTokenizer(file, `tokenizer ${ref.cid}`)
  }
  if (tokenizer.vocabSize > config.vocabSize)
    throw new ArtifactError(
      `the ${ref.kind} tokenizer has ${tokenizer.vocabSize} tokens, more than config ${config.name}'s vocabSize ${config.vocabSize}`,
    )
  return tokenizer
}

/** The tokenizer a backbone directory's manifest names, read and checked. */
export function loadTokenizer(dir: string): Tokenizer {
  const manifest = readManifest(dir)
  const ref = manifest.tokenizer ?? { kind: 'bytes' }
  if (ref.kind === 'bytes') return tokenizerFromRef(ref, manifest.config)
  let file: Uint8Array
  try {
    file = readFileSync(join(dir, tokenizerFile(ref.cid)))
  } catch (error) {
    throw new ArtifactError(`tokenizer ${ref.cid} missing in ${dir}: ${(error as Error).message}`)
  }
  return tokenizerFromRef(ref, manifest.config, file)
}

function configJson(config: ModelConfig): { [key: string]: JsonValue } {
  return { ...config }
}

export function encodeLayer(config: ModelConfig, index: number, layer: LayerWeights): Uint8Array {
  const tensors = new Map<string, Tensor>()
  for (const proj of projectionsOf(config)) {
    const m = matrixOf(layer, proj)
    tensors.set(`${proj}.w`, tensor('ternary', [m.rows, m.cols], m.w))
    tensors.set(`${proj}.gamma`, tensor('f32', [1], Float32Array.of(m.gamma)))
  }
  for (const norm of NORMS) tensors.set(norm, tensor('f32', [layer.norm[norm].length], layer.norm[norm]))
  return encodeBundle({ meta: { kind: 'r3mes-layer', layer: index, config: configJson(config) }, tensors })
}

function take(bundle: Bundle, name: string, dtype: Tensor['dtype'], shape: readonly number[]): Tensor {
  const t = bundle.tensors.get(name)
  if (t === undefined) throw new ArtifactError(`artifact lacks tensor '${name}'`)
  if (t.dtype !== dtype || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new ArtifactError(`tensor '${name}' is ${t.dtype}[${t.shape}], expected ${dtype}[${shape}]`)
  }
  if (t.dtype === 'f32') assertFinite(`tensor '${name}'`, t.data as Float32Array)
  return t
}

export function decodeLayer(config: ModelConfig, index: number, bytes: Uint8Array): LayerWeights {
  const bundle = decodeBundle(bytes)
  if (bundle.meta.kind !== 'r3mes-layer' || bundle.meta.layer !== index) {
    throw new ArtifactError(
      `expected the bundle of layer ${index}, got ${JSON.stringify(bundle.meta.kind)} ${bundle.meta.layer}`,
    )
  }
  const proj = {} as LayerProjections
  for (const name of projectionsOf(config)) {
    const [rows, cols] = projectionShape(config, name)
    const w = take(bundle, `${name}.w`, 'ternary', [rows, cols]).data as Int8Array
    const gamma = (take(bundle, `${name}.gamma`, 'f32', [1]).data as Float32Array)[0] as number
    if (!(gamma > 0)) throw new ArtifactError(`layer ${index} ${name}.gamma must be positive`)
    proj[name] = { rows, cols, w, gamma }
  }
  const norm = {} as Record<NormName, Float32Array>
  for (const name of NORMS) norm[name] = take(bundle, name, 'f32', [normWidth(config, name)]).data as Float32Array
  return { proj, norm }
}

function writeAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.tmp`
  writeFileSync(tmp, bytes)
  renameSync(tmp, path)
}

function readFileChecked(dir: string, cid: string): Uint8Array {
  let bytes: Uint8Array
  try {
    bytes = readFileSync(join(dir, `${cid}.r3b`))
  } catch (error) {
    throw new ArtifactError(`artifact ${cid} missing in ${dir}: ${(error as Error).message}`)
  }
  verifyCid(cid, bytes)
  return bytes
}

/** Write a full backbone (all layers, embedding, head) as CID-named files plus a manifest. */
export function saveBackbone(
  dir: string,
  stage: StageWeights,
  provenance: { [key: string]: JsonValue } = {},
  tokenizer: Tokenizer = bytesTokenizer,
): BackboneManifest {
  const c = stage.config
  if (stage.first !== 0 || stage.end !== c.nLayers || !stage.embedding || !stage.head || !stage.finalNorm) {
    throw new ArtifactError('saveBackbone needs the whole model')
  }
  mkdirSync(dir, { recursive: true })
  const put = (bytes: Uint8Array): string => {
    const cid = cidOf(bytes).toString()
    writeAtomic(join(dir, `${cid}.r3b`), bytes)
    return cid
  }
  const layers = stage.layers.map((layer, i) => put(encodeLayer(c, i, layer)))
  const V = c.vocabSize
  const d = c.dModel
  const embedding = put(
    encodeBundle({
      meta: { kind: 'r3mes-embedding' },
      tensors: new Map([['embedding', tensor('f32', [V, d], stage.embedding)]]),
    }),
  )
  const head = put(
    encodeBundle({
      meta: { kind: 'r3mes-head' },
      tensors: new Map([
        ['finalNorm', tensor('f32', [d], stage.finalNorm)],
        ['head', tensor('f32', [V, d], stage.head)],
      ]),
    }),
  )
  let tokenizerRef: TokenizerRef | undefined
  if (tokenizer instanceof BpeTokenizer) {
    const cid = cidOf(tokenizer.file).toString()
    writeAtomic(join(dir, tokenizerFile(cid)), tokenizer.file)
    tokenizerRef = { kind: 'bpe', cid }
  } else if (tokenizer.kind !== 'bytes') throw new ArtifactError(`cannot save a ${tokenizer.kind} tokenizer`)
  if (tokenizer.vocabSize > c.vocabSize)
    throw new ArtifactError(`the tokenizer has ${tokenizer.vocabSize} tokens, config.vocabSize is ${c.vocabSize}`)
  // Byte tokens are named by leaving the field out, so byte-level manifests keep their bytes.
  const manifest: BackboneManifest = {
    kind: 'r3mes-backbone',
    config: c,
    layers,
    embedding,
    head,
    provenance,
    ...(tokenizerRef === undefined ? {} : { tokenizer: tokenizerRef }),
  }
  writeAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`)
  return manifest
}

export function readManifest(dir: string): BackboneManifest {
  let manifest: BackboneManifest
  try {
    manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'))
  } catch (error) {
    throw new ArtifactError(`cannot read backbone manifest in ${dir}: ${(error as Error).message}`)
  }
  if (manifest.kind !== 'r3mes-backbone' || !Array.isArray(manifest.layers)) {
    throw new ArtifactError(`${join(dir, MANIFEST_FILE)} is not a backbone manifest`)
  }
  validateModelConfig(manifest.config)
  if (manifest.tokenizer !== undefined) checkTokenizerRef(manifest.tokenizer, join(dir, MANIFEST_FILE))
  if (manifest.layers.length !== manifest.config.nLayers) {
    throw new ArtifactError(`manifest lists ${manifest.layers.length} layers, config has ${manifest.config.nLayers}`)
  }
  return manifest
}

/** Load layers [first, end) (and the ends they own), checking each file against its CID. */
export function loadBackbone(dir: string, first = 0, end?: number): { stage: StageWeights; bytesRead: number } {
  const manifest = readManifest(dir)
  const c = manifest.config
  const last = end ?? c.nLayers
  if (!(0 <= first && first < last && last <= c.nLayers))
    throw new ArtifactError(`invalid layer range [${first}, ${last})`)
  let bytesRead = 0
  const read = (cid: string): Uint8Array => {
    const bytes = readFileChecked(dir, cid)
    bytesRead += bytes.length
    return bytes
  }
  const layers = manifest.layers.slice(first, last).map(read)
  const embedding = first === 0 ? read(manifest.embedding) : undefined
  const head = last === c.nLayers ? read(manifest.head) : undefined
  return { stage: stageFromBundles(c, first, last, layers, embedding, head), bytesRead }
}

/**
 * A stage's weights from its bundles: layers [first, end) in order, the embedding bundle when
 * first = 0 and the head bundle when end = nLayers (wherever the bytes came from: disk or peers).
 */
export function stageFromBundles(
  c: ModelConfig,
  first: number,
  end: number,
  layerBundles: readonly Uint8Array[],
  embeddingBundle?: Uint8Array,
  headBundle?: Uint8Array,
): StageWeights {
  if (layerBundles.length !== end - first)
    throw new ArtifactError(`stage [${first}, ${end}) needs ${end - first} layer bundles, got ${layerBundles.length}`)
  const layers = layerBundles.map((bytes, i) => decodeLayer(c, first + i, bytes))
  const stage: { -readonly [K in keyof StageWeights]: StageWeights[K] } = { config: c, first, end, layers }
  if (first === 0) {
    if (embeddingBundle === undefined) throw new ArtifactError('the first stage needs the embedding bundle')
    stage.embedding = take(decodeBundle(embeddingBundle), 'embedding', 'f32', [c.vocabSize, c.dModel])
      .data as Float32Array
  }
  if (end === c.nLayers) {
    if (headBundle === undefined) throw new ArtifactError('the last stage needs the head bundle')
    const bundle = decodeBundle(headBundle)
    stage.finalNorm = take(bundle, 'finalNorm', 'f32', [c.dModel]).data as Float32Array
    stage.head = take(bundle, 'head', 'f32', [c.vocabSize, c.dModel]).data as Float32Array
  }
  return stage
}

/** Named float tensors (adapters, gradients, optimizer moments) as one bundle. */
export function encodeParams(kind: string, params: Params, meta: { [key: string]: JsonValue } = {}): Uint8Array {
  const tensors = new Map<string, Tensor>()
  for (const [name, value] of params) tensors.set(name, tensor('f32', [value.length], value))
  return encodeBundle({ meta: { ...meta, kind }, tensors })
}

export function decodeParams(kind: string, bytes: Uint8Array): { params: Params; meta: { [key: string]: JsonValue } } {
  const bundle = decodeBundle(bytes)
  if (bundle.meta.kind !== kind)
    throw new ArtifactError(`expected a '${kind}' bundle, got '${String(bundle.meta.kind)}'`)
  const params: Params = new Map()
  for (const [name, t] of bundle.tensors) {
    if (t.dtype !== 'f32' || t.shape.length !== 1) throw new ArtifactError(`'${name}' must be a flat f32 tensor`)
    assertFinite(`tensor '${name}'`, t.data as Float32Array)
    params.set(name, t.data as Float32Array)
  }
  return { params, meta: bundle.meta }
}
