import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CompletionRunner, inlineRunner } from '../../src/actors/serving/completion-runner.ts'
import { loadLocalModel, type ServedModel } from '../../src/actors/serving/model-source.ts'
import { WorkerRunner } from '../../src/actors/serving/worker-runner.ts'
import { type GenerationOptions, generate } from '../../src/ml/generate.ts'
import type { Kernels } from '../../src/ml/kernels/contract.ts'
import { tsKernels } from '../../src/ml/kernels/ts-kernels.ts'
import { bytesTokenizer } from '../../src/ml/tokenizer/bytes.ts'
import { writeAdapters, writeMicroBackbone } from './helpers.ts'

/** The ts kernels, counting the calls made through them on this thread. */
function countingKernels(): { kernels: Kernels; calls: () => number } {
  let calls = 0
  const kernels = new Proxy(tsKernels, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        calls++
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { kernels, calls: () => calls }
}

async function complete(
  runner: CompletionRunner,
  model: ServedModel,
  options: GenerationOptions,
  signal?: AbortSignal,
) {
  const pieces: Uint8Array[] = []
  const outcome = await runner.run(
    model,
    bytesTokenizer.encode('In the beginning'),
    options,
    (bytes) => pieces.push(bytes),
    signal ?? new AbortController().signal,
  )
  return { bytes: Buffer.concat(pieces), outcome }
}

describe('serving: completion runners', function () {
  this.timeout(60_000)
  let dir: string
  let adaptersFile: string
  const options: GenerationOptions = { maxTokens: 20, temperature: 0.8, topP: 0.9, seed: '3' }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-runners-'))
    writeMicroBackbone(dir)
    adaptersFile = writeAdapters(dir, 'runners')
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('give the bytes of generate(), inline on this thread and in the worker off it', async () => {
    const counted = countingKernels()
    const model = loadLocalModel({ backboneDir: dir, adaptersFile, kernels: counted.kernels })
    const expected = generate(model, bytesTokenizer.encode('In the beginning'), options)
    const callsByGenerate = counted.calls()
    assert.ok(callsByGenerate > 0)

    const inline = await complete(inlineRunner, model, options)
    assert.deepEqual(inline.bytes, Buffer.from(expected.bytes))
    assert.equal(inline.outcome.completionTokens, expected.completionTokens)
    assert.equal(counted.calls(), 2 * callsByGenerate, 'the inline runner computes on this thread')

    const runner = new WorkerRunner()
    try {
      const inWorker = await complete(runner, model, options)
      assert.deepEqual(inWorker.bytes, Buffer.from(expected.bytes))
      assert.deepEqual(inWorker.outcome, inline.outcome)
      assert.equal(counted.calls(), 2 * callsByGenerate, 'no kernel ran on this thread for the worker')
    } finally {
      await runner.close()
    }
  })

  it('stop a completion whose signal aborts, and go on serving; a closed runner starts afresh', async () => {
    const model = loadLocalModel({ backboneDir: dir, adaptersFile, kernels: tsKernels })
    const runner = new WorkerRunner()
    try {
      const abort = new AbortController()
      const long = complete(runner, model, { ...options, maxTokens: 500 }, abort.signal)
      const short = complete(runner, model, options)
      abort.abort(new Error('client left'))
      await assert.rejects(long, /client left/)
      assert.equal((await short).outcome.completionTokens, 20)
      await runner.close()
      assert.equal((await complete(runner, model, options)).outcome.completionTokens, 20)
    } finally {
      await runner.close()
    }
  })

  it('report a failing completion as an error with its code', async () => {
    const model = loadLocalModel({ backboneDir: dir, adaptersFile, kernels: tsKernels })
    const runner = new WorkerRunner()
    try {
      await assert.rejects(complete(runner, model, { ...options, maxTokens: 0 }), (error: Error & { code: string }) => {
        assert.equal(error.code, 'ERR_ML_CONFIG')
        assert.match(error.message, /maxTokens/)
        return true
      })
    } finally {
      await runner.close()
    }
  })
})
