/**
 * The tokenizer a model configuration is made with when no published one is given: byte tokens
 * for a 256-token vocabulary, otherwise a byte-level BPE of `vocabSize` tokens trained on the
 * pretraining split's training documents (Brown non-fiction, never the held-out ones). Training
 * is deterministic, so every run (a resumed pretraining, a testnet's seeded model) makes the
 * same tokenizer.json.
 */
import type { ModelConfig } from '../config.ts'
import { loadBrown, NON_FICTION_GENRES } from '../data/brown.ts'
import { splitDocuments, type TextDocument } from '../data/dataset.ts'
import { trainBpeTokenizer } from './bpe-train.ts'
import { bytesTokenizer } from './bytes.ts'
import type { Tokenizer } from './tokenizer.ts'

export function tokenizerForConfig(
  config: ModelConfig,
  trainDocs: readonly TextDocument[] = splitDocuments('pretrain', loadBrown(NON_FICTION_GENRES)).train,
): Tokenizer {
  if (config.vocabSize === 256) return bytesTokenizer
  return trainBpeTokenizer(
    trainDocs.map((d) => Buffer.from(d.text).toString('utf8')),
    config.vocabSize,
  )
}
