/**
 * Published BitNet b1.58 checkpoints: a small one generated in the Hugging Face layout by
 * test/fixtures/bitnet/bitnet_checkpoint.py (numpy only), loaded by our reader, and its logits
 * checked against that script's own forward pass written from transformers' definitions.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ExitCode } from '../../src/cli/command.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { loadBackbone } from '../../src/ml/artifacts.ts'
import { interleaveRotaryRows, loadHfBitNet, unpackTernary } from '../../src/ml/checkpoint/hf-bitnet.ts'
import { checkpointLogits } from '../../src/ml/checkpoint/run.ts'
import { decodeSafetensors, encodeSafetensors, type RawTensor } from '../../src/ml/checkpoint/safetensors.ts'
import { loadCheckpointTokenizer } from '../../src/ml/checkpoint/tokenizer.ts'
import { defaultLora } from '../../src/ml/config.ts'
import { CheckpointError } from '../../src/ml/errors.ts'
import type { Kernels } from '../../src/ml/kernels/contract.ts'
import { cpuKernels, nativeStatus } from '../../src/ml/kernels/native.ts'
import { tsKernels } from '../../src/ml/kernels/ts-kernels.ts'
import { type StageRun, stageBackward, stageForward } from '../../src/ml/model.ts'
import { adamwStep, defaultAdamW, initAdamW } from '../../src/ml/optimizer.ts'
import { initAdapters } from '../../src/ml/weights.ts'
import { cli } from '../helpers/cli.ts'

const SCRIPT = fileURLToPath(new URL('../fixtures/bitnet/bitnet_checkpoint.py', import.meta.url))
const PROMPT = [...Buffer.from('hello world, a BitNet checkpoint!')]
/**
 * Logits agree to 1e-4 of the largest logit. The two sides differ only in float32 rounding
 * order (numpy's BLAS sums; the reference dequantizes activations before the product, we scale
 * the exact integer product after; ties of the int8 rounding, half-even there and half-away here,
 * do not occur with these random weights). One activation landing on another int8 level would
 * move logits by about 1e-2 of their range, far past this bound; a wrong packing, scale or rotary
 * order moves them by their whole size.
 */
const TOLERANCE = 1e-4

function python(...args: string[]): string {
  return execFileSync('python3', [SCRIPT, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
}

function referenceLogits(dir: string, ids: readonly number[]): number[][] {
  return JSON.parse(python('logits', dir, '--tokens', ids.join(','))).logits
}

function compare(ours: Float32Array, ref: number[][], vocab: number): { maxDiff: number; maxLogit: number } {
  let maxDiff = 0
  let maxLogit = 0
  ref.forEach((row, t) => {
    row.forEach((y, v) => {
      maxDiff = Math.max(maxDiff, Math.abs((ours[t * vocab + v] as number) - y))
      maxLogit = Math.max(maxLogit, Math.abs(y))
    })
  })
  return { maxDiff, maxLogit }
}

/** Why the checkpoint cannot be generated here, or null: it needs python3 with numpy. */
const numpyMissing = ((): string | null => {
  const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' })
  return probe.status === 0 ? null : String(probe.error ?? probe.stderr).trim()
})()

const bytesOf = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength)

const suffix = numpyMissing === null ? '' : ` (skipped: python3 with numpy generates the checkpoint: ${numpyMissing})`
describe(`ml/checkpoint: Hugging Face BitNet b1.58 checkpoints${suffix}`, function () {
  this.timeout(120_000)
  let root: string
  before(function () {
    if (numpyMissing !== null) this.skip()
    root = mkdtempSync(join(tmpdir(), 'r3mes-hf-bitnet-'))
    python('write', join(root, 'plain'))
    python('write', join(root, 'tied'), '--tie', '--shards', '2', '--linear-class', 'bitlinear', '--seed', '5')
  })
  after(() => {
    if (root !== undefined) rmSync(root, { recursive: true, force: true })
  })

  const backends: [string, Kernels | null][] = [
    ['ts', tsKernels],
    ['cpu', nativeStatus().available ? cpuKernels : null],
  ]
  for (const variant of ['plain', 'tied'] as const) {
    const what =
      variant === 'plain'
        ? 'one file, AutoBitLinear scales, separate head'
        : 'two shards, BitLinear (inverse) scales, tied head'
    it(`logits match the independent numpy forward pass (${what}), the same bytes on every backend`, () => {
      const dir = join(root, variant)
      const model = loadHfBitNet(dir)
      assert.equal(model.config.nKvHeads, 2)
      assert.equal(model.config.ffnGate, true)
      assert.equal(model.config.tieEmbeddings, variant === 'tied')
      const ref = referenceLogits(dir, PROMPT)
      const results = backends
        .filter((b): b is [string, Kernels] => b[1] !== null)
        .map(([name, K]) => [name, checkpointLogits(K, model.stage, PROMPT)] as const)
      const [, ours] = results[0] as readonly [string, Float32Array]
      const { maxDiff, maxLogit } = compare(ours, ref, 256)
      assert.ok(maxLogit > 1, `logits of a real size (${maxLogit})`)
      assert.ok(maxDiff <= TOLERANCE * maxLogit, `max |ours − numpy| = ${maxDiff}, largest logit ${maxLogit}`)
      for (const [name, logits] of results.slice(1)) assert.ok(bytesOf(logits).equals(bytesOf(ours)), `${name} vs ts`)
    })
  }

  it('import writes backbone artifacts that load to the same model, and LoRA training on it lowers the loss', async () => {
    const dir = join(root, 'plain')
    const out = join(root, 'imported')
    const { code, out: printed } = await cli(
      'ml',
      'checkpoint',
      'import',
      dir,
      '--out',
      out,
      '--name',
      'bitnet-test',
      '--json',
    )
    assert.equal(code, ExitCode.ok)
    assert.equal(JSON.parse(printed).layers, 2)
    const { stage } = loadBackbone(out)
    assert.equal(stage.config.name, 'bitnet-test')
    const direct = checkpointLogits(tsKernels, loadHfBitNet(dir).stage, PROMPT)
    assert.ok(bytesOf(checkpointLogits(tsKernels, stage, PROMPT)).equals(bytesOf(direct)))

    // The network trains adapters on an imported backbone: a few LoRA steps on one batch.
    const tokens = PROMPT.length - 1
    const run: StageRun = {
      kernels: tsKernels,
      stage,
      adapters: initAdapters(stage.config, defaultLora, 0, 2, deriveKey('hf-test', 'lora')),
      lora: defaultLora,
      sequences: 1,
      tokens,
    }
    const inputs = Int32Array.from(PROMPT.slice(0, tokens))
    const targets = Int32Array.from(PROMPT.slice(1))
    const state = initAdamW(run.adapters)
    const losses: number[] = []
    for (let step = 0; step < 15; step++) {
      const fw = stageForward(run, { kind: 'tokens', tokens: inputs }, targets)
      losses.push(fw.loss as number)
      const { grads } = stageBackward(run, fw)
      assert.ok(grads.has('L0.gate.loraA'), 'the gate projection has an adapter')
      adamwStep(tsKernels, run.adapters, grads, state, { ...defaultAdamW, lr: 1e-2 })
    }
    assert.ok((losses.at(-1) as number) < (losses[0] as number) * 0.8, `loss ${losses[0]} → ${losses.at(-1)}`)
  })

  it('inspect lists config, parameters and tensors; generate continues a prompt greedily as numpy does', async () => {
    const dir = join(root, 'tied')
    const inspect = await cli('ml', 'checkpoint', 'inspect', dir, '--json')
    assert.equal(inspect.code, ExitCode.ok)
    const info = JSON.parse(inspect.out)
    assert.equal(info.linearClass, 'bitlinear')
    // Embedding 256·64 (tied), final norm 64, per layer 4 norms and 7 ternary matrices.
    assert.equal(info.parameters, 256 * 64 + 64 + 2 * (3 * 64 + 128 + 64 * 64 * 2 + 32 * 64 * 2 + 128 * 64 * 3))
    assert.ok(info.tensors.some((t: { name: string; file: string }) => t.file === 'model-00002-of-00002.safetensors'))
    assert.ok(!info.tensors.some((t: { name: string }) => t.name === 'lm_head.weight'))

    const gen = await cli(
      'ml',
      'checkpoint',
      'generate',
      dir,
      '--prompt',
      'hello',
      '--max-tokens',
      '3',
      '--backend',
      'ts',
      '--json',
    )
    assert.equal(gen.code, ExitCode.ok)
    const result = JSON.parse(gen.out)
    assert.deepEqual(result.promptIds, [104, 101, 108, 108, 111], 'the byte-level tokenizer.json gives byte ids')
    const argmax = (row: number[]) => row.indexOf(Math.max(...row))
    const context = [...result.promptIds]
    for (const id of result.completionIds) {
      assert.equal(id, argmax(referenceLogits(dir, context).at(-1) as number[]))
      context.push(id)
    }
  })

  it('reads tokenizer.json with the tokenizer library', () => {
    const tokenizer = loadCheckpointTokenizer(join(root, 'plain', 'tokenizer.json'))
    assert.deepEqual(tokenizer.encode('hé!'), [...Buffer.from('hé!')])
    assert.equal(tokenizer.decode([...Buffer.from('hé!')]), 'hé!')
  })

  it('unpacks four codes per byte along the output rows and interleaves rotary halves', () => {
    // Rows 0..3 of a [4, 1] matrix sit in bits 0-1, 2-3, 4-5, 6-7 of one byte; value = code − 1.
    assert.deepEqual([...unpackTernary(Uint8Array.of(0b10_01_00_10), 4, 1, 'w')], [1, -1, 0, 1])
    assert.throws(() => unpackTernary(Uint8Array.of(0b11), 4, 1, 'w'), /invalid ternary code 3/)
    // One head of dim 4: rows [a, b, c, d] (pairs a–c, b–d) become [a, c, b, d].
    assert.deepEqual([...interleaveRotaryRows(Int8Array.of(1, 2, 3, 4), 1, 4, 1)], [1, 3, 2, 4])
  })

  describe('a corrupt or incomplete checkpoint gets an error naming the file and tensor', () => {
    let n = 0
    /** A copy of the plain checkpoint with its tensors edited. */
    function corrupt(edit: (tensors: Map<string, RawTensor>) => void, config?: (c: Record<string, unknown>) => void) {
      const src = join(root, 'plain')
      const dir = join(root, `corrupt-${n++}`)
      execFileSync('cp', ['-r', src, dir])
      const file = join(dir, 'model.safetensors')
      const { tensors } = decodeSafetensors(readFileSync(file), file)
      edit(tensors)
      writeFileSync(file, encodeSafetensors(tensors))
      if (config !== undefined) {
        const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
        config(c)
        writeFileSync(join(dir, 'config.json'), JSON.stringify(c))
      }
      return dir
    }
    const expectError = (dir: string, pattern: RegExp, tensor?: string) =>
      assert.throws(
        () => loadHfBitNet(dir),
        (e: unknown) => {
          assert.ok(e instanceof CheckpointError, String(e))
          assert.match(e.message, pattern)
          assert.ok(e.message.includes(dir), `names the file: ${e.message}`)
          if (tensor !== undefined) assert.ok(e.message.includes(`'${tensor}'`), `names the tensor: ${e.message}`)
          return true
        },
      )
    const norm = 'model.layers.1.mlp.ffn_sub_norm.weight'
    const q = 'model.layers.0.self_attn.q_proj.weight'

    it('a missing tensor', () => {
      expectError(
        corrupt((t) => t.delete(norm)),
        /lacks tensor/,
        norm,
      )
    })
    it('a wrong shape', () => {
      expectError(
        corrupt((t) => t.set(norm, { dtype: 'BF16', shape: [64], bytes: new Uint8Array(128) })),
        /has shape \[64\], expected \[128\]/,
        norm,
      )
    })
    it('a bad dtype', () => {
      const w = (t: Map<string, RawTensor>) => t.get(q) as RawTensor
      expectError(
        corrupt((t) => t.set(q, { ...w(t), dtype: 'I8' })),
        /is I8, expected U8/,
        q,
      )
      expectError(
        corrupt((t) => t.set(norm, { dtype: 'U8', shape: [128], bytes: new Uint8Array(128) })),
        /is U8/,
        norm,
      )
    })
    it('an invalid ternary code, a non-positive scale, a non-finite norm', () => {
      expectError(
        corrupt((t) => (t.get(q) as RawTensor).bytes.fill(0xff)),
        /invalid ternary code 3/,
        q,
      )
      const scale = 'model.layers.1.mlp.down_proj.weight_scale'
      expectError(
        corrupt((t) => (t.get(scale) as RawTensor).bytes.fill(0x80)),
        /must be positive/,
        scale,
      )
      expectError(
        corrupt((t) => (t.get(norm) as RawTensor).bytes.set([0xc0, 0x7f], 6)),
        /non-finite value at 3/,
        norm,
      )
    })
    it('a config the model cannot follow', () => {
      expectError(
        corrupt(
          () => {},
          (c) => (c.hidden_act = 'silu'),
        ),
        /config\.json: hidden_act "silu"/,
      )
      expectError(
        corrupt(
          () => {},
          (c) => delete c.hidden_size,
        ),
        /hidden_size must be a positive integer/,
      )
      expectError(
        corrupt(
          () => {},
          (c) => (c.num_key_value_heads = 3),
        ),
        /nKvHeads/,
      )
      expectError(
        corrupt(
          () => {},
          (c) => (c.vocab_size = 300),
        ),
        /vocabSize|expected \[300, 64\]/,
      )
      expectError(
        corrupt(
          () => {},
          (c) => ((c.quantization_config as Record<string, unknown>).quantization_mode = 'online'),
        ),
        /only "offline"/,
      )
    })
    it('no weights at all, or a truncated file', () => {
      const dir = corrupt(() => {})
      writeFileSync(join(dir, 'model.safetensors'), readFileSync(join(dir, 'model.safetensors')).subarray(0, 1000))
      expectError(dir, /truncated|fall outside/)
      rmSync(join(dir, 'model.safetensors'))
      expectError(dir, /neither model\.safetensors nor model\.safetensors\.index\.json/)
    })
  })
})
