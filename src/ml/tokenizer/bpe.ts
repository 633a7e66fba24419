/**
 * A byte-level BPE tokenizer read from a Hugging Face tokenizer.json. Encoding runs
 * `@huggingface/tokenizers` (the Hugging Face tokenizers in plain TypeScript: the same
 * pre-tokenizer regex and merge order as the Rust library a published file was made with);
 * decoding is the concatenation of each id's bytes, which for byte-level BPE is exact, so
 * decode(encode(text)) gives back the text's bytes.
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers'
import { ArtifactError, MlConfigError } from '../errors.ts'
import { byteLevelBytes } from './byte-level.ts'
import type { Tokenizer } from './tokenizer.ts'
import { parseTokenizerJson } from './tokenizer-json.ts'

const utf8 = new TextDecoder('utf-8', { fatal: true })

export class BpeTokenizer implements Tokenizer {
  readonly kind = 'bpe' as const
  readonly vocabSize: number
  /** The tokenizer.json it was read from, byte for byte (what a manifest names by CID). */
  readonly file: Uint8Array
  /** pieces[id]: the bytes of id (empty for an id the file leaves unassigned). */
  readonly pieces: readonly Uint8Array[]
  readonly #hf: HfTokenizer

  constructor(file: string | Uint8Array, where = 'tokenizer.json') {
    this.file = typeof file === 'string' ? new Uint8Array(Buffer.from(file, 'utf8')) : Uint8Array.from(file)
    const parsed = parseTokenizerJson(this.file, where)
    this.vocabSize = parsed.tokens.length
    this.pieces = parsed.tokens.map((token, id) => {
      if (token === undefined) return new Uint8Array(0)
      if (parsed.added.has(id)) return new Uint8Array(Buffer.from(token, 'utf8'))
      const bytes = byteLevelBytes(token)
      if (bytes === undefined)
        throw new ArtifactError(`${where}: token '${token}' (id ${id}) has characters outside the byte-level alphabet`)
      return bytes
    })
    try {
      this.#hf = new HfTokenizer(parsed.json, {})
    } catch (error) {
      throw new ArtifactError(`${where} cannot be loaded: ${(error as Error).message}`)
    }
  }

  encode(text: string | Uint8Array): Int32Array {
    let str: string
    if (typeof text === 'string') str = text
    else {
      try {
        str = utf8.decode(text)
      } catch {
        throw new MlConfigError('text to tokenize is not valid UTF-8')
      }
    }
    // Text of any length: the library splits it into words first, so its cost is linear.
    return Int32Array.from(this.#hf.encode(str, { add_special_tokens: false }).ids)
  }

  tokenBytes(id: number): Uint8Array {
    const piece = this.pieces[id]
    if (piece === undefined) throw new MlConfigError(`token id ${id} is outside the vocabulary of ${this.vocabSize}`)
    return piece
  }

  decode(ids: ArrayLike<number>): Uint8Array {
    const parts: Uint8Array[] = []
    for (let i = 0; i < ids.length; i++) parts.push(this.tokenBytes(ids[i] as number))
    return new Uint8Array(Buffer.concat(parts))
  }
}
