/**
 * `npm run bench -- diloco [--json] [--replicas N] [--inner H] [--rounds R] [--inner-lr X]
 * [--outer-lr X] [--momentum X] [--sync-lr X] [--delay D]`: the network's training maths in one process,
 * beside synchronous training on the same number of tokens.
 *
 * The setting of the default testnet: the committed `tiny` backbone (models/tiny), LoRA
 * adapters, the Brown fiction training bytes split into the data set's shards, batches of
 * `sequences × tokens` as the protocol draws them. Pipeline stages do not change the maths,
 * so the whole model runs as one stage.
 *
 * - DiLoCo: each outer round, N replicas (a window's shards) start from the same adapters, each
 *   takes H inner AdamW steps (a fresh optimizer, as a task does) on its own shard; the mean
 *   pseudo-gradient Δ = θ_start − θ_end goes through one outer Nesterov step.
 * - Sync AdamW: one optimizer that takes one step per N batches (the same N × H × R batches,
 *   the same tokens), i.e. data-parallel training that communicates every step.
 *
 * Held-out loss (nats per byte, the serving node's evaluation: 4096 held-out tokens) is taken
 * after each outer round and after the matching number of sync steps. The figure that matters,
 * `dilocoVsSyncDrop`, is DiLoCo's loss drop over sync AdamW's. Also measured: the time of one
 * training step of a testnet stage (4 of the 8 layers, cpu kernels), which bounds H by the window.
 */
import { fileURLToPath } from 'node:url'
import { brownFictionDataset } from '../src/actors/training/datasets.ts'
import { shardBytes, trainingProtocol } from '../src/actors/training/protocol.ts'
import { localTestnetParams } from '../src/chain/params.ts'
import { deriveKey } from '../src/codec/prng.ts'
import { aggregateGradients } from '../src/ml/aggregate.ts'
import { loadBackbone } from '../src/ml/artifacts.ts'
import { defaultLora, getModelConfig } from '../src/ml/config.ts'
import { evalBatches, sampleBatch } from '../src/ml/data/dataset.ts'
import type { Kernels } from '../src/ml/kernels/contract.ts'
import { getKernels } from '../src/ml/kernels/select.ts'
import { type StageRun, stageBackward, stageForward } from '../src/ml/model.ts'
import { adamwStep, defaultAdamW, initAdamW } from '../src/ml/optimizer.ts'
import { nesterovStep, pseudoGradient } from '../src/ml/outer.ts'
import { clipGradients, evaluate } from '../src/ml/train.ts'
import { initAdapters, type Params, type StageWeights } from '../src/ml/weights.ts'

const MODEL_DIR = fileURLToPath(new URL('../models/tiny', import.meta.url))
const SEQUENCES = 4
const TOKENS = 64
const SHARD_COUNT = 64
const HELD_OUT_TOKENS = 4096

export interface DilocoSetting {
  readonly replicas: number
  readonly innerSteps: number
  readonly rounds: number
  readonly innerLr: number
  readonly outerLr: number
  readonly momentum: number
  readonly syncLr: number
  /**
   * Outer rounds by which the replicas' start lags the state their pseudo-gradients are applied
   * to. The network's is 1: a window's miners start from the last final aggregate, while the
   * previous window's is still settling, so each aggregate lands on a state one round newer
   * than the one its miners trained from.
   */
  readonly delay: number
}

export interface Curve {
  readonly tokens: number[]
  readonly loss: number[]
}

export interface DilocoReport {
  readonly setting: DilocoSetting
  readonly backend: string
  readonly tokensTrained: number
  readonly before: number
  readonly sync: Curve
  readonly diloco: Curve
  readonly syncDrop: number
  readonly dilocoDrop: number
  readonly dilocoVsSyncDrop: number
  /** One training step (forward, backward, AdamW) of a testnet stage: 4 layers of `tiny`. */
  readonly stageStepSeconds: number
  readonly seconds: number
}

const copy = (p: Params): Params => new Map([...p].map(([k, v]) => [k, v.slice()]))

function trainSteps(
  K: Kernels,
  stage: StageWeights,
  adapters: Params,
  state: ReturnType<typeof initAdamW>,
  lr: number,
  batches: readonly { inputs: Int32Array; targets: Int32Array; sequences: number }[],
): void {
  for (const batch of batches) {
    const run: StageRun = { kernels: K, stage, adapters, lora: defaultLora, sequences: batch.sequences, tokens: TOKENS }
    const fw = stageForward(run, { kind: 'tokens', tokens: batch.inputs }, batch.targets)
    const { grads } = stageBackward(run, fw)
    clipGradients(grads, 1)
    adamwStep(K, adapters, grads, state, { ...defaultAdamW, lr })
  }
}

function seconds(fn: () => void): number {
  const t0 = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t0) / 1e9
}

export function runDiloco(s: DilocoSetting, K: Kernels = getKernels('auto'), withSync = true): DilocoReport {
  const started = process.hrtime.bigint()
  const { stage } = loadBackbone(MODEL_DIR)
  const data = brownFictionDataset()
  const evalSet = evalBatches(data.heldOut, TOKENS, SEQUENCES, HELD_OUT_TOKENS)
  const loss = (adapters: Params): number => evaluate(K, stage, adapters, defaultLora, evalSet)
  const init = initAdapters(stage.config, defaultLora, 0, stage.config.nLayers, deriveKey('diloco-bench', 'lora'))
  const before = loss(init)
  const tokensPerBatch = SEQUENCES * TOKENS
  // The batch replica r trains at inner step h of round t: its own shard, a per-round key.
  const batchOf = (t: number, r: number, h: number) => {
    const shard = (t * s.replicas + r) % SHARD_COUNT
    const bytes = shardBytes(data.train, SHARD_COUNT, shard, TOKENS + 1)
    return sampleBatch(bytes, deriveKey(`round-${t}`, 'r3mes/batch/1'), h, SEQUENCES, TOKENS)
  }

  // DiLoCo: N replicas × H inner steps from the same start, mean pseudo-gradient, outer Nesterov.
  const diloco: Curve = { tokens: [0], loss: [before] }
  const theta = copy(init)
  const momentum: Params = new Map([...theta].map(([k, v]) => [k, new Float32Array(v.length)]))
  // The states of the last rounds, oldest first: the replicas of round t start from the one `delay` back.
  const history: Params[] = [copy(init)]
  for (let t = 0; t < s.rounds; t++) {
    const deltas = []
    const start = history[Math.max(0, history.length - 1 - s.delay)] as Params
    for (let r = 0; r < s.replicas; r++) {
      const local = copy(start)
      const batches = Array.from({ length: s.innerSteps }, (_, h) => batchOf(t, r, h))
      trainSteps(K, stage, local, initAdamW(local), s.innerLr, batches)
      deltas.push({ grads: pseudoGradient(K, start, local), tokens: s.innerSteps * tokensPerBatch })
    }
    nesterovStep(K, theta, momentum, aggregateGradients(K, deltas), { lr: s.outerLr, momentum: s.momentum })
    history.push(copy(theta))
    if (history.length > s.delay + 1) history.shift()
    diloco.tokens.push((t + 1) * s.replicas * s.innerSteps * tokensPerBatch)
    diloco.loss.push(loss(theta))
  }

  // Sync AdamW: one step per N batches (the same batches), data-parallel as if every step communicated.
  const sync: Curve = { tokens: [0], loss: [before] }
  const adapters = copy(init)
  const state = initAdamW(adapters)
  for (let t = 0; withSync && t < s.rounds; t++) {
    for (let h = 0; h < s.innerSteps; h++) {
      const parts = Array.from({ length: s.replicas }, (_, r) => batchOf(t, r, h))
      const inputs = new Int32Array(parts.length * tokensPerBatch)
      const targets = new Int32Array(parts.length * tokensPerBatch)
      parts.forEach((b, i) => {
        inputs.set(b.inputs, i * tokensPerBatch)
        targets.set(b.targets, i * tokensPerBatch)
      })
      trainSteps(K, stage, adapters, state, s.syncLr, [{ inputs, targets, sequences: parts.length * SEQUENCES }])
    }
    sync.tokens.push((t + 1) * s.replicas * s.innerSteps * tokensPerBatch)
    sync.loss.push(loss(adapters))
  }

  // One step of a testnet stage: layers [0, 4) of `tiny`, a task's batch.
  const half = loadBackbone(MODEL_DIR, 0, stage.config.nLayers / 2).stage
  const halfAdapters = initAdapters(stage.config, defaultLora, 0, half.end, deriveKey('diloco-bench', 'lora'))
  const halfState = initAdamW(halfAdapters)
  const b = batchOf(0, 0, 0)
  const stepTimes = Array.from({ length: 5 }, () =>
    seconds(() => {
      const run: StageRun = {
        kernels: K,
        stage: half,
        adapters: halfAdapters,
        lora: defaultLora,
        sequences: SEQUENCES,
        tokens: TOKENS,
      }
      const fw = stageForward(run, { kind: 'tokens', tokens: b.inputs })
      const { grads } = stageBackward(run, fw, new Float32Array(fw.output.length).fill(1e-3))
      adamwStep(K, halfAdapters, grads, halfState, defaultAdamW)
    }),
  ).sort((x, y) => x - y)

  const last = (c: Curve): number => c.loss.at(-1) as number
  const syncDrop = before - last(sync)
  const dilocoDrop = before - last(diloco)
  return {
    setting: s,
    backend: K.name,
    tokensTrained: s.rounds * s.replicas * s.innerSteps * tokensPerBatch,
    before,
    sync,
    diloco,
    syncDrop,
    dilocoDrop,
    dilocoVsSyncDrop: dilocoDrop / syncDrop,
    stageStepSeconds: stepTimes[2] as number,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  }
}

function numberArg(args: readonly string[], name: string, fallback: number, zeroAllowed = false): number {
  const i = args.indexOf(`--${name}`)
  if (i < 0) return fallback
  const v = Number(args[i + 1])
  if (!Number.isFinite(v) || v < 0 || (v === 0 && !zeroAllowed))
    throw new Error(`--${name} needs a ${zeroAllowed ? 'non-negative' : 'positive'} number, got '${args[i + 1]}'`)
  return v
}

export async function runDilocoBench(json: boolean, args: readonly string[]): Promise<void> {
  // The default testnet's setting: its shards per window (task slots for 2 miners a subnet), H and rates.
  const p = trainingProtocol(getModelConfig('tiny'), localTestnetParams)
  const shards = Math.ceil((2 * localTestnetParams.tasksPerMiner) / localTestnetParams.replication)
  const report = runDiloco({
    replicas: numberArg(args, 'replicas', shards),
    innerSteps: numberArg(args, 'inner', p.innerSteps),
    rounds: numberArg(args, 'rounds', 8),
    innerLr: numberArg(args, 'inner-lr', p.optimizer.lr),
    outerLr: numberArg(args, 'outer-lr', p.outer.lr),
    momentum: numberArg(args, 'momentum', p.outer.momentum, true),
    delay: numberArg(args, 'delay', 1, true),
    // The rate `ml finetune` uses, and the better of 2e-3 and 4e-3 for sync AdamW here (docs/BENCHMARKS.md).
    syncLr: numberArg(args, 'sync-lr', 2e-3),
  })
  if (json) {
    console.log(JSON.stringify(report))
    return
  }
  const s = report.setting
  console.log(
    `DiLoCo on tiny (${report.backend}): N=${s.replicas} replicas × H=${s.innerSteps} inner steps × ${s.rounds} rounds = ${report.tokensTrained} tokens`,
  )
  console.log(`held-out loss before ${report.before.toFixed(4)}`)
  console.log(`sync AdamW (lr ${s.syncLr}):  ${report.sync.loss.map((x) => x.toFixed(4)).join(' ')}`)
  console.log(
    `DiLoCo (inner lr ${s.innerLr}, outer lr ${s.outerLr}, μ ${s.momentum}, delay ${s.delay}): ${report.diloco.loss.map((x) => x.toFixed(4)).join(' ')}`,
  )
  console.log(
    `drop: sync ${report.syncDrop.toFixed(4)}, DiLoCo ${report.dilocoDrop.toFixed(4)}, ratio ${report.dilocoVsSyncDrop.toFixed(3)}`,
  )
  console.log(
    `one testnet stage step (4 layers, ${SEQUENCES}×${TOKENS} tokens): ${report.stageStepSeconds.toFixed(3)} s`,
  )
  console.log(`${report.seconds.toFixed(1)} s`)
}
