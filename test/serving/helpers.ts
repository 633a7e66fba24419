/** A micro backbone on disk and adapters files with non-zero B, for serving tests. */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { deriveKey, PhiloxStream } from '../../src/codec/prng.ts'
import { encodeParams, saveBackbone } from '../../src/ml/artifacts.ts'
import { defaultLora, modelConfigs } from '../../src/ml/config.ts'
import { initAdapters, initStageWeights } from '../../src/ml/weights.ts'

const micro = modelConfigs.micro as NonNullable<typeof modelConfigs.micro>

/** Write a freshly initialised micro backbone to `dir`. */
export function writeMicroBackbone(dir: string): void {
  saveBackbone(dir, initStageWeights(micro, 0, micro.nLayers, deriveKey('serving-test', 'backbone')))
}

/** Write adapters whose B is non-zero (so they change the output), drawn from `seed`; returns the path. */
export function writeAdapters(dir: string, seed: string): string {
  const adapters = initAdapters(micro, defaultLora, 0, micro.nLayers, deriveKey(seed, 'lora'))
  const stream = new PhiloxStream(deriveKey(seed, 'lora-b'))
  for (const [name, value] of adapters) {
    if (name.endsWith('loraB')) for (let i = 0; i < value.length; i++) value[i] = stream.nextSignedUnit() * 0.1
  }
  const file = join(dir, `adapters-${seed}.r3b`)
  writeFileSync(file, encodeParams('r3mes-adapters', adapters, { rank: defaultLora.rank, alpha: defaultLora.alpha }))
  return file
}
