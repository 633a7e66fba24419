/**
 * Training a byte-level BPE vocabulary (Sennrich et al.; GPT-2's byte-level variant). No
 * well-kept JavaScript library trains one (`@huggingface/tokenizers` only encodes and decodes,
 * and the Rust `tokenizers` trainer is not deterministic across thread counts), so it is written
 * here; splitting the text into words uses that library's own ByteLevel pre-tokenizer, so the
 * words merges are learned on are the words encoding later sees.
 *
 * Start from the 256 bytes (ids 0..255 in byte order). Repeatedly merge the adjacent pair of
 * symbols that occurs most often (counted over every word, weighted by the word's count) into
 * a new symbol, until the vocabulary holds `vocabSize` tokens or no pair occurs twice. Ties go
 * to the pair with the lowest left id, then the lowest right id (older symbols first), so the
 * result is a pure function of the text and the size.
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers'
import { MlConfigError } from '../errors.ts'
import { BpeTokenizer } from './bpe.ts'
import { BYTE_CHARS } from './byte-level.ts'
import { byteVocab, writeTokenizerJson } from './tokenizer-json.ts'

/** Largest vocabulary the trainer makes (pair keys pack two ids below 2^16 into one number). */
export const MAX_TRAINED_VOCAB = 65_536

const pairKey = (a: number, b: number): number => a * 65_536 + b

/** Words of `texts` as the ByteLevel pre-tokenizer splits them, with their counts, in first-seen order. */
function countWords(texts: readonly string[]): Map<string, number> {
  const splitter = new HfTokenizer(JSON.parse(writeTokenizerJson(byteVocab(), [])), {})
  const pre = splitter.pre_tokenizer
  if (pre === null) throw new MlConfigError('the byte-level pre-tokenizer did not load')
  const counts = new Map<string, number>()
  for (const text of texts) {
    for (const word of pre.pre_tokenize_text(text)) counts.set(word, (counts.get(word) ?? 0) + 1)
  }
  return counts
}

/** A max-heap of (count, left, right) with lazy deletion: stale entries are skipped when popped. */
class PairHeap {
  readonly #items: number[][] = []

  static #before(x: number[], y: number[]): boolean {
    return (
      (x[0] as number) > (y[0] as number) ||
      (x[0] === y[0] && ((x[1] as number) < (y[1] as number) || (x[1] === y[1] && (x[2] as number) < (y[2] as number))))
    )
  }

  push(count: number, a: number, b: number): void {
    const items = this.#items
    items.push([count, a, b])
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!PairHeap.#before(items[i] as number[], items[parent] as number[])) break
      ;[items[i], items[parent]] = [items[parent] as number[], items[i] as number[]]
      i = parent
    }
  }

  pop(): number[] | undefined {
    const items = this.#items
    const top = items[0]
    const last = items.pop()
    if (items.length > 0 && last !== undefined) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let best = i
        if (l < items.length && PairHeap.#before(items[l] as number[], items[best] as number[])) best = l
        if (r < items.length && PairHeap.#before(items[r] as number[], items[best] as number[])) best = r
        if (best === i) break
        ;[items[i], items[best]] = [items[best] as number[], items[i] as number[]]
        i = best
      }
    }
    return top
  }
}

export interface TrainedBpe {
  /** vocab[id] is id's token string (byte-level characters). */
  readonly vocab: readonly string[]
  /** Merges in the order they were learned (= rank). */
  readonly merges: readonly (readonly [string, string])[]
}

/** Learn merges on `texts` until the vocabulary holds `vocabSize` tokens (fewer if no pair repeats). */
export function trainBpe(texts: readonly string[], vocabSize: number): TrainedBpe {
  if (!(Number.isInteger(vocabSize) && vocabSize >= 256 && vocabSize <= MAX_TRAINED_VOCAB))
    throw new MlConfigError(`vocabSize must be an integer in [256, ${MAX_TRAINED_VOCAB}], got ${vocabSize}`)
  const vocab = byteVocab()
  const idOf = new Map(vocab.map((t, id) => [t, id]))
  const byteId = new Map(BYTE_CHARS.map((c, b) => [c, b]))
  const counted = countWords(texts)
  const words: number[][] = []
  const weights: number[] = []
  for (const [word, count] of counted) {
    words.push(Array.from(word, (c) => byteId.get(c) as number))
    weights.push(count)
  }
  const pairCount = new Map<number, number>()
  const pairWords = new Map<number, Set<number>>()
  const heap = new PairHeap()
  const addPairs = (w: number, sign: 1 | -1, changed: Set<number>): void => {
    const symbols = words[w] as number[]
    const weight = weights[w] as number
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = pairKey(symbols[i] as number, symbols[i + 1] as number)
      pairCount.set(key, (pairCount.get(key) ?? 0) + sign * weight)
      if (sign > 0) {
        const set = pairWords.get(key)
        if (set === undefined) pairWords.set(key, new Set([w]))
        else set.add(w)
      }
      changed.add(key)
    }
  }
  const pushChanged = (changed: Set<number>): void => {
    for (const key of changed) {
      const count = pairCount.get(key) ?? 0
      if (count > 0) heap.push(count, Math.floor(key / 65_536), key % 65_536)
      else pairCount.delete(key)
    }
  }
  const initial = new Set<number>()
  for (let w = 0; w < words.length; w++) addPairs(w, 1, initial)
  pushChanged(initial)

  const merges: [string, string][] = []
  while (vocab.length < vocabSize) {
    const top = heap.pop()
    if (top === undefined) break
    const [count, a, b] = top as [number, number, number]
    const key = pairKey(a, b)
    if (pairCount.get(key) !== count) continue // stale: the pair's count changed since
    if (count < 2) break
    const left = vocab[a] as string
    const right = vocab[b] as string
    const token = left + right
    // Two merge paths can spell the same string ("a"+"bc", "ab"+"c"): one id serves both.
    let merged = idOf.get(token)
    if (merged === undefined) {
      merged = vocab.length
      vocab.push(token)
      idOf.set(token, merged)
    }
    merges.push([left, right])
    const changed = new Set<number>()
    for (const w of pairWords.get(key) ?? []) {
      const symbols = words[w] as number[]
      let present = false
      for (let i = 0; i + 1 < symbols.length && !present; i++) present = symbols[i] === a && symbols[i + 1] === b
      if (!present) continue
      addPairs(w, -1, changed)
      const next: number[] = []
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          next.push(merged)
          i++
        } else next.push(symbols[i] as number)
      }
      words[w] = next
      addPairs(w, 1, changed)
    }
    pairWords.delete(key)
    pushChanged(changed)
  }
  return { vocab, merges }
}

/** Train on `texts` and load the result as a tokenizer (through its tokenizer.json). */
export function trainBpeTokenizer(texts: readonly string[], vocabSize: number): BpeTokenizer {
  const { vocab, merges } = trainBpe(texts, vocabSize)
  return new BpeTokenizer(writeTokenizerJson(vocab, merges))
}
