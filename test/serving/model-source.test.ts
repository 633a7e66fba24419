import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadLocalModel, modelFromAdapterBytes, SwappableModelSource } from '../../src/actors/serving/model-source.ts'
import { cidOf } from '../../src/codec/cid.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { encodeParams, MANIFEST_FILE } from '../../src/ml/artifacts.ts'
import { defaultLora, modelConfigs } from '../../src/ml/config.ts'
import { tsKernels } from '../../src/ml/kernels/ts-kernels.ts'
import { initAdapters } from '../../src/ml/weights.ts'
import { writeAdapters, writeMicroBackbone } from './helpers.ts'

describe('serving: model source', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-model-source-'))
    writeMicroBackbone(dir)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('names a model by its adapters CID, or by the backbone manifest without adapters', () => {
    const file = writeAdapters(dir, 'named')
    const withAdapters = loadLocalModel({ backboneDir: dir, adaptersFile: file, kernels: tsKernels })
    assert.equal(withAdapters.id, cidOf(readFileSync(file)).toString())
    assert.deepEqual(withAdapters.lora, defaultLora)
    const alone = loadLocalModel({ backboneDir: dir, kernels: tsKernels })
    assert.equal(alone.id, cidOf(readFileSync(join(dir, MANIFEST_FILE))).toString())
    // Without adapters every LoRA B is zero: the backbone answers alone.
    for (const [name, value] of alone.adapters) if (name.endsWith('loraB')) assert.ok(value.every((v) => v === 0))
    const pointed = modelFromAdapterBytes({
      backbone: alone.backbone,
      adapters: readFileSync(file),
      kernels: tsKernels,
      id: 'pointer-7',
    })
    assert.equal(pointed.id, 'pointer-7')
  })

  it('swaps the model as a whole, leaving the one already handed out as it was', () => {
    const a = loadLocalModel({ backboneDir: dir, adaptersFile: writeAdapters(dir, 'a'), kernels: tsKernels })
    const b = loadLocalModel({ backboneDir: dir, adaptersFile: writeAdapters(dir, 'b'), kernels: tsKernels })
    const source = new SwappableModelSource(a)
    const inFlight = source.current()
    source.swap(b)
    assert.equal(inFlight, a)
    assert.equal(source.current(), b)
  })

  it('rejects adapters that do not fit the backbone, naming the file and the tensor', () => {
    const tiny = modelConfigs.tiny as NonNullable<typeof modelConfigs.tiny>
    const misfit = join(dir, 'tiny-adapters.r3b')
    writeFileSync(misfit, encodeParams('r3mes-adapters', initAdapters(tiny, defaultLora, 0, 2, deriveKey('x', 'lora'))))
    assert.throws(
      () => loadLocalModel({ backboneDir: dir, adaptersFile: misfit, kernels: tsKernels }),
      /tiny-adapters\.r3b: adapter 'L0\.q\.loraA' has 2048 values, the backbone needs 512/,
    )
    const micro = modelConfigs.micro as NonNullable<typeof modelConfigs.micro>
    const partial = initAdapters(micro, defaultLora, 0, micro.nLayers, deriveKey('x', 'lora'))
    partial.delete('L1.down.loraB')
    const missing = join(dir, 'partial.r3b')
    writeFileSync(missing, encodeParams('r3mes-adapters', partial))
    assert.throws(
      () => loadLocalModel({ backboneDir: dir, adaptersFile: missing, kernels: tsKernels }),
      /partial\.r3b lacks adapter 'L1\.down\.loraB'/,
    )
    const wrongKind = join(dir, 'gradient.r3b')
    writeFileSync(wrongKind, encodeParams('r3mes-gradient', partial))
    assert.throws(
      () => loadLocalModel({ backboneDir: dir, adaptersFile: wrongKind, kernels: tsKernels }),
      /expected a 'r3mes-adapters' bundle/,
    )
    assert.throws(
      () => loadLocalModel({ backboneDir: dir, adaptersFile: join(dir, 'nope.r3b'), kernels: tsKernels }),
      /cannot read adapters file .*nope\.r3b/,
    )
  })
})
