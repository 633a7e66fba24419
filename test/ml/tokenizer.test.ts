import assert from 'node:assert/strict'
import fc from 'fast-check'
import { FICTION_GENRES, loadBrown, NON_FICTION_GENRES } from '../../src/ml/data/brown.ts'
import { ArtifactError } from '../../src/ml/errors.ts'
import { BpeTokenizer } from '../../src/ml/tokenizer/bpe.ts'
import { trainBpe, trainBpeTokenizer } from '../../src/ml/tokenizer/bpe-train.ts'
import { bytesTokenizer } from '../../src/ml/tokenizer/bytes.ts'
import { writeTokenizerJson } from '../../src/ml/tokenizer/tokenizer-json.ts'

const textOf = (d: { text: Uint8Array }): string => Buffer.from(d.text).toString('utf8')

describe('ml/tokenizer: byte-level BPE', function () {
  this.timeout(120_000)
  let trained: BpeTokenizer
  let fiction: string

  before(() => {
    trained = trainBpeTokenizer(loadBrown(NON_FICTION_GENRES).map(textOf), 4096)
    fiction = loadBrown(FICTION_GENRES).map(textOf).join('\n')
  })

  it('keeps byte tokens as the identity (micro and tiny read bytes)', () => {
    const text = 'naïve café\n'
    const ids = bytesTokenizer.encode(text)
    assert.deepEqual(Array.from(ids), Array.from(Buffer.from(text)))
    assert.equal(Buffer.from(bytesTokenizer.decode(ids)).toString('utf8'), text)
    assert.throws(() => bytesTokenizer.decode([256]), /not a byte/)
  })

  it('trains to the asked size on Brown non-fiction and compresses Brown fiction', () => {
    assert.equal(trained.vocabSize, 4096)
    const ids = trained.encode(fiction)
    const bytesPerToken = Buffer.byteLength(fiction) / ids.length
    // Byte tokens give 1 byte per token; a 4096-token BPE of English text gives over 3.
    assert.ok(bytesPerToken > 3, `only ${bytesPerToken.toFixed(3)} bytes per token`)
    assert.ok(ids.every((id) => id >= 0 && id < 4096))
    assert.equal(Buffer.from(trained.decode(ids)).toString('utf8'), fiction)
  })

  it('decodes what it encodes, for Brown texts and any string', () => {
    for (const doc of loadBrown(FICTION_GENRES).slice(0, 20)) {
      assert.deepEqual(Buffer.from(trained.decode(trained.encode(doc.text))), Buffer.from(doc.text))
    }
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        const ids = trained.encode(text)
        assert.equal(Buffer.from(trained.decode(ids)).toString('utf8'), text)
        // Each id's bytes concatenate to the text's bytes: generation hands out bytes per token.
        assert.deepEqual(Buffer.concat(Array.from(ids, (id) => trained.tokenBytes(id))), Buffer.from(text, 'utf8'))
      }),
      { numRuns: 300 },
    )
  })

  it('trains deterministically, ties going to the lowest (left, right) ids', () => {
    const texts = loadBrown(NON_FICTION_GENRES).slice(0, 30).map(textOf)
    const a = trainBpe(texts, 700)
    const b = trainBpe(texts, 700)
    assert.equal(writeTokenizerJson(a.vocab, a.merges), writeTokenizerJson(b.vocab, b.merges))
    // "cd", "da" and "ab" all occur twice: a (97) has the lowest id, so "ab" is merged first;
    // then "cd" (c = 99) and "dab" (d = 100) tie, and "cd" goes first.
    const tie = trainBpe(['cdab', 'cdab'], 258)
    assert.deepEqual(tie.merges, [
      ['a', 'b'],
      ['c', 'd'],
    ])
    // Only pairs that occur at least twice are merged: no more tokens than that.
    assert.equal(trainBpe(['xyz'], 300).vocab.length, 256)
  })

  it('writes a tokenizer.json that reads back to the same encoding (either merges format)', () => {
    const texts = loadBrown(NON_FICTION_GENRES).slice(0, 30).map(textOf)
    const { vocab, merges } = trainBpe(texts, 600)
    const written = writeTokenizerJson(vocab, merges)
    const read = new BpeTokenizer(written)
    const again = new BpeTokenizer(read.file)
    const sample = textOf(loadBrown(FICTION_GENRES)[0] as { text: Uint8Array })
    assert.deepEqual(again.encode(sample), read.encode(sample))
    assert.ok(read.encode(sample).length < Buffer.byteLength(sample) / 2)
    // Files written by tokenizers < 0.20 hold merges as "left right" strings.
    const legacy = JSON.parse(written)
    legacy.model.merges = merges.map(([l, r]) => `${l} ${r}`)
    assert.deepEqual(new BpeTokenizer(JSON.stringify(legacy)).encode(sample), read.encode(sample))
    // Added (special) tokens keep their ids and decode to their text.
    legacy.added_tokens = [{ id: 600, content: '<|end_of_text|>', special: true }]
    const withSpecial = new BpeTokenizer(JSON.stringify(legacy))
    assert.equal(withSpecial.vocabSize, 601)
    assert.equal(Buffer.from(withSpecial.tokenBytes(600)).toString(), '<|end_of_text|>')
  })

  it('rejects a malformed tokenizer.json with an error naming what is wrong', () => {
    const good = JSON.parse(writeTokenizerJson(trainBpe(['ab ab ab'], 258).vocab, [['a', 'b']]))
    const bad = (edit: (j: Record<string, unknown> & { model: Record<string, unknown> }) => void): string => {
      const copy = structuredClone(good)
      edit(copy)
      return JSON.stringify(copy)
    }
    const cases: [string, RegExp][] = [
      ['{"model": ', /not JSON/],
      [
        bad((j) => {
          j.model.type = 'WordPiece'
        }),
        /model\.type: only BPE/,
      ],
      [
        bad((j) => {
          j.model.merges = [['a', 'q']]
        }),
        /model\.merges\.0 .* missing from model\.vocab/,
      ],
      [
        bad((j) => {
          j.model.merges = ['a']
        }),
        /model\.merges\.0 'a' is not two tokens/,
      ],
      [
        bad((j) => {
          j.decoder = { type: 'WordPiece' }
        }),
        /decoder/,
      ],
      [
        bad((j) => {
          j.pre_tokenizer = { type: 'Whitespace' }
        }),
        /pre_tokenizer/,
      ],
      [
        bad((j) => {
          j.normalizer = { type: 'NFC' }
        }),
        /normalizer/,
      ],
      [
        bad((j) => {
          Object.assign(j.model.vocab as object, { é: 3 })
        }),
        /id 3 names both/,
      ],
      [
        bad((j) => {
          Object.assign(j.model.vocab as object, { big: 10_000_000 })
        }),
        /over the 262144 allowed/,
      ],
      [
        bad((j) => {
          Object.assign(j.model.vocab as object, { 日本: 258 })
        }),
        /outside the byte-level alphabet/,
      ],
      [
        bad((j) => {
          j.model.vocab = -1
        }),
        /model\.vocab/,
      ],
    ]
    for (const [file, message] of cases) {
      assert.throws(
        () => new BpeTokenizer(file),
        (error: unknown) => error instanceof ArtifactError && message.test(error.message),
        `expected ${message}`,
      )
    }
  })
})
