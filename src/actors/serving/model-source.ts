/**
 * Where the serving role gets its model. `current()` hands out the model to use for a new
 * request; a request keeps the object it was given, so when the model pointer moves and the
 * source swaps in a new model, requests already running finish on the old one and the next
 * request uses the new one.
 *
 * The node implements the source from the chain's model pointer and the content store; this
 * file provides the swap itself and a loader from a local backbone folder plus an optional
 * adapters file (`r3mes serve`).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cidOf } from '../../codec/cid.ts'
import { decodeParams, loadBackbone, loadTokenizer, MANIFEST_FILE } from '../../ml/artifacts.ts'
import { defaultLora, type LoraConfig } from '../../ml/config.ts'
import { ArtifactError } from '../../ml/errors.ts'
import type { GenerationModel } from '../../ml/generate.ts'
import type { Kernels } from '../../ml/kernels/contract.ts'
import { type Tokenizer, tokenPiecesOf } from '../../ml/tokenizer/tokenizer.ts'
import { loraNames, type Params, projectionShape, projectionsOf, type StageWeights } from '../../ml/weights.ts'

/** A loaded model: the whole backbone and its adapters, named by what identifies it on the network. */
export interface ServedModel extends GenerationModel {
  /** The model's identifier, e.g. the model pointer or the adapters' CID; reported as `model`. */
  readonly id: string
  /** Encodes prompts; its pieces are the model's `tokenPieces`. @default byte tokens */
  readonly tokenizer?: Tokenizer
}

export interface ModelSource {
  /** The model for a new request; undefined while none is loaded yet. */
  current(): ServedModel | undefined
}

/** `model` encoding prompts with `tokenizer` and handing out its tokens' bytes. */
export function withTokenizer<M extends GenerationModel>(model: M, tokenizer: Tokenizer): M & { tokenizer: Tokenizer } {
  const tokenPieces = tokenPiecesOf(tokenizer)
  return { ...model, tokenizer, ...(tokenPieces === undefined ? {} : { tokenPieces }) }
}

/** A source whose model is replaced as a whole when the model pointer moves. */
export class SwappableModelSource implements ModelSource {
  #model: ServedModel | undefined

  constructor(initial?: ServedModel) {
    this.#model = initial
  }

  current(): ServedModel | undefined {
    return this.#model
  }

  /** Use `model` for every request from now on; requests in flight keep the one they have. */
  swap(model: ServedModel): void {
    this.#model = model
  }
}

/** Zero adapters of the right shapes: the backbone alone (B = 0 makes LoRA add nothing). */
export function zeroAdapters(backbone: StageWeights, lora: LoraConfig): Params {
  const params: Params = new Map()
  for (let li = backbone.first; li < backbone.end; li++) {
    for (const proj of projectionsOf(backbone.config)) {
      const [rows, cols] = projectionShape(backbone.config, proj)
      const names = loraNames(li, proj)
      params.set(names.a, new Float32Array(lora.rank * cols))
      params.set(names.b, new Float32Array(rows * lora.rank))
    }
  }
  return params
}

/** Check that `adapters` hold every adapter of the backbone at the right size, and nothing else. */
export function checkAdapters(backbone: StageWeights, adapters: Params, lora: LoraConfig, what: string): void {
  const expected = zeroAdapters(backbone, lora)
  for (const [name, zero] of expected) {
    const value = adapters.get(name)
    if (value === undefined) throw new ArtifactError(`${what} lacks adapter '${name}'`)
    if (value.length !== zero.length) {
      throw new ArtifactError(
        `${what}: adapter '${name}' has ${value.length} values, the backbone needs ${zero.length}`,
      )
    }
  }
  for (const name of adapters.keys()) {
    if (!expected.has(name)) throw new ArtifactError(`${what} holds '${name}', which the backbone has no place for`)
  }
}

function loraOf(meta: { [key: string]: unknown }, what: string): LoraConfig {
  const rank = meta.rank ?? defaultLora.rank
  const alpha = meta.alpha ?? defaultLora.alpha
  if (!(Number.isInteger(rank) && (rank as number) > 0) || !(typeof alpha === 'number' && alpha > 0)) {
    throw new ArtifactError(`${what} has an invalid LoRA rank or alpha (${String(rank)}, ${String(alpha)})`)
  }
  return { rank: rank as number, alpha }
}

export interface AdapterBytesInit {
  /** The whole backbone, already loaded (it does not change when the model pointer moves). */
  readonly backbone: StageWeights
  /** An adapters bundle as stored (`r3mes-adapters`), e.g. fetched by CID from the content store. */
  readonly adapters: Uint8Array
  readonly kernels: Kernels
  /** The model's id. @default the adapters' CID */
  readonly id?: string
  /** How errors name the bundle. @default 'adapters bundle' */
  readonly what?: string
}

/** A model from a loaded backbone and the bytes of an adapters bundle, checked against each other. */
export function modelFromAdapterBytes(init: AdapterBytesInit): ServedModel {
  const what = init.what ?? 'adapters bundle'
  const { params, meta } = decodeParams('r3mes-adapters', init.adapters)
  const lora = loraOf(meta, what)
  checkAdapters(init.backbone, params, lora, what)
  const id = init.id ?? cidOf(init.adapters).toString()
  return { id, kernels: init.kernels, backbone: init.backbone, adapters: params, lora }
}

export interface LocalModelInit {
  /** Folder of the backbone artifact (manifest + CID-named files), e.g. models/tiny. */
  readonly backboneDir: string
  /** An adapters bundle (`r3mes ml finetune --out FILE`); the backbone alone without it. */
  readonly adaptersFile?: string
  readonly kernels: Kernels
}

/**
 * Load a whole model from disk. Its id is the adapters' CID when there are adapters, otherwise
 * the CID of the backbone manifest.
 */
export function loadLocalModel(init: LocalModelInit): ServedModel {
  const { stage: backbone } = loadBackbone(init.backboneDir)
  const tokenizer = loadTokenizer(init.backboneDir)
  if (init.adaptersFile === undefined) {
    // loadBackbone has read and checked the manifest; its bytes name the backbone.
    const id = cidOf(readFileSync(join(init.backboneDir, MANIFEST_FILE))).toString()
    const model = {
      id,
      kernels: init.kernels,
      backbone,
      adapters: zeroAdapters(backbone, defaultLora),
      lora: defaultLora,
    }
    return withTokenizer(model, tokenizer)
  }
  let bytes: Uint8Array
  try {
    bytes = readFileSync(init.adaptersFile)
  } catch (error) {
    throw new ArtifactError(`cannot read adapters file ${init.adaptersFile}: ${(error as Error).message}`)
  }
  return withTokenizer(
    modelFromAdapterBytes({ backbone, adapters: bytes, kernels: init.kernels, what: init.adaptersFile }),
    tokenizer,
  )
}
