/**
 * The tokenizer travels with the model: a backbone folder names it, every reader gets the same
 * ids, generation hands out each token's bytes, and a range manifest carries it to the network.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeRangeManifest, fetchTokenizer, rangeManifest } from '../../src/actors/training/model-store.ts'
import { cidOf } from '../../src/codec/cid.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { loadBackbone, loadTokenizer, readManifest, saveBackbone, tokenizerFile } from '../../src/ml/artifacts.ts'
import { defaultLora, type ModelConfig, modelConfigs, validateModelConfig } from '../../src/ml/config.ts'
import { loadBrown, NON_FICTION_GENRES } from '../../src/ml/data/brown.ts'
import { ArtifactError } from '../../src/ml/errors.ts'
import { Generation, generate } from '../../src/ml/generate.ts'
import { tsKernels } from '../../src/ml/kernels/ts-kernels.ts'
import type { BpeTokenizer } from '../../src/ml/tokenizer/bpe.ts'
import { trainBpeTokenizer } from '../../src/ml/tokenizer/bpe-train.ts'
import { tokenPiecesOf } from '../../src/ml/tokenizer/tokenizer.ts'
import { initAdapters, initStageWeights } from '../../src/ml/weights.ts'

const micro = modelConfigs.micro as ModelConfig
const config: ModelConfig = { ...micro, name: 'micro-bpe', vocabSize: 320 }

describe('ml/tokenizer: the tokenizer travels with the model', function () {
  this.timeout(60_000)
  let dir: string
  let tokenizer: BpeTokenizer
  const texts = loadBrown(NON_FICTION_GENRES)
    .slice(0, 10)
    .map((d) => Buffer.from(d.text).toString('utf8'))

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-tokenizer-'))
    tokenizer = trainBpeTokenizer(texts, config.vocabSize)
    saveBackbone(dir, initStageWeights(config, 0, config.nLayers, deriveKey('tok', 'backbone')), {}, tokenizer)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('names the BPE tokenizer by CID in the manifest and reads it back to the same ids', () => {
    const manifest = readManifest(dir)
    const cid = cidOf(tokenizer.file).toString()
    assert.deepEqual(manifest.tokenizer, { kind: 'bpe', cid })
    const loaded = loadTokenizer(dir)
    assert.equal(loaded.kind, 'bpe')
    assert.deepEqual(loaded.encode(texts[3] as string), tokenizer.encode(texts[3] as string))
    // A tokenizer file that is not the one named is refused.
    const path = join(dir, tokenizerFile(cid))
    const good = readFileSync(path)
    writeFileSync(path, Buffer.concat([good, Buffer.from(' ')]))
    try {
      assert.throws(() => loadTokenizer(dir), ArtifactError)
    } finally {
      writeFileSync(path, good)
    }
  })

  it('keeps byte tokens for the committed tiny backbone and any manifest without a tokenizer', () => {
    const tiny = loadTokenizer('models/tiny')
    assert.equal(tiny.kind, 'bytes')
    assert.equal(readManifest('models/tiny').tokenizer, undefined)
    // A vocabulary over 256 is a valid configuration now; the tokenizer must fit in it.
    validateModelConfig(config)
    validateModelConfig(modelConfigs.small as ModelConfig)
    const tooSmall = mkdtempSync(join(tmpdir(), 'r3mes-tokenizer-'))
    try {
      assert.throws(
        () => saveBackbone(tooSmall, initStageWeights(micro, 0, micro.nLayers, deriveKey('t', 'b')), {}, tokenizer),
        /320 tokens, config.vocabSize is 256/,
      )
    } finally {
      rmSync(tooSmall, { recursive: true, force: true })
    }
  })

  it('generates text whose bytes are its tokens’ bytes, and stops before a stop string wherever it falls', () => {
    const { stage: backbone } = loadBackbone(dir)
    const adapters = initAdapters(config, defaultLora, 0, config.nLayers, deriveKey('tok', 'lora'))
    const model = { kernels: tsKernels, backbone, adapters, lora: defaultLora }
    const pieces = tokenPiecesOf(tokenizer) as Uint8Array[]
    const withPieces = { ...model, tokenPieces: pieces }
    const prompt = tokenizer.encode('The history of the')
    const options = { maxTokens: 12, temperature: 0.8, seed: 'tok' }
    const result = generate(withPieces, prompt, options)
    assert.equal(result.completionTokens, 12)
    // The same run, token by token: its bytes are the concatenation of each token's bytes.
    const generation = new Generation(withPieces, prompt, options)
    const out: Uint8Array[] = []
    while (!generation.done) out.push(generation.step())
    assert.deepEqual(Buffer.concat(out), Buffer.from(result.bytes))
    assert.ok(result.bytes.length > 12, 'BPE tokens stand for more than one byte each')
    // A stop string that ends inside a token's bytes ends the completion right before it.
    const text = Buffer.from(result.bytes)
    const stop = text.subarray(3, 5)
    const stopped = generate(withPieces, prompt, { ...options, stop: [stop] })
    assert.equal(stopped.finishReason, 'stop')
    assert.deepEqual(Buffer.from(stopped.bytes), text.subarray(0, text.indexOf(stop)))
    // Without pieces, an id over 255 has no bytes: an error, not a wrong byte.
    assert.throws(() => generate(model, prompt, { ...options, maxTokens: 40 }), /no bytes/)
  })

  it('carries the tokenizer in the range manifests the genesis names, and fetches it by CID', async () => {
    const manifest = readManifest(dir)
    const range = rangeManifest(manifest, 0, 1)
    assert.deepEqual(range.tokenizer, manifest.tokenizer)
    const rangeBytes = encodeRangeManifest(range)
    const rangeCid = cidOf(rangeBytes).toString()
    const store = new Map<string, Uint8Array>([
      [rangeCid, rangeBytes],
      [cidOf(tokenizer.file).toString(), tokenizer.file],
    ])
    const fetchPiece = async (cid: string): Promise<Uint8Array> => {
      const bytes = store.get(cid)
      if (bytes === undefined) throw new Error(`no ${cid}`)
      return bytes
    }
    const fetched = await fetchTokenizer(fetchPiece, rangeCid)
    assert.deepEqual(fetched.encode(texts[0] as string), tokenizer.encode(texts[0] as string))
    // A peer answering other bytes for the tokenizer CID is caught by the CID check.
    store.set(cidOf(tokenizer.file).toString(), Buffer.from('{}'))
    await assert.rejects(fetchTokenizer(fetchPiece, rangeCid), /does not match its CID/)
    // Byte-level ranges carry no tokenizer field, so their CIDs are what they were.
    const tiny = readManifest('models/tiny')
    assert.equal(rangeManifest(tiny, 0, 4).tokenizer, undefined)
    assert.ok(
      !Buffer.from(encodeRangeManifest(rangeManifest(tiny, 0, 4)))
        .toString()
        .includes('tokenizer'),
    )
  })
})
