/**
 * A checkpoint's tokenizer.json (the Hugging Face `tokenizers` format), read with
 * @huggingface/tokenizers. One small file so that a project-wide tokenizer module can take
 * its place without touching the loader.
 */
import { readFileSync, statSync } from 'node:fs'
import { Tokenizer } from '@huggingface/tokenizers'
import { MAX_TOKENIZER_FILE_BYTES } from '../../runtime/limits.ts'
import { CheckpointError } from '../errors.ts'

export interface CheckpointTokenizer {
  /** Token ids of `text`, without special tokens added. */
  encode(text: string): number[]
  decode(ids: readonly number[]): string
}

export function loadCheckpointTokenizer(path: string): CheckpointTokenizer {
  let json: unknown
  try {
    const size = statSync(path).size
    if (size > MAX_TOKENIZER_FILE_BYTES) {
      throw new CheckpointError(`${path}: ${size} bytes, more than ${MAX_TOKENIZER_FILE_BYTES}`, { file: path })
    }
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    if (error instanceof CheckpointError) throw error
    throw new CheckpointError(`${path}: cannot read tokenizer: ${(error as Error).message}`, { file: path })
  }
  let tokenizer: Tokenizer
  try {
    tokenizer = new Tokenizer(json as object, {})
  } catch (error) {
    throw new CheckpointError(
      `${path}: not a tokenizer.json the tokenizer library reads: ${(error as Error).message}`,
      {
        file: path,
      },
    )
  }
  return {
    encode: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tokenizer.decode([...ids], { skip_special_tokens: true }),
  }
}
