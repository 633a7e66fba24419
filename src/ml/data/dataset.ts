/**
 * Data sets as documents of bytes, split deterministically into training and held-out
 * documents; once tokenized (src/ml/tokenizer) the token-id streams are sampled by a counter-based PRNG so that every node draws the same batch for the
 * same (seed, step), and evaluated on a fixed set of held-out windows.
 */
import { readFileSync } from 'node:fs'
import { cidOf } from '../../codec/cid.ts'
import { type PhiloxKey, PhiloxStream } from '../../codec/prng.ts'
import { MlConfigError } from '../errors.ts'

export interface TextDocument {
  readonly id: string
  readonly text: Uint8Array
}

export interface Dataset {
  readonly name: string
  readonly train: readonly TextDocument[]
  readonly heldOut: readonly TextDocument[]
  /** Training bytes, documents joined by a newline: the stream batches are drawn from. */
  readonly trainBytes: Uint8Array
  readonly heldOutBytes: Uint8Array
}

/** Every `holdOutEvery`-th document (counting from the last of each block) is held out. */
export function splitDocuments(name: string, docs: readonly TextDocument[], holdOutEvery = 10): Dataset {
  if (docs.length < 2) throw new MlConfigError(`data set '${name}' needs at least two documents, has ${docs.length}`)
  const train = docs.filter((_, i) => i % holdOutEvery !== holdOutEvery - 1)
  let heldOut = docs.filter((_, i) => i % holdOutEvery === holdOutEvery - 1)
  if (heldOut.length === 0) heldOut = [docs[docs.length - 1] as TextDocument]
  const join = (list: readonly TextDocument[]): Uint8Array =>
    Buffer.concat(list.flatMap((d) => [Buffer.from(d.text), Buffer.from('\n')]))
  return { name, train, heldOut, trainBytes: join(train), heldOutBytes: join(heldOut) }
}

/** Plain text files named by the user, one document each. */
export function loadTextFiles(paths: readonly string[]): TextDocument[] {
  return paths.map((path) => {
    let text: Buffer
    try {
      text = readFileSync(path)
    } catch (error) {
      throw new MlConfigError(`cannot read data file '${path}': ${(error as Error).message}`)
    }
    if (text.length === 0) throw new MlConfigError(`data file '${path}' is empty`)
    return { id: path, text }
  })
}

/** The content identifier of a data set: the CID of its canonical bytes (ids and texts). */
export function datasetCid(docs: readonly TextDocument[]): string {
  const parts: Buffer[] = []
  for (const d of docs) {
    const id = Buffer.from(d.id, 'utf8')
    const head = Buffer.alloc(8)
    head.writeUInt32LE(id.length, 0)
    head.writeUInt32LE(d.text.length, 4)
    parts.push(head, id, Buffer.from(d.text))
  }
  return cidOf(Buffer.concat(parts)).toString()
}

export interface Batch {
  readonly sequences: number
  readonly tokens: number
  /** [sequences × tokens] input token ids. */
  readonly inputs: Int32Array
  /** [sequences × tokens] next token ids. */
  readonly targets: Int32Array
}

/**
 * Batch for `step`: sequence s starts at an offset drawn from Philox(key, counter (·, step, s)),
 * so any node can rebuild any batch from the key alone.
 */
export function sampleBatch(ids: Int32Array, key: PhiloxKey, step: number, sequences: number, tokens: number): Batch {
  if (ids.length < tokens + 1)
    throw new MlConfigError(`data holds ${ids.length} tokens, a sequence needs ${tokens + 1}`)
  const inputs = new Int32Array(sequences * tokens)
  const targets = new Int32Array(sequences * tokens)
  for (let s = 0; s < sequences; s++) {
    const start = new PhiloxStream(key, step, s, 7).nextInt(ids.length - tokens)
    inputs.set(ids.subarray(start, start + tokens), s * tokens)
    targets.set(ids.subarray(start + 1, start + tokens + 1), s * tokens)
  }
  return { sequences, tokens, inputs, targets }
}

/** Fixed evaluation batches: consecutive non-overlapping windows from the start, at most `maxTokens`. */
export function evalBatches(ids: Int32Array, tokens: number, sequences: number, maxTokens: number): Batch[] {
  const batches: Batch[] = []
  let offset = 0
  let used = 0
  while (used + sequences * tokens <= maxTokens && offset + sequences * tokens + 1 <= ids.length) {
    const inputs = new Int32Array(sequences * tokens)
    const targets = new Int32Array(sequences * tokens)
    for (let s = 0; s < sequences; s++) {
      inputs.set(ids.subarray(offset, offset + tokens), s * tokens)
      targets.set(ids.subarray(offset + 1, offset + tokens + 1), s * tokens)
      offset += tokens
    }
    batches.push({ sequences, tokens, inputs, targets })
    used += sequences * tokens
  }
  if (batches.length === 0) throw new MlConfigError('held-out data too short for one evaluation batch')
  return batches
}
