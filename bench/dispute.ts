/**
 * `npm run bench -- dispute [--json]`: what an L3 arbiter spends on one dispute, on the
 * default testnet's model and stages (topology/default.yaml: `tiny`, subnets of layers [0, 4)
 * and [4, 8), the training protocol's batch), measured side by side in one run with the
 * arbiter's kernels (native CPU when built, else, or with `--ts`, the TypeScript reference):
 *
 * - fullSeconds: a whole-stage re-execution (forward, backward, gradient encoding), what a
 *   dispute without step traces costs.
 * - bisectSeconds: a dispute by bisection, fetch-free: decode both step-trace indexes, build
 *   both Merkle trees and find the first difference, hash the step's inputs against their
 *   leaves, and re-execute the worst-case single step (the slowest of the stage's steps).
 * - fullOverBisect: their ratio.
 * - fullOverWindow, bisectOverWindow: each against the default window (windowBlocks ×
 *   blockTimeMs). Target: the L3 cost ≤ 0.5 × the window.
 *
 * Each figure is the median of several rounds, interleaved.
 */
import { fileURLToPath } from 'node:url'
import { encodeGradient, initialAdapterState, taskTokens, trainingProtocol } from '../src/actors/training/protocol.ts'
import { type StageContext, stageRunOf, tracedBackward, tracedForward } from '../src/actors/training/stage-work.ts'
import {
  decodeStepTrace,
  encodeStepTrace,
  STEP_TRACE_KIND,
  stepBytes,
  stepLeaf,
  stepTree,
} from '../src/actors/training/step-trace.ts'
import { localTestnetParams } from '../src/chain/params.ts'
import type { Task } from '../src/chain/state.ts'
import { cidOf } from '../src/codec/cid.ts'
import { firstDifference } from '../src/codec/merkle.ts'
import { deriveKey } from '../src/codec/prng.ts'
import { getModelConfig } from '../src/ml/config.ts'
import type { Kernels } from '../src/ml/kernels/contract.ts'
import { cpuKernels, nativeStatus } from '../src/ml/kernels/native.ts'
import { tsKernels } from '../src/ml/kernels/ts-kernels.ts'
import { isGivenStep, layerGradsOf, runStep, type StepSpec, stepPlan } from '../src/ml/steps.ts'
import { initStageWeights, type Params } from '../src/ml/weights.ts'
import { loadTopology } from '../src/topology/load.ts'

const DEFAULT_TOPOLOGY = fileURLToPath(new URL('../topology/default.yaml', import.meta.url))
const ROUNDS = 3

function seconds(fn: () => void): number {
  const t0 = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t0) / 1e9
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

interface StageFigures {
  readonly layers: readonly [number, number]
  readonly steps: number
  readonly fullSeconds: number
  readonly worstStep: string
  readonly worstStepSeconds: number
  readonly locateSeconds: number
  readonly bisectSeconds: number
  readonly fullOverBisect: number
}

function measureStage(kernels: Kernels, modelName: string, layers: readonly [number, number]): StageFigures {
  const config = getModelConfig(modelName)
  const protocol = trainingProtocol(config, localTestnetParams)
  const [first, end] = layers
  const stage = initStageWeights(config, first, end, deriveKey('bench/dispute', 'backbone'))
  const state = initialAdapterState(config, protocol, 'bench', 0, [first, end])
  const rows = protocol.sequences * protocol.tokens
  const tokens = Int32Array.from({ length: rows }, (_, i) => (i * 31 + 7) % config.vocabSize)
  const targets = Int32Array.from({ length: rows }, (_, i) => (i * 17 + 3) % config.vocabSize)
  const ctx: StageContext = {
    kernels,
    stage,
    adapters: state.adapters,
    protocol,
    batch: { sequences: protocol.sequences, tokens: protocol.tokens, inputs: tokens, targets },
  }
  const task = { id: '1.0.0' } as Task
  const input =
    first === 0 ? null : Float32Array.from({ length: rows * config.dModel }, (_, i) => Math.sin(i * 0.01) * 0.5)
  const dOutput =
    end === config.nLayers
      ? null
      : Float32Array.from({ length: rows * config.dModel }, (_, i) => Math.cos(i * 0.01) * 1e-3)

  // The honest run, whose steps both parties' traces are built from.
  const fw = tracedForward(ctx, input)
  const bw = tracedBackward(ctx, fw, dOutput)
  const gradient = encodeGradient(bw.grads, task, taskTokens(protocol))
  const bytes = stepBytes(bw.steps, gradient)
  const leaves = bytes.map(stepLeaf)
  const plan = stepPlan(stage)
  const index = (ls: readonly string[]) =>
    encodeStepTrace({
      v: 1,
      kind: STEP_TRACE_KIND,
      task: task.id,
      leaves: ls,
      tensors: bytes.map((b) => cidOf(b).toString()),
    })

  const full = (): void => {
    const f = tracedForward(ctx, input)
    const b = tracedBackward(ctx, f, dOutput)
    encodeGradient(b.grads, task, taskTokens(protocol))
  }
  // One step re-executed from its inputs' bytes, each hashed against its leaf first.
  const run = stageRunOf(ctx)
  const step = (spec: StepSpec | undefined): (() => void) => {
    const reads = spec === undefined ? plan.filter((p) => p.kind === 'layerBackward').map((p) => p.index) : spec.deps
    return () => {
      for (const j of reads) stepLeaf(bytes[j] as Uint8Array)
      if (spec === undefined) {
        const grads: Params = new Map()
        for (const p of plan.filter((s) => s.kind === 'layerBackward'))
          for (const [n, g] of layerGradsOf(run, p.layer as number, bytesToF32(bytes[p.index] as Uint8Array)))
            grads.set(n, g)
        encodeGradient(grads, task, taskTokens(protocol))
        return
      }
      runStep(
        run,
        spec,
        spec.deps.map((j) => bytesToF32(bytes[j] as Uint8Array)),
        { tokens, targets },
      )
    }
  }
  const computed = [...plan.filter((s) => !isGivenStep(s)), undefined]
  const stepTimes = computed.map(() => [] as number[])
  const fullTimes: number[] = []
  const locateTimes: number[] = []
  // The worst case for locating: the traces part at the last step (the deepest descent).
  const owner = index(leaves)
  const challenger = index([...leaves.slice(0, -1), '00'.repeat(32)])
  const locate = (): void => {
    const a = decodeStepTrace(owner)
    const b = decodeStepTrace(challenger)
    firstDifference(stepTree(a.leaves), stepTree(b.leaves))
  }
  full()
  for (let r = 0; r < ROUNDS; r++) {
    fullTimes.push(seconds(full))
    locateTimes.push(seconds(locate))
    computed.forEach((spec, i) => {
      stepTimes[i]?.push(seconds(step(spec)))
    })
  }
  const medians = stepTimes.map(median)
  let worst = 0
  for (let i = 1; i < medians.length; i++) if ((medians[i] as number) > (medians[worst] as number)) worst = i
  const worstSpec = computed[worst]
  const worstStepSeconds = medians[worst] as number
  const locateSeconds = median(locateTimes)
  const fullSeconds = median(fullTimes)
  const bisectSeconds = locateSeconds + worstStepSeconds
  return {
    layers,
    steps: plan.length + 1,
    fullSeconds,
    worstStep:
      worstSpec === undefined
        ? 'gradient'
        : `${worstSpec.index} ${worstSpec.kind}${worstSpec.layer === null ? '' : ` L${worstSpec.layer}`}`,
    worstStepSeconds,
    locateSeconds,
    bisectSeconds,
    fullOverBisect: fullSeconds / bisectSeconds,
  }
}

function bytesToF32(b: Uint8Array): Float32Array {
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
}

export async function runDisputeBench(json: boolean, args: readonly string[]): Promise<void> {
  const topology = await loadTopology(DEFAULT_TOPOLOGY)
  const windowSeconds = (topology.chain.params.windowBlocks * topology.chain.params.blockTimeMs) / 1000
  // `--ts`: the TypeScript reference kernels, what an arbiter without the native build runs.
  const native = nativeStatus().available && !args.includes('--ts')
  const kernels = native ? cpuKernels : tsKernels
  const stages = topology.subnets.map((s) => measureStage(kernels, topology.model, s.layers))
  // The L3 cost of a dispute: each arbiter settles it alone, in parallel; the slowest stage bounds it.
  const fullSeconds = Math.max(...stages.map((s) => s.fullSeconds))
  const bisectSeconds = Math.max(...stages.map((s) => s.bisectSeconds))
  const result = {
    suite: 'dispute',
    model: topology.model,
    backend: native ? 'cpu' : 'ts',
    windowSeconds,
    stages,
    fullSeconds,
    bisectSeconds,
    fullOverBisect: fullSeconds / bisectSeconds,
    fullOverWindow: fullSeconds / windowSeconds,
    bisectOverWindow: bisectSeconds / windowSeconds,
    targetOverWindow: 0.5,
  }
  if (json) {
    console.log(JSON.stringify(result, roundNumbers))
    return
  }
  console.log(`dispute cost on ${result.model} (${result.backend} kernels), window ${windowSeconds} s`)
  for (const s of stages) {
    console.log(`\n== stage [${s.layers[0]}, ${s.layers[1]}): ${s.steps} steps`)
    console.log(`  full re-execution:     ${s.fullSeconds.toFixed(3)} s`)
    console.log(`  locate (2 indexes):    ${(s.locateSeconds * 1000).toFixed(3)} ms`)
    console.log(`  worst step (${s.worstStep}): ${s.worstStepSeconds.toFixed(3)} s`)
    console.log(
      `  bisection dispute:     ${s.bisectSeconds.toFixed(3)} s (full / bisect ${s.fullOverBisect.toFixed(2)}×)`,
    )
  }
  console.log(
    `\nL3 cost: full ${fullSeconds.toFixed(3)} s = ${result.fullOverWindow.toFixed(3)} × window; ` +
      `bisection ${bisectSeconds.toFixed(3)} s = ${result.bisectOverWindow.toFixed(3)} × window (target ≤ 0.5)`,
  )
}

function roundNumbers(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(4)) : value
}
