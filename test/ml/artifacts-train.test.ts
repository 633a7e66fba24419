import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deriveKey } from '../../src/codec/prng.ts'
import { decodeParams, encodeParams, loadBackbone, readManifest, saveBackbone } from '../../src/ml/artifacts.ts'
import { defaultLora, modelConfigs } from '../../src/ml/config.ts'
import { FICTION_GENRES, loadBrown, stripBrownTags } from '../../src/ml/data/brown.ts'
import { sampleBatch, splitDocuments } from '../../src/ml/data/dataset.ts'
import { ArtifactError } from '../../src/ml/errors.ts'
import type { PretrainResult } from '../../src/ml/jobs/job.ts'
import { runJob } from '../../src/ml/jobs/run-job.ts'
import { bytesTokenizer } from '../../src/ml/tokenizer/bytes.ts'
import { initAdapters, initStageWeights } from '../../src/ml/weights.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'

const config = modelConfigs.micro as NonNullable<typeof modelConfigs.micro>

describe('ml/artifacts: backbone and adapters on disk, by CID', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-artifacts-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('round-trips a backbone and loads a layer range alone, reading fewer bytes', () => {
    const stage = initStageWeights(config, 0, config.nLayers, deriveKey('t', 'b'))
    const manifest = saveBackbone(dir, stage, { note: 'test' })
    const whole = loadBackbone(dir)
    assert.deepEqual(
      Buffer.from(whole.stage.layers[1]?.proj.up.w as Int8Array),
      Buffer.from(stage.layers[1]?.proj.up.w as Int8Array),
    )
    assert.equal(whole.stage.layers[0]?.proj.q.gamma, stage.layers[0]?.proj.q.gamma)
    assert.deepEqual(whole.stage.head, stage.head)
    const second = loadBackbone(dir, 1, 2)
    assert.equal(second.stage.embedding, undefined)
    assert.ok(second.stage.head !== undefined)
    assert.ok(second.bytesRead < whole.bytesRead)
    assert.equal(readManifest(dir).layers[1], manifest.layers[1])
  })

  it('refuses a corrupt, truncated or missing layer file and a broken manifest', () => {
    const stage = initStageWeights(config, 0, config.nLayers, deriveKey('t', 'b'))
    const manifest = saveBackbone(dir, stage)
    const file = join(dir, `${manifest.layers[0]}.r3b`)
    const good = readFileSync(file)
    const bad = Buffer.from(good)
    bad[100] = (bad[100] as number) ^ 0xff
    writeFileSync(file, bad)
    assert.throws(() => loadBackbone(dir), /does not match its CID/)
    writeFileSync(file, good.subarray(0, 50))
    assert.throws(() => loadBackbone(dir), ArtifactError)
    rmSync(file)
    assert.throws(() => loadBackbone(dir), /missing/)
    writeFileSync(join(dir, 'manifest.json'), '{"kind":"r3mes-backbone"')
    assert.throws(() => loadBackbone(dir), /manifest/)
  })

  it('round-trips adapters and rejects a bundle of the wrong kind or with NaN', () => {
    const adapters = initAdapters(config, defaultLora, 0, 2, deriveKey('t', 'l'))
    const bytes = encodeParams('r3mes-adapters', adapters, { rank: 8 })
    const back = decodeParams('r3mes-adapters', bytes)
    assert.deepEqual(back.params.get('L1.down.loraA'), adapters.get('L1.down.loraA'))
    assert.throws(() => decodeParams('r3mes-gradient', bytes), /expected a 'r3mes-gradient'/)
    const nan = new Map(adapters)
    nan.set('L0.q.loraA', Float32Array.of(Number.NaN))
    assert.throws(() => decodeParams('r3mes-adapters', encodeParams('r3mes-adapters', nan)), /non-finite/)
  })
})

describe('ml/data: Brown Corpus', () => {
  it('strips tags into plain prose', () => {
    const text = stripBrownTags(
      "\n\n\tThe/at jury/nn said/vbd ``/`` no/at ''/'' ,/, it's/pps+bez (/( fine/jj )/) ./.\n",
    )
    assert.equal(text, 'The jury said "no", it\'s (fine).')
  })

  it('splits fiction deterministically and samples reproducible batches', () => {
    const data = splitDocuments('fiction', loadBrown(FICTION_GENRES))
    assert.ok(data.train.length > 100 && data.heldOut.length > 10)
    assert.ok(!data.train.some((d) => data.heldOut.includes(d)))
    const key = deriveKey('seed', 'data')
    const ids = bytesTokenizer.encode(data.trainBytes)
    const a = sampleBatch(ids, key, 3, 4, 32)
    const b = sampleBatch(ids, key, 3, 4, 32)
    assert.deepEqual(a, b)
    assert.ok(a.inputs instanceof Int32Array && a.targets instanceof Int32Array)
    assert.notDeepEqual(sampleBatch(ids, key, 4, 4, 32).inputs, a.inputs)
    for (let s = 0; s < 4; s++) {
      for (let t = 0; t < 31; t++)
        assert.equal(a.targets[s * 32 + t], a.inputs[s * 32 + t + 1], 'targets are the next bytes')
    }
  })
})

describe('ml/train: genesis pretraining', function () {
  this.timeout(120_000)
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-pretrain-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  const job = (outDir: string, steps: number) =>
    ({
      kind: 'pretrain',
      backend: 'auto',
      config: 'micro',
      outDir,
      steps,
      sequences: 2,
      tokens: 32,
      seed: 'test',
      lr: 3e-3,
      checkpointEvery: 5,
      evalTokens: 1024,
      command: 'test',
    }) as const

  it('lowers held-out loss far below uniform, and an interrupted run resumes to the same bytes', () => {
    const clock = new SimulatedClock()
    const straight = runJob(job(join(dir, 'a'), 40), clock, () => {}) as PretrainResult
    assert.ok(straight.heldOutLoss < 0.75 * Math.log(256), `held-out loss ${straight.heldOutLoss}`)

    // The same run stopped after a checkpoint (step 20) and resumed must write identical layers.
    let stopAt = 20
    try {
      runJob(job(join(dir, 'b'), 40), clock, (e) => {
        if (e.type === 'progress' && e.step === stopAt) throw new Error('simulated crash')
      })
    } catch (error) {
      assert.match((error as Error).message, /simulated crash/)
    }
    stopAt = -1
    const resumed = runJob(job(join(dir, 'b'), 40), clock, () => {}) as PretrainResult
    assert.equal(resumed.resumedFrom, 20)
    assert.deepEqual(resumed.layerCids, straight.layerCids)
    assert.equal(resumed.heldOutLoss, straight.heldOutLoss)
  })
})
