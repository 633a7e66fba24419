/** The committed golden hashes (produced by the ts reference), read and written as JSON. */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ArtifactError } from './errors.ts'

export const GOLDEN_FILE = fileURLToPath(new URL('./golden-hashes.json', import.meta.url))

interface GoldenFile {
  readonly description: string
  readonly cases: readonly string[]
}

export function readGolden(path = GOLDEN_FILE): readonly string[] {
  let parsed: GoldenFile
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new ArtifactError(`cannot read golden hashes ${path}: ${(error as Error).message}`)
  }
  if (!Array.isArray(parsed.cases) || parsed.cases.some((h) => typeof h !== 'string' || !/^[0-9a-f]{64}$/.test(h))) {
    throw new ArtifactError(`${path} must hold a 'cases' array of SHA-256 hex strings`)
  }
  return parsed.cases
}

export function writeGolden(hashes: readonly string[], path = GOLDEN_FILE): void {
  const file: GoldenFile = {
    description: 'SHA-256 of golden case i (src/ml/golden.ts) on the ts reference backend; every backend must match',
    cases: hashes,
  }
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`)
}
