/**
 * The Hugging Face `tokenizer.json` format, as far as this project reads and writes it: a
 * byte-level BPE (model.type "BPE" with `vocab` and `merges`, a `ByteLevel` pre-tokenizer, alone
 * or in a `Sequence` as Llama 3 and BitNet b1.58 publish it, and a `ByteLevel` decoder), plus
 * added (special) tokens. A file is hostile until checked: its size and vocabulary are bounded,
 * and every way it can be malformed gets an error that names the field.
 */
import { z } from 'zod'
import { MAX_TOKENIZER_FILE_BYTES, MAX_TOKENIZER_VOCAB } from '../../runtime/limits.ts'
import { ArtifactError } from '../errors.ts'
import { BYTE_CHARS } from './byte-level.ts'

const typed = z.looseObject({ type: z.string() })
const byteLevelStep = z.looseObject({ type: z.literal('ByteLevel') })

const schema = z.looseObject({
  added_tokens: z
    .array(z.looseObject({ id: z.number().int().nonnegative(), content: z.string().min(1) }))
    .nullish()
    .transform((a) => a ?? []),
  normalizer: z.null({ error: 'must be null (a normalizer would change the text before byte-level BPE)' }),
  pre_tokenizer: z.union(
    [
      byteLevelStep,
      z.looseObject({
        type: z.literal('Sequence'),
        pretokenizers: z.array(typed).refine((steps) => steps.some((s) => s.type === 'ByteLevel'), {
          error: 'a Sequence pre-tokenizer needs a ByteLevel step',
        }),
      }),
    ],
    { error: 'must be ByteLevel, or a Sequence with a ByteLevel step' },
  ),
  decoder: z.looseObject({ type: z.literal('ByteLevel', { error: 'the decoder must be ByteLevel' }) }),
  model: z.looseObject({
    type: z.literal('BPE', { error: 'only BPE models are supported' }),
    vocab: z.record(z.string(), z.number().int().nonnegative()),
    merges: z.array(z.union([z.string(), z.tuple([z.string(), z.string()])])),
  }),
})

export type TokenizerJson = z.infer<typeof schema>

/** What a checked tokenizer.json holds: the file (for the library) and each id's token string. */
export interface ParsedTokenizerJson {
  readonly json: TokenizerJson
  /** tokens[id] is the token string of id (byte-level characters, or an added token's text). */
  readonly tokens: readonly (string | undefined)[]
  /** Added tokens: their text is their bytes (UTF-8), not byte-level characters. */
  readonly added: ReadonlySet<number>
}

/** Parse and check a tokenizer.json; throws ArtifactError naming what is wrong. */
export function parseTokenizerJson(source: string | Uint8Array, where = 'tokenizer.json'): ParsedTokenizerJson {
  const size = typeof source === 'string' ? Buffer.byteLength(source, 'utf8') : source.length
  if (size > MAX_TOKENIZER_FILE_BYTES)
    throw new ArtifactError(`${where} holds ${size} bytes, over the ${MAX_TOKENIZER_FILE_BYTES} allowed`)
  let data: unknown
  try {
    data = JSON.parse(typeof source === 'string' ? source : Buffer.from(source).toString('utf8'))
  } catch (error) {
    throw new ArtifactError(`${where} is not JSON: ${(error as Error).message}`)
  }
  const result = schema.safeParse(data)
  if (!result.success) {
    const issue = result.error.issues[0]
    const at = issue === undefined ? '' : issue.path.map(String).join('.')
    throw new ArtifactError(
      `${where} is not a byte-level BPE tokenizer: ${at === '' ? '' : `${at}: `}${issue?.message}`,
    )
  }
  const json = result.data
  const tokens: (string | undefined)[] = []
  const place = (id: number, token: string, what: string): void => {
    if (id >= MAX_TOKENIZER_VOCAB)
      throw new ArtifactError(`${where}: ${what} '${token}' has id ${id}, over the ${MAX_TOKENIZER_VOCAB} allowed`)
    const held = tokens[id]
    if (held !== undefined && held !== token)
      throw new ArtifactError(`${where}: id ${id} names both '${held}' and '${token}'`)
    tokens[id] = token
  }
  for (const [token, id] of Object.entries(json.model.vocab)) place(id, token, 'model.vocab token')
  const added = new Set<number>()
  for (const t of json.added_tokens) {
    place(t.id, t.content, 'added token')
    added.add(t.id)
  }
  if (tokens.length === 0) throw new ArtifactError(`${where}: model.vocab is empty`)
  const vocab = json.model.vocab
  json.model.merges.forEach((merge, i) => {
    const [left, right] = typeof merge === 'string' ? splitMerge(merge, i, where) : merge
    if (!Object.hasOwn(vocab, left) || !Object.hasOwn(vocab, right) || !Object.hasOwn(vocab, left + right))
      throw new ArtifactError(
        `${where}: model.merges.${i} ('${left}' '${right}') joins tokens missing from model.vocab`,
      )
  })
  return { json, tokens, added }
}

function splitMerge(merge: string, i: number, where: string): [string, string] {
  const parts = merge.split(' ')
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '')
    throw new ArtifactError(`${where}: model.merges.${i} '${merge}' is not two tokens separated by one space`)
  return [parts[0] as string, parts[1] as string]
}

/**
 * A tokenizer.json for a byte-level BPE: ids 0..255 are the bytes, then one token per merge in
 * merge order (`vocab[id]` is id's token string). Written as the Hugging Face `tokenizers`
 * library writes one, with merges as pairs (its format since 0.20), keys in a fixed order, so
 * the same merges give the same bytes.
 */
export function writeTokenizerJson(vocab: readonly string[], merges: readonly (readonly [string, string])[]): string {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }
  const file = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab.map((token, id) => [token, id])),
      merges,
    },
  }
  return `${JSON.stringify(file, null, 1)}\n`
}

/** The 256 byte tokens, ids 0..255 in byte order: the start of every trained vocabulary. */
export function byteVocab(): string[] {
  return [...BYTE_CHARS]
}
