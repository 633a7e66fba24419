/** The identity tokenizer: one token per byte, vocabulary 256 (the `micro` and `tiny` models). */
import { MlConfigError } from '../errors.ts'
import type { Tokenizer } from './tokenizer.ts'

const single = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b))

export const bytesTokenizer: Tokenizer = {
  kind: 'bytes',
  vocabSize: 256,
  encode(text) {
    return Int32Array.from(typeof text === 'string' ? Buffer.from(text, 'utf8') : text)
  },
  tokenBytes(id) {
    const bytes = single[id]
    if (bytes === undefined) throw new MlConfigError(`token id ${id} is not a byte (0..255)`)
    return bytes
  },
  decode(ids) {
    const out = new Uint8Array(ids.length)
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number
      if (!(Number.isInteger(id) && id >= 0 && id < 256))
        throw new MlConfigError(`token id ${id} is not a byte (0..255)`)
      out[i] = id
    }
    return out
  },
}
