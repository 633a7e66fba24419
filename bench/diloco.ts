/**
 * `npm run bench -- diloco [--json] [--replicas N] [--inner H] [--rounds R] [--inner-lr X]
 * [--outer-lr X] [--momentum X] [--sync-lr X] [--delay D] [--stages S] [--stage-delays D,D]
 * [--no-sync]`: the network's training maths in one process, beside synchronous training on the
 * same number of tokens.
 *
 * The setting of the default testnet: the committed `tiny` backbone (models/tiny), LoRA
 * adapters, the Brown fiction training bytes split into the data set's shards, batches of
 * `sequences × tokens` as the protocol draws them, and the model cut into S pipeline stages
 * (subnets) of equal layer ranges, 2 as on the testnet. Each stage has its own adapters, its
 * own outer state and its own staleness; micro-batches do not change the maths, so a replica
 * runs the stages as one model.
 *
 * - DiLoCo: each outer round, N replicas (a window's shards) start each stage from that stage's
 *   adapters `delay` rounds back (a task trains every stage of its path at once, each from its
 *   subnet's final pointer), each takes H inner AdamW steps (a fresh optimizer, as a task does;
 *   gradients clipped per stage, as each stage's miner clips its own) on its own shard; per
 *   stage, the mean pseudo-gradient Δ = θ_start − θ_end goes through one outer Nesterov step
 *   applied to that stage's newest adapters.
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
import type { Params as ChainParams } from '../src/chain/params.ts'
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
import { DEFAULT_TOPOLOGY_FILE, loadTopology } from '../src/topology/load.ts'

const MODEL_DIR = fileURLToPath(new URL('../models/tiny', import.meta.url))
const SEQUENCES = 4
const TOKENS = 64
const SHARD_COUNT = 64
const HELD_OUT_TOKENS = 4096
const LORA_KEY = deriveKey('diloco-bench', 'lora')

export interface DilocoSetting {
  readonly replicas: number
  readonly innerSteps: number
  readonly rounds: number
  readonly innerLr: number
  readonly outerLr: number
  readonly momentum: number
  readonly syncLr: number
  /**
   * Outer rounds by which each stage's start lags the state its pseudo-gradients are applied
   * to, one per stage (`staleRounds` gives the network's).
   */
  readonly stageDelays: readonly number[]
}

/**
 * Rounds by which a window's aggregate lands on a newer state than its miners started from, on
 * a chain with parameters `p` whose aggregator takes `aggregatorBlocks` (≥ 1) from due to
 * landing. Window k opens at O_k = 1 + kW and its miners load the final pointer then; window
 * w's aggregate is due once its submissions settle (its close, O_w + W, plus the challenge
 * period), lands `aggregatorBlocks` later and is final `aggregateChallengeBlocks` after that.
 * So window k starts from the aggregates of windows up to k − 1 − d, d = ⌈(challenge +
 * aggregator + aggregate challenge) / W⌉, while its own aggregate lands on the state after
 * window k − 1's (final by then when aggregator + aggregate challenge ≤ W): d rounds stale.
 */
export function staleRounds(
  p: Pick<ChainParams, 'windowBlocks' | 'challengePeriodBlocks' | 'aggregateChallengeBlocks'>,
  aggregatorBlocks = 1,
): number {
  return Math.ceil((p.challengePeriodBlocks + aggregatorBlocks + p.aggregateChallengeBlocks) / p.windowBlocks)
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
  /** How far DiLoCo's last loss is above its lowest: > 0 when the loss went back up. */
  readonly dilocoRise: number
  /** One training step (forward, backward, AdamW) of a testnet stage: 4 layers of `tiny`. */
  readonly stageStepSeconds: number
  readonly seconds: number
}

const copy = (p: Params): Params => new Map([...p].map(([k, v]) => [k, v.slice()]))

const pick = (p: Params, names: readonly string[]): Params =>
  new Map(names.map((n) => [n, (p.get(n) as Float32Array).slice()]))

/** Inner steps on the whole model; `groups` are the stages' tensor names, each clipped on its own. */
function trainSteps(
  K: Kernels,
  stage: StageWeights,
  adapters: Params,
  state: ReturnType<typeof initAdamW>,
  lr: number,
  batches: readonly { inputs: Int32Array; targets: Int32Array; sequences: number }[],
  groups: readonly (readonly string[])[] = [[...adapters.keys()]],
): void {
  for (const batch of batches) {
    const run: StageRun = { kernels: K, stage, adapters, lora: defaultLora, sequences: batch.sequences, tokens: TOKENS }
    const fw = stageForward(run, { kind: 'tokens', tokens: batch.inputs }, batch.targets)
    const { grads } = stageBackward(run, fw)
    if (groups.length === 1) clipGradients(grads, 1)
    // A sub-map of the same arrays: clipping scales them in place.
    else for (const names of groups) clipGradients(new Map(names.map((n) => [n, grads.get(n) as Float32Array])), 1)
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
  const init = initAdapters(stage.config, defaultLora, 0, stage.config.nLayers, LORA_KEY)
  const before = loss(init)
  const tokensPerBatch = SEQUENCES * TOKENS
  // The batch replica r trains at inner step h of round t: its own shard, a per-round key.
  const batchOf = (t: number, r: number, h: number) => {
    const shard = (t * s.replicas + r) % SHARD_COUNT
    const bytes = shardBytes(data.train, SHARD_COUNT, shard, TOKENS + 1)
    return sampleBatch(bytes, deriveKey(`round-${t}`, 'r3mes/batch/1'), h, SEQUENCES, TOKENS)
  }

  // DiLoCo: N replicas × H inner steps; per stage, its mean pseudo-gradient, its outer Nesterov step.
  const S = s.stageDelays.length
  const layersPerStage = stage.config.nLayers / S
  // Each stage's tensor names: those of its layer range.
  const groups = s.stageDelays.map((_, k) => [
    ...initAdapters(stage.config, defaultLora, k * layersPerStage, (k + 1) * layersPerStage, LORA_KEY).keys(),
  ])
  const diloco: Curve = { tokens: [0], loss: [before] }
  const stages = groups.map((names, k) => {
    const theta = pick(init, names)
    return {
      names,
      delay: s.stageDelays[k] as number,
      theta,
      momentum: new Map([...theta].map(([n, v]) => [n, new Float32Array(v.length)])) as Params,
      // The stage's states of the last rounds, oldest first: round t starts from the one `delay` back.
      history: [copy(theta)],
    }
  })
  for (let t = 0; t < s.rounds; t++) {
    const starts = stages.map((g) => g.history[Math.max(0, g.history.length - 1 - g.delay)] as Params)
    const deltas: { grads: Params; tokens: number }[][] = stages.map(() => [])
    for (let r = 0; r < s.replicas; r++) {
      const local: Params = new Map(starts.flatMap((p) => [...copy(p)]))
      const batches = Array.from({ length: s.innerSteps }, (_, h) => batchOf(t, r, h))
      trainSteps(K, stage, local, initAdamW(local), s.innerLr, batches, groups)
      for (const [k, g] of stages.entries())
        deltas[k]?.push({
          grads: pseudoGradient(K, starts[k] as Params, pick(local, g.names)),
          tokens: s.innerSteps * tokensPerBatch,
        })
    }
    for (const [k, g] of stages.entries()) {
      const mean = aggregateGradients(K, deltas[k] as { grads: Params; tokens: number }[])
      nesterovStep(K, g.theta, g.momentum, mean, { lr: s.outerLr, momentum: s.momentum })
      g.history.push(copy(g.theta))
      if (g.history.length > g.delay + 1) g.history.shift()
    }
    diloco.tokens.push((t + 1) * s.replicas * s.innerSteps * tokensPerBatch)
    diloco.loss.push(loss(new Map(stages.flatMap((g) => [...g.theta]))))
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
  const syncDrop = withSync ? before - last(sync) : Number.NaN
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
    dilocoRise: last(diloco) - Math.min(...diloco.loss),
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

function stageDelaysArg(args: readonly string[], fallback: number): number[] {
  const stagesAt = args.indexOf('--stages')
  const listAt = args.indexOf('--stage-delays')
  const delay = numberArg(args, 'delay', fallback, true)
  if (listAt < 0) {
    const stages = numberArg(args, 'stages', 2)
    if (!Number.isInteger(stages) || ![1, 2, 4, 8].includes(stages))
      throw new Error(`--stages must divide tiny's 8 layers (1, 2, 4 or 8), got '${args[stagesAt + 1]}'`)
    return Array.from({ length: stages }, () => delay)
  }
  if (args.includes('--delay')) throw new Error('give either --delay (every stage) or --stage-delays, not both')
  const text = args[listAt + 1] ?? ''
  const delays = text.split(',').map(Number)
  if (delays.some((d) => !Number.isInteger(d) || d < 0) || ![1, 2, 4, 8].includes(delays.length))
    throw new Error(
      `--stage-delays needs 1, 2, 4 or 8 comma-separated non-negative integers (one per stage), got '${text}'`,
    )
  if (stagesAt >= 0 && Number(args[stagesAt + 1]) !== delays.length)
    throw new Error(`--stages ${args[stagesAt + 1]} does not match the ${delays.length} --stage-delays`)
  return delays
}

export async function runDilocoBench(json: boolean, args: readonly string[]): Promise<void> {
  // The default testnet's setting: its shards per window (task slots for its miners), H, rates and staleness.
  const topology = await loadTopology(DEFAULT_TOPOLOGY_FILE)
  const params = topology.chain.params
  const p = trainingProtocol(getModelConfig('tiny'), params)
  const miners = Math.min(...topology.subnets.map((n) => n.miners))
  const shards = Math.ceil((miners * params.tasksPerMiner) / params.replication)
  const report = runDiloco(
    {
      replicas: numberArg(args, 'replicas', shards),
      innerSteps: numberArg(args, 'inner', p.innerSteps),
      rounds: numberArg(args, 'rounds', 8),
      innerLr: numberArg(args, 'inner-lr', p.optimizer.lr),
      outerLr: numberArg(args, 'outer-lr', p.outer.lr),
      momentum: numberArg(args, 'momentum', p.outer.momentum, true),
      stageDelays: stageDelaysArg(args, staleRounds(params)),
      // The rate `ml finetune` uses, and the better of 2e-3 and 4e-3 for sync AdamW here (docs/BENCHMARKS.md).
      syncLr: numberArg(args, 'sync-lr', 2e-3),
    },
    getKernels('auto'),
    !args.includes('--no-sync'),
  )
  if (json) {
    console.log(JSON.stringify(report))
    return
  }
  const s = report.setting
  console.log(
    `DiLoCo on tiny (${report.backend}): N=${s.replicas} replicas × H=${s.innerSteps} inner steps × ${s.rounds} rounds = ${report.tokensTrained} tokens`,
  )
  console.log(`held-out loss before ${report.before.toFixed(4)}`)
  if (report.sync.loss.length > 1)
    console.log(`sync AdamW (lr ${s.syncLr}):  ${report.sync.loss.map((x) => x.toFixed(4)).join(' ')}`)
  console.log(
    `DiLoCo (inner lr ${s.innerLr}, outer lr ${s.outerLr}, μ ${s.momentum}, ${s.stageDelays.length} stages delayed ${s.stageDelays.join(',')}): ${report.diloco.loss.map((x) => x.toFixed(4)).join(' ')}`,
  )
  console.log(
    `drop: sync ${report.syncDrop.toFixed(4)}, DiLoCo ${report.dilocoDrop.toFixed(4)}, ratio ${report.dilocoVsSyncDrop.toFixed(3)}; DiLoCo's last loss ${report.dilocoRise.toFixed(4)} above its lowest`,
  )
  console.log(
    `one testnet stage step (4 layers, ${SEQUENCES}×${TOKENS} tokens): ${report.stageStepSeconds.toFixed(3)} s`,
  )
  console.log(`${report.seconds.toFixed(1)} s`)
}
