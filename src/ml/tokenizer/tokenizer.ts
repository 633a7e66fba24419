/**
 * What turns text into the token ids a model reads and back. Every tokenizer here works on
 * bytes (UTF-8 text): a token id stands for a fixed byte string, so the bytes of a sequence of
 * ids are the concatenation of each id's bytes, and generation can hand out bytes token by token.
 */

export type TokenizerKind = 'bytes' | 'bpe'

export interface Tokenizer {
  readonly kind: TokenizerKind
  /** Ids are 0 ≤ id < vocabSize. */
  readonly vocabSize: number
  /** The token ids of `text` (a string, or UTF-8 bytes). */
  encode(text: string | Uint8Array): Int32Array
  /** The bytes token `id` stands for. */
  tokenBytes(id: number): Uint8Array
  /** The bytes of a sequence of ids: the concatenation of each id's bytes. */
  decode(ids: ArrayLike<number>): Uint8Array
}

/**
 * The bytes of every id, for generation (plain data: it crosses to a generation worker);
 * undefined for byte tokens, whose id is their byte.
 */
export function tokenPiecesOf(tokenizer: Tokenizer): Uint8Array[] | undefined {
  if (tokenizer.kind === 'bytes') return undefined
  return Array.from({ length: tokenizer.vocabSize }, (_, id) => tokenizer.tokenBytes(id))
}
