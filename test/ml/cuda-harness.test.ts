/**
 * The standalone CUDA harness (native-cuda/harness/), where it has been built (`npm run
 * build:cuda`, which needs nvcc): its C++ port of the golden cases must reproduce the committed
 * hashes on the CPU backend, and where no GPU is present it must say so rather than fail.
 * Skipped where the harness is not built (machines without nvcc, such as CI).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cudaStatus } from '../../src/ml/kernels/native.ts'

const HARNESS = fileURLToPath(new URL('../../native-cuda/build/r3mes_cuda_harness', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

describe('cuda harness (standalone, no Node.js)', () => {
  before(function () {
    if (!existsSync(HARNESS)) {
      if (this.test?.parent !== undefined) this.test.parent.title += ' (skipped: harness not built, needs nvcc)'
      this.skip()
    }
  })

  it('reproduces the committed golden hashes of the kernel-level cases on the CPU', () => {
    const run = spawnSync(HARNESS, ['golden', '--cases', '240'], { cwd: ROOT, encoding: 'utf8' })
    assert.equal(run.status, 0, run.stdout + run.stderr)
    const summary = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, number>
    assert.equal(summary.cases, 240)
    assert.equal(summary.run, 200, 'the two model-level kinds of every twelve are left to the TypeScript check')
    assert.equal(summary.cpuMismatches, 0)
    assert.equal(summary.cudaMismatches, 0)
    if (!cudaStatus().available) {
      assert.equal(summary.cudaRun, 0)
      assert.match(run.stdout, /cuda: unavailable, /)
    }
  })

  it('detects a wrong golden hash', () => {
    const dir = mkdtempSync(join(tmpdir(), 'r3mes-harness-'))
    const file = join(dir, 'wrong-golden.json')
    writeFileSync(file, JSON.stringify({ cases: ['0'.repeat(64)] }))
    const run = spawnSync(HARNESS, ['golden', '--cases', '1', '--hashes', file], { cwd: ROOT, encoding: 'utf8' })
    rmSync(dir, { recursive: true, force: true })
    assert.equal(run.status, 1, run.stdout + run.stderr)
    assert.match(run.stdout, /case {4}0 matmul .*MISMATCH/)
  })

  it('rejects unknown options with a usage error', () => {
    const run = spawnSync(HARNESS, ['golden', '--bogus'], { cwd: ROOT, encoding: 'utf8' })
    assert.equal(run.status, 64)
    assert.match(run.stderr, /unknown option --bogus/)
  })
})
