/**
 * The tokenizer of the genesis model, which a node needs before it can turn the approved data
 * set into token ids. A byte-level configuration (vocabulary 256) reads bytes; any other names
 * its tokenizer.json by CID in its backbone range manifests, which the genesis names by CID, so
 * the tokenizer is part of what the genesis commits to. A node that seeds the model reads it
 * from its model folder (whose ranges it then checks against the genesis); any other fetches it.
 */
import { CID } from 'multiformats/cid'
import { loadTokenizer } from '../../ml/artifacts.ts'
import { getModelConfig } from '../../ml/config.ts'
import { bytesTokenizer } from '../../ml/tokenizer/bytes.ts'
import type { Tokenizer } from '../../ml/tokenizer/tokenizer.ts'
import { type Clock, deadlineSignal } from '../../runtime/clock.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { fetchTokenizer } from './model-store.ts'

/** How long a starting node waits for the tokenizer from its peers. */
const TOKENIZER_FETCH_MS = 120_000

export interface GenesisModel {
  readonly config: string
  readonly backbone: readonly { readonly layers: readonly number[]; readonly cid: string }[]
}

export async function genesisTokenizer(
  model: GenesisModel,
  modelDir: string | undefined,
  content: { get(cid: CID, options: { signal?: AbortSignal }): Promise<Uint8Array> },
  clock: Clock,
): Promise<Tokenizer> {
  const config = getModelConfig(model.config)
  if (modelDir !== undefined) return loadTokenizer(modelDir)
  if (config.vocabSize === 256) return bytesTokenizer
  const first = model.backbone.find((b) => b.layers[0] === 0)
  if (first === undefined) throw new InvalidArgumentError('the genesis names no backbone range starting at layer 0')
  const signal = deadlineSignal(clock, TOKENIZER_FETCH_MS, `fetching the tokenizer of model ${model.config}`)
  return fetchTokenizer(
    (cid, options) => content.get(CID.parse(cid), { signal: options.signal ?? signal }),
    first.cid,
    signal,
  )
}
