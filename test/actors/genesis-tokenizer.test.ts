/**
 * A node's tokenizer for the genesis model: byte tokens for a byte configuration without asking
 * anyone, its model folder's when it seeds the model, and otherwise the tokenizer.json its first
 * range manifest names, fetched by CID.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { brownFictionDataset, resolveDataset } from '../../src/actors/training/datasets.ts'
import { genesisTokenizer } from '../../src/actors/training/genesis-tokenizer.ts'
import { encodeRangeManifest, rangeManifest } from '../../src/actors/training/model-store.ts'
import { cidOf } from '../../src/codec/cid.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { readManifest, saveBackbone } from '../../src/ml/artifacts.ts'
import { type ModelConfig, modelConfigs } from '../../src/ml/config.ts'
import { loadBrown, NON_FICTION_GENRES } from '../../src/ml/data/brown.ts'
import { BpeTokenizer } from '../../src/ml/tokenizer/bpe.ts'
import { trainBpeTokenizer } from '../../src/ml/tokenizer/bpe-train.ts'
import { initStageWeights } from '../../src/ml/weights.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'

describe('actors/training: the genesis model’s tokenizer', function () {
  this.timeout(60_000)
  const clock = new SimulatedClock()
  const text = loadBrown(NON_FICTION_GENRES)
    .slice(0, 8)
    .map((d) => Buffer.from(d.text).toString('utf8'))
  const tokenizer = trainBpeTokenizer(text, 300)
  const nobody = {
    get: (cid: CID): Promise<Uint8Array> => Promise.reject(new Error(`asked for ${cid}`)),
  }
  let dir: string

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-genesis-tokenizer-'))
    // The small configuration's shape is not needed to name its tokenizer: a micro-sized model
    // with small's name and vocabulary stands in for it (its range manifests are plain data).
    const config: ModelConfig = { ...(modelConfigs.micro as ModelConfig), name: 'small', vocabSize: 4096 }
    saveBackbone(dir, initStageWeights(config, 0, config.nLayers, deriveKey('gt', 'backbone')), {}, tokenizer)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('reads byte tokens for a byte configuration without asking any peer', async () => {
    const t = await genesisTokenizer({ config: 'tiny', backbone: [] }, undefined, nobody, clock)
    assert.equal(t.kind, 'bytes')
  })

  it('reads the model folder’s tokenizer on a node that seeds the model', async () => {
    const t = await genesisTokenizer({ config: 'small', backbone: [] }, dir, nobody, clock)
    assert.equal(t.kind, 'bpe')
    assert.deepEqual(t.encode(text[1] as string), tokenizer.encode(text[1] as string))
  })

  it('fetches the tokenizer its first range manifest names, by CID, on any other node', async () => {
    const manifest = readManifest(dir)
    const ranges = [rangeManifest(manifest, 0, 1), rangeManifest(manifest, 1, 2)].map(encodeRangeManifest)
    const store = new Map<string, Uint8Array>(ranges.map((bytes) => [cidOf(bytes).toString(), bytes]))
    store.set(cidOf(tokenizer.file).toString(), tokenizer.file)
    const asked: string[] = []
    const content = {
      get: async (cid: CID): Promise<Uint8Array> => {
        asked.push(cid.toString())
        const bytes = store.get(cid.toString())
        if (bytes === undefined) throw new Error(`no ${cid}`)
        return bytes
      },
    }
    const backbone = ranges.map((bytes, i) => ({ layers: [i, i + 1], cid: cidOf(bytes).toString() })).reverse()
    const t = await genesisTokenizer({ config: 'small', backbone }, undefined, content, clock)
    assert.deepEqual(t.encode(text[2] as string), tokenizer.encode(text[2] as string))
    assert.deepEqual(asked, [cidOf(ranges[0] as Uint8Array).toString(), cidOf(tokenizer.file).toString()])
    await assert.rejects(
      genesisTokenizer({ config: 'small', backbone: backbone.slice(0, 1) }, undefined, content, clock),
      /no backbone range starting at layer 0/,
    )
  })

  it('tokenizes the approved data set once per tokenizer, its CID still that of its bytes', () => {
    const bytes = brownFictionDataset()
    const bpe = resolveDataset({ name: bytes.name, cid: bytes.cid }, tokenizer)
    assert.equal(bpe.cid, bytes.cid)
    assert.ok(bpe.train.length < bytes.train.length * 0.9, 'BPE ids are fewer than bytes')
    assert.deepEqual(Buffer.from(tokenizer.decode(bpe.train)), Buffer.from(Uint8Array.from(bytes.train)))
    // The same tokenizer.json read again (another node of the process) shares the ids.
    assert.equal(brownFictionDataset(new BpeTokenizer(tokenizer.file)), bpe)
  })
})
