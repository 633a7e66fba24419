/**
 * `npm run bench -- dispute [--json]`: what an L3 arbiter spends on one dispute, on the
 * default testnet's model and stages (topology/default.yaml: `tiny`, subnets of layers [0, 4)
 * and [4, 8), the training protocol of its chain params: H inner steps of M micro-batches),
 * measured side by side in one run with the arbiter's kernels (native CPU when built, else, or
 * with `--ts`, the TypeScript reference):
 *
 * - fullSeconds: a whole-task re-execution of a stage (H inner steps from the received
 *   tensors, every inner step's leaf and the pseudo-gradient encoded), what a challenger (and
 *   a dispute without step traces) costs.
 * - bisectSeconds: a dispute by bisection, fetch-free: decode both step-trace indexes, build
 *   both Merkle trees and find the first difference, hash the state before the step against
 *   its leaf and decode it, and re-execute that one inner step (the last: any step costs the
 *   same) and hash its leaf.
 * - spotSeconds: a challenger's spot check (spot-check.ts) with the default k drawn inner
 *   steps, fetch-free: decode and check the owner's index against its commitments, hash and
 *   decode the last inner state and recompute the pseudo-gradient from it, then for each drawn
 *   step hash and decode the state before it, re-execute it and hash its leaf. Beside it, the
 *   inner steps each check runs and the bytes it reads (a whole re-execution: the received
 *   tensors; a spot check: also the states it starts from).
 * - storedBytes: what a miner stores per task for a verifier (inner-step leaves, received
 *   tensors, pseudo-gradient, index and trace).
 * - fullOverWindow, bisectOverWindow: each against the default window (windowBlocks ×
 *   blockTimeMs). Target: the L3 cost ≤ 0.5 × the window.
 *
 * Each figure is the median of several rounds, interleaved.
 */
import { fileURLToPath } from 'node:url'
import { drawnSteps, spotCheckSteps } from '../src/actors/roles/spot-check.ts'
import {
  encodeGradient,
  encodeTrace,
  f32Bytes,
  initialAdapterState,
  taskTokens,
  trainingProtocol,
} from '../src/actors/training/protocol.ts'
import { type InnerStepRecord, runStage, type StageLinks, StageTrainer } from '../src/actors/training/stage-trainer.ts'
import {
  decodeStepTrace,
  encodeStepTrace,
  innerStateOf,
  innerStepBytes,
  STEP_TRACE_KIND,
  stepLeaf,
  stepRoot,
  stepTree,
} from '../src/actors/training/step-trace.ts'
import type { Params as ChainParams } from '../src/chain/params.ts'
import type { Task } from '../src/chain/state.ts'
import { cidOf } from '../src/codec/cid.ts'
import { firstDifference } from '../src/codec/merkle.ts'
import { deriveKey } from '../src/codec/prng.ts'
import { getModelConfig } from '../src/ml/config.ts'
import type { Kernels } from '../src/ml/kernels/contract.ts'
import { cpuKernels, nativeStatus } from '../src/ml/kernels/native.ts'
import { tsKernels } from '../src/ml/kernels/ts-kernels.ts'
import { initStageWeights } from '../src/ml/weights.ts'
import { loadTopology } from '../src/topology/load.ts'
import { DEFAULT_SPOT_STEPS } from '../src/topology/roles.ts'

const DEFAULT_TOPOLOGY = fileURLToPath(new URL('../topology/default.yaml', import.meta.url))
const ROUNDS = 3

async function seconds(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t0) / 1e9
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

interface StageFigures {
  readonly layers: readonly [number, number]
  readonly innerSteps: number
  readonly microBatches: number
  readonly fullSeconds: number
  readonly innerStepSeconds: number
  readonly locateSeconds: number
  readonly bisectSeconds: number
  readonly fullOverBisect: number
  readonly spotSteps: number
  readonly spotSeconds: number
  readonly fullOverSpot: number
  readonly fullReadBytes: number
  readonly spotReadBytes: number
  readonly storedBytes: number
  readonly leafBytes: number
}

async function measureStage(
  kernels: Kernels,
  modelName: string,
  params: ChainParams,
  layers: readonly [number, number],
): Promise<StageFigures> {
  const config = getModelConfig(modelName)
  const protocol = trainingProtocol(config, params)
  const [first, end] = layers
  const stage = initStageWeights(config, first, end, deriveKey('bench/dispute', 'backbone'))
  const state = initialAdapterState(config, protocol, 'bench', 0, [first, end])
  const rows = protocol.sequences * protocol.tokens
  const batch = {
    sequences: protocol.sequences,
    tokens: protocol.tokens,
    inputs: Int32Array.from({ length: rows }, (_, i) => (i * 31 + 7) % config.vocabSize),
    targets: Int32Array.from({ length: rows }, (_, i) => (i * 17 + 3) % config.vocabSize),
  }
  const task = { id: '1.0.0' } as Task
  const M = protocol.microBatches
  const width = (rows / M) * config.dModel
  // The tensors the stage receives: activations from upstream, output gradients from downstream.
  const received = (step: number, micro: number, direction: string): Float32Array =>
    Float32Array.from({ length: width }, (_, i) =>
      direction === 'forward'
        ? Math.sin((i + step * 7 + micro * 3) * 0.01) * 0.5
        : Math.cos((i + step * 5 + micro) * 0.01) * 1e-3,
    )
  const links: StageLinks = {
    receive: async (step, micro, direction) => received(step, micro, direction),
    send: async () => undefined,
  }
  const init = { kernels, stage, protocol, batchOf: () => batch, start: state.adapters }

  // The honest run, whose leaves both parties' traces are built from.
  const records: InnerStepRecord[] = []
  const honest = new StageTrainer(init)
  await runStage(honest, links, { onStep: (r) => void records.push(r) })
  const leafBytes = records.map(innerStepBytes)
  const gradient = encodeGradient(honest.pseudoGradient(), task, taskTokens(protocol))
  const bytes = [...leafBytes, gradient]
  const leaves = bytes.map(stepLeaf)
  const index = (ls: readonly string[]) =>
    encodeStepTrace({
      v: 2,
      kind: STEP_TRACE_KIND,
      task: task.id,
      leaves: ls,
      tensors: bytes.map((b) => cidOf(b).toString()),
    })

  const full = async (): Promise<void> => {
    const t = new StageTrainer(init)
    const all: Uint8Array[] = []
    await runStage(t, links, { onStep: (r) => void all.push(innerStepBytes(r)) })
    all.push(encodeGradient(t.pseudoGradient(), task, taskTokens(protocol)))
    stepRoot(all.map(stepLeaf))
  }
  // The last inner step re-executed from the owner's state after the one before it.
  const last = protocol.innerSteps - 1
  const innerStep = async (): Promise<void> => {
    const before = last === 0 ? undefined : (leafBytes[last - 1] as Uint8Array)
    if (before !== undefined) stepLeaf(before)
    const resume = before === undefined ? {} : { resume: { step: last, state: innerStateOf(before).state } }
    const t = new StageTrainer({ ...init, ...resume })
    await runStage(t, links, { steps: 1, onStep: (r) => void stepLeaf(innerStepBytes(r)) })
  }
  // The worst case for locating: the traces part at the last leaf (the deepest descent).
  const owner = index(leaves)
  const challenger = index([...leaves.slice(0, -1), '00'.repeat(32)])
  const locate = async (): Promise<void> => {
    const a = decodeStepTrace(owner)
    const b = decodeStepTrace(challenger)
    firstDifference(stepTree(a.leaves), stepTree(b.leaves))
  }
  // The spot check, over the owner's content held in memory by CID (every read counted).
  const held = new Map<string, Uint8Array>()
  const hold = (b: Uint8Array): string => {
    const cid = cidOf(b).toString()
    held.set(cid, b)
    return cid
  }
  const receivedCids = (direction: string): string[] =>
    Array.from({ length: protocol.innerSteps * M }, (_, i) =>
      hold(f32Bytes(received(Math.floor(i / M), i % M, direction))),
    )
  bytes.forEach(hold)
  const stageTrace = {
    v: 3 as const,
    task: task.id,
    adapterState: 'initial' as const,
    inputs: first === 0 ? null : receivedCids('forward'),
    dOutputs: end === config.nLayers ? null : receivedCids('backward'),
    steps: hold(index(leaves)),
    stepRoot: stepRoot(leaves),
  }
  let readBytes = 0
  const fetch = async (cid: string): Promise<Uint8Array | undefined> => {
    const b = held.get(cid)
    readBytes += b?.length ?? 0
    return b
  }
  const drawn = drawnSteps(new TextEncoder().encode('bench'), 'bench-claim', protocol.innerSteps, DEFAULT_SPOT_STEPS)
  const claim = { cid: cidOf(gradient).toString() }
  const spot = async (): Promise<void> => {
    const verdict = await spotCheckSteps({ task, claim, trace: stageTrace, init, fetch, steps: drawn })
    if (verdict.kind !== 'reproduces') throw new Error(`the spot check of an honest trace ${verdict.kind}`)
  }
  readBytes = 0
  await spot()
  const spotReadBytes = readBytes
  const fullTimes: number[] = []
  const spotTimes: number[] = []
  const stepTimes: number[] = []
  const locateTimes: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    fullTimes.push(await seconds(full))
    locateTimes.push(await seconds(locate))
    stepTimes.push(await seconds(innerStep))
    spotTimes.push(await seconds(spot))
  }
  const spotSeconds = median(spotTimes)
  const locateSeconds = median(locateTimes)
  const innerStepSeconds = median(stepTimes)
  const fullSeconds = median(fullTimes)
  const bisectSeconds = locateSeconds + innerStepSeconds
  // What the miner stores for a verifier: every leaf, the tensors it received, the rest.
  const directions = (first === 0 ? 0 : 1) + (end === config.nLayers ? 0 : 1)
  const receivedBytes = directions * protocol.innerSteps * M * width * 4
  const cids = Array.from({ length: protocol.innerSteps * M }, (_, i) =>
    cidOf(f32Bytes(received(i, 0, 'x'))).toString(),
  )
  const trace = encodeTrace({
    v: 3,
    task: task.id,
    adapterState: 'initial',
    inputs: first === 0 ? null : cids,
    dOutputs: end === config.nLayers ? null : cids,
    steps: cidOf(owner).toString(),
    stepRoot: stepRoot(leaves),
  })
  const storedBytes =
    leafBytes.reduce((n, b) => n + b.length, 0) + receivedBytes + gradient.length + owner.length + trace.length
  return {
    layers,
    innerSteps: protocol.innerSteps,
    microBatches: M,
    fullSeconds,
    innerStepSeconds,
    locateSeconds,
    bisectSeconds,
    fullOverBisect: fullSeconds / bisectSeconds,
    spotSteps: drawn.length,
    spotSeconds,
    fullOverSpot: fullSeconds / spotSeconds,
    fullReadBytes: receivedBytes + gradient.length,
    spotReadBytes,
    storedBytes,
    leafBytes: leafBytes[0]?.length ?? 0,
  }
}

export async function runDisputeBench(json: boolean, args: readonly string[]): Promise<void> {
  const topology = await loadTopology(DEFAULT_TOPOLOGY)
  const windowSeconds = (topology.chain.params.windowBlocks * topology.chain.params.blockTimeMs) / 1000
  // `--ts`: the TypeScript reference kernels, what an arbiter without the native build runs.
  const native = nativeStatus().available && !args.includes('--ts')
  const kernels = native ? cpuKernels : tsKernels
  const stages: StageFigures[] = []
  for (const s of topology.subnets)
    stages.push(await measureStage(kernels, topology.model, topology.chain.params, s.layers))
  // The L3 cost of a dispute: each arbiter settles it alone, in parallel; the slowest stage bounds it.
  const fullSeconds = Math.max(...stages.map((s) => s.fullSeconds))
  const bisectSeconds = Math.max(...stages.map((s) => s.bisectSeconds))
  // A challenger checks every stage's claims: its cost per window is the sum over stages.
  const fullCheckSeconds = stages.reduce((n, s) => n + s.fullSeconds, 0)
  const spotCheckSeconds = stages.reduce((n, s) => n + s.spotSeconds, 0)
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
    fullCheckSeconds,
    spotCheckSeconds,
    fullOverSpot: fullCheckSeconds / spotCheckSeconds,
    targetOverWindow: 0.5,
  }
  if (json) {
    console.log(JSON.stringify(result, roundNumbers))
    return
  }
  console.log(`dispute cost on ${result.model} (${result.backend} kernels), window ${windowSeconds} s`)
  for (const s of stages) {
    console.log(
      `\n== stage [${s.layers[0]}, ${s.layers[1]}): ${s.innerSteps} inner steps of ${s.microBatches} micro-batches`,
    )
    console.log(`  full re-execution:     ${s.fullSeconds.toFixed(3)} s`)
    console.log(`  locate (2 indexes):    ${(s.locateSeconds * 1000).toFixed(3)} ms`)
    console.log(`  one inner step:        ${s.innerStepSeconds.toFixed(3)} s`)
    console.log(
      `  stored per task:       ${(s.storedBytes / 2 ** 20).toFixed(2)} MiB (leaf ${(s.leafBytes / 1024).toFixed(0)} KiB)`,
    )
    console.log(
      `  bisection dispute:     ${s.bisectSeconds.toFixed(3)} s (full / bisect ${s.fullOverBisect.toFixed(2)}×)`,
    )
    console.log(
      `  spot check (k = ${s.spotSteps}):    ${s.spotSeconds.toFixed(3)} s (full / spot ${s.fullOverSpot.toFixed(2)}×, ` +
        `inner steps ${s.innerSteps} → ${s.spotSteps}, read ${(s.fullReadBytes / 2 ** 20).toFixed(2)} → ${(s.spotReadBytes / 2 ** 20).toFixed(2)} MiB)`,
    )
  }
  console.log(
    `\nL3 cost: full ${fullSeconds.toFixed(3)} s = ${result.fullOverWindow.toFixed(3)} × window; ` +
      `bisection ${bisectSeconds.toFixed(3)} s = ${result.bisectOverWindow.toFixed(3)} × window (target ≤ 0.5)`,
  )
  console.log(
    `challenger, one claim of each stage: whole ${fullCheckSeconds.toFixed(3)} s, spot ${spotCheckSeconds.toFixed(3)} s ` +
      `(${result.fullOverSpot.toFixed(2)}×)`,
  )
}

function roundNumbers(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(4)) : value
}
