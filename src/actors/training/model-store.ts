/**
 * The backbone and adapter states in the content store. The genesis names one CID per subnet
 * layer range: a range manifest (canonical JSON) listing the CIDs of that range's layer
 * bundles, and the embedding and head bundles where the range owns them. A miner fetches its
 * range's manifest and bundles only, never the whole model: the bytes it counts are the
 * sharding saving. A model with a BPE tokenizer names its tokenizer.json by CID in every range
 * manifest, so the genesis commits to it and any node can fetch it.
 */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { canonicalJson } from '../../codec/canonical-json.ts'
import { cidOf } from '../../codec/cid.ts'
import {
  type BackboneManifest,
  readManifest,
  stageFromBundles,
  type TokenizerRef,
  tokenizerFile,
  tokenizerFromRef,
} from '../../ml/artifacts.ts'
import type { ModelConfig } from '../../ml/config.ts'
import type { Tokenizer } from '../../ml/tokenizer/tokenizer.ts'
import type { StageWeights } from '../../ml/weights.ts'
import type { ContentStore } from '../../net/content-store.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'

export interface RangeManifest {
  readonly kind: 'r3mes-backbone-range'
  readonly config: ModelConfig
  readonly first: number
  readonly end: number
  readonly layers: readonly string[]
  readonly embedding: string | null
  readonly head: string | null
  /** Absent for byte tokens (so byte-level ranges keep the CIDs they had before tokenizers). */
  readonly tokenizer?: TokenizerRef
}

export function rangeManifest(m: BackboneManifest, first: number, end: number): RangeManifest {
  if (!(0 <= first && first < end && end <= m.config.nLayers))
    throw new InvalidArgumentError(`layer range [${first}, ${end}) does not fit ${m.config.nLayers} layers`)
  return {
    kind: 'r3mes-backbone-range',
    config: m.config,
    first,
    end,
    layers: m.layers.slice(first, end),
    embedding: first === 0 ? m.embedding : null,
    head: end === m.config.nLayers ? m.head : null,
    ...(m.tokenizer === undefined || m.tokenizer.kind === 'bytes' ? {} : { tokenizer: m.tokenizer }),
  }
}

export function encodeRangeManifest(r: RangeManifest): Uint8Array {
  return new TextEncoder().encode(canonicalJson({ ...r, config: { ...r.config }, layers: [...r.layers] }))
}

/** The CID of each range's manifest, as the genesis names them (computed offline). */
export function backboneRangeCids(dir: string, ranges: readonly (readonly [number, number])[]): string[] {
  const m = readManifest(dir)
  return ranges.map(([first, end]) => cidOf(encodeRangeManifest(rangeManifest(m, first, end))).toString())
}

/** Put every artifact of the backbone in `dir`, and the manifests of `ranges`, into the store. */
export async function publishBackbone(
  content: ContentStore,
  dir: string,
  ranges: readonly (readonly [number, number])[],
): Promise<string[]> {
  const m = readManifest(dir)
  const files = [...m.layers, m.embedding, m.head].map((cid) => ({ cid, file: `${cid}.r3b` }))
  if (m.tokenizer?.kind === 'bpe') files.push({ cid: m.tokenizer.cid, file: tokenizerFile(m.tokenizer.cid) })
  for (const { cid, file } of files) {
    const stored = await content.put(readFileSync(join(dir, file)))
    // Bundles under one chunk are stored as raw blocks, so the store's CID is the file's.
    if (stored.toString() !== cid)
      throw new InvalidArgumentError(`artifact ${cid} in ${dir} is stored as ${stored}: not a single-block bundle`)
  }
  const out: string[] = []
  for (const [first, end] of ranges)
    out.push((await content.put(encodeRangeManifest(rangeManifest(m, first, end)))).toString())
  return out
}

export interface FetchedStage {
  readonly stage: StageWeights
  /** Bytes of manifest and bundles this stage needed. */
  readonly bytes: number
}

/** Fetch one range's weights from the store (local blocks or peers), checked against their CIDs. */
/** Bytes by CID: `rangeCid` names the range the bytes belong to (its holders hold them too). */
export type FetchPiece = (cid: string, options: { signal?: AbortSignal; rangeCid: string }) => Promise<Uint8Array>

export async function fetchStage(
  fetchPiece: FetchPiece,
  rangeCid: string,
  signal?: AbortSignal,
): Promise<FetchedStage> {
  const get = (cid: string): Promise<Uint8Array> => fetchPiece(cid, { signal, rangeCid })
  const manifestBytes = await get(rangeCid)
  let r: RangeManifest
  try {
    r = JSON.parse(new TextDecoder().decode(manifestBytes)) as RangeManifest
  } catch {
    throw new InvalidArgumentError(`backbone range ${rangeCid} is not JSON`)
  }
  if (r?.kind !== 'r3mes-backbone-range' || !Array.isArray(r.layers))
    throw new InvalidArgumentError(`${rangeCid} is not a backbone range manifest`)
  let bytes = manifestBytes.length
  const fetchOne = async (cid: string): Promise<Uint8Array> => {
    const b = await get(cid)
    bytes += b.length
    return b
  }
  const layers: Uint8Array[] = []
  for (const cid of r.layers) layers.push(await fetchOne(cid))
  const embedding = r.embedding === null ? undefined : await fetchOne(r.embedding)
  const head = r.head === null ? undefined : await fetchOne(r.head)
  return { stage: stageFromBundles(r.config, r.first, r.end, layers, embedding, head), bytes }
}

/**
 * The tokenizer a genesis model uses: the one its first range manifest names (byte tokens when
 * it names none), fetched by CID and checked like every other piece of the model.
 */
export async function fetchTokenizer(
  fetchPiece: FetchPiece,
  rangeCid: string,
  signal?: AbortSignal,
): Promise<Tokenizer> {
  const manifestBytes = await fetchPiece(rangeCid, { signal, rangeCid })
  let r: RangeManifest
  try {
    r = JSON.parse(new TextDecoder().decode(manifestBytes)) as RangeManifest
  } catch {
    throw new InvalidArgumentError(`backbone range ${rangeCid} is not JSON`)
  }
  if (r?.kind !== 'r3mes-backbone-range') throw new InvalidArgumentError(`${rangeCid} is not a backbone range manifest`)
  const ref = r.tokenizer ?? { kind: 'bytes' }
  if (ref.kind === 'bytes') return tokenizerFromRef(ref, r.config)
  if (ref.kind !== 'bpe' || typeof ref.cid !== 'string')
    throw new InvalidArgumentError(`backbone range ${rangeCid} names an unknown tokenizer ${JSON.stringify(ref)}`)
  const file = await fetchPiece(ref.cid, { signal, rangeCid })
  return tokenizerFromRef(ref, r.config, file)
}

/** Bytes of the whole backbone (every bundle), for the sharding comparison. */
export function fullBackboneBytes(dir: string): number {
  const m = readManifest(dir)
  return [...m.layers, m.embedding, m.head].reduce((n, cid) => n + readFileSync(join(dir, `${cid}.r3b`)).length, 0)
}
