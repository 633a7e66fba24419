/**
 * `npm run bench -- cuda [--json] [--quick] [--no-pytorch]`: the CUDA backend on the GPU, every
 * figure beside its baseline, both measured in this one run:
 *
 * - hbmRead, ternaryMatvec: the ternary matrix-vector product over 2-bit packed, device-resident
 *   weights (16384×16384) against a streaming read of GPU memory (target ≥ 0.5×) and against
 *   cuBLAS bf16 at the same shape (target ≥ 4×); checked bit for bit against the cpu backend.
 * - ternaryMatmul: the ternary matrix product at 4096³ (cuBLAS int8 tensor cores, exact int32
 *   sums, then the float scale) against cuBLAS bf16 (target ≥ 1.0×); checked bit for bit
 *   against the cpu backend. These three come from the CUDA library (src/cuda/bench.cu), the
 *   same code that `r3mes_cuda_harness bench` runs without Node.
 * - trainingStep: tokens per second of a LoRA training step (forward, backward, AdamW) on
 *   `tiny`, cuda against cpu on the same batch, and against PyTorch running the same model in
 *   bf16 without determinism (bench/pytorch_bitnet.py, when python3 with torch and a GPU is
 *   there): the ratio is the price of bit-exactness.
 *
 * Where no GPU is present it prints why and measures nothing.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { cpuKernels, cudaKernels, cudaStatus, loadNativeAddon, type NativeAddon } from '../src/ml/kernels/native.ts'
import { trainStepThroughput } from './ml-train.ts'

const PYTORCH_SCRIPT = fileURLToPath(new URL('./pytorch_bitnet.py', import.meta.url))

interface TrainingFigures {
  readonly config: string
  readonly sequences: number
  readonly tokens: number
  readonly cudaTokensPerSecond: number
  readonly cpuTokensPerSecond: number
  readonly cudaVsCpu: number
  readonly pytorchBf16TokensPerSecond?: number
  /** cuda tokens/s over PyTorch bf16 tokens/s: below 1 is what bit-exactness costs. */
  readonly cudaVsPytorchBf16?: number
  readonly pytorchSkipped?: string
}

function pytorchThroughput(
  sequences: number,
  tokens: number,
  steps: number,
): { tokensPerSecond?: number; why?: string } {
  const run = spawnSync(
    'python3',
    [PYTORCH_SCRIPT, '--sequences', String(sequences), '--tokens', String(tokens), '--steps', String(steps)],
    { encoding: 'utf8', timeout: 300_000 },
  )
  if (run.error !== undefined) return { why: `python3 did not run: ${run.error.message}` }
  if (run.status !== 0) return { why: `pytorch_bitnet.py failed: ${(run.stderr || run.stdout).trim().slice(-300)}` }
  const last = run.stdout.trim().split('\n').at(-1) ?? ''
  const parsed = JSON.parse(last) as { tokensPerSecond: number }
  return { tokensPerSecond: parsed.tokensPerSecond }
}

function trainingFigures(quick: boolean, withPytorch: boolean): TrainingFigures {
  const sequences = quick ? 1 : 4
  const tokens = quick ? 64 : 256
  const steps = quick ? 2 : 3
  const cuda = trainStepThroughput(cudaKernels, 'tiny', sequences, tokens, steps)
  const cpu = trainStepThroughput(cpuKernels, 'tiny', sequences, tokens, steps)
  const base = {
    config: 'tiny',
    sequences,
    tokens,
    cudaTokensPerSecond: cuda.tokensPerSecond,
    cpuTokensPerSecond: cpu.tokensPerSecond,
    cudaVsCpu: cuda.tokensPerSecond / cpu.tokensPerSecond,
  }
  if (!withPytorch) return { ...base, pytorchSkipped: '--no-pytorch' }
  const torch = pytorchThroughput(sequences, tokens, 20)
  if (torch.tokensPerSecond === undefined) return { ...base, pytorchSkipped: torch.why }
  return {
    ...base,
    pytorchBf16TokensPerSecond: torch.tokensPerSecond,
    cudaVsPytorchBf16: cuda.tokensPerSecond / torch.tokensPerSecond,
  }
}

export async function runCudaBench(json: boolean, args: readonly string[]): Promise<void> {
  const status = cudaStatus()
  if (!status.available) {
    const out = { available: false, reason: status.reason }
    console.log(json ? JSON.stringify(out) : `cuda bench skipped: ${status.reason}`)
    return
  }
  const quick = args.includes('--quick')
  const addon = loadNativeAddon().addon as NativeAddon
  const kernels = JSON.parse(addon.cudaBench(quick)) as Record<string, unknown>
  const training = trainingFigures(quick, !args.includes('--no-pytorch'))
  const result = { available: true, device: status.device, ...kernels, trainingStep: training }
  if (json) {
    console.log(JSON.stringify(result, null, 2))
    return
  }
  const k = kernels as {
    hbmRead: { bytesPerSecond: number }
    ternaryMatvec: { n: number; k: number; vsHbmRead: number; speedupVsBf16: number; bitExactWithCpu: boolean }
    ternaryMatmul: { m: number; opsPerSecond: number; speedupVsBf16: number; bitExactWithCpu: boolean }
  }
  console.log(`device: ${status.device}`)
  console.log(`HBM read: ${(k.hbmRead.bytesPerSecond / 1e12).toFixed(2)} TB/s`)
  console.log(
    `ternary matvec ${k.ternaryMatvec.n}×${k.ternaryMatvec.k}: ${k.ternaryMatvec.vsHbmRead.toFixed(2)}× HBM read, ` +
      `${k.ternaryMatvec.speedupVsBf16.toFixed(2)}× cuBLAS bf16, bit-exact with cpu: ${k.ternaryMatvec.bitExactWithCpu}`,
  )
  console.log(
    `ternary matmul ${k.ternaryMatmul.m}³: ${(k.ternaryMatmul.opsPerSecond / 1e12).toFixed(0)} TOPS, ` +
      `${k.ternaryMatmul.speedupVsBf16.toFixed(2)}× cuBLAS bf16, bit-exact with cpu: ${k.ternaryMatmul.bitExactWithCpu}`,
  )
  console.log(
    `training step (${training.config}, ${training.sequences}×${training.tokens} tokens): cuda ` +
      `${training.cudaTokensPerSecond.toFixed(0)} tok/s, cpu ${training.cpuTokensPerSecond.toFixed(0)} tok/s ` +
      `(${training.cudaVsCpu.toFixed(2)}×)` +
      (training.pytorchBf16TokensPerSecond === undefined
        ? `; PyTorch skipped: ${training.pytorchSkipped}`
        : `, PyTorch bf16 ${training.pytorchBf16TokensPerSecond.toFixed(0)} tok/s ` +
          `(cuda/PyTorch ${(training.cudaVsPytorchBf16 ?? 0).toFixed(3)})`),
  )
}
