/**
 * `npm run bench -- training [--json] [--minutes T] [--topology FILE] [--svg FILE]`: how much
 * the network trains against one process training alone, side by side in one run on the same
 * machine, on the same model, data set, backend and held-out evaluation.
 *
 * - Central: `r3mes ml finetune` as the command runs it (its defaults: 8 × 128-token steps,
 *   AdamW lr 0.002, a 300-step schedule), in this process, on the topology's model and
 *   backbone and the approved data set (the fiction genres of the Brown Corpus), for T minutes
 *   of training time. Every window's length of training it is evaluated as the serving node
 *   evaluates the network's model (actors/training/evaluate.ts, HELD_OUT_TOKENS of held-out
 *   text); the evaluations' own time is left out of its clock.
 * - Network: the topology's testnet (src/testnet, one process per node), for T minutes from
 *   the moment every node has started. Recorded: the miners' `tokensTrained` metrics, the
 *   serving node's loss history (each evaluation at the time the bench first saw it), the
 *   claims on chain (which tasks the aggregates took in), each miner's backbone bytes, and,
 *   once the nodes have stopped, every commit and reveal transaction in a validator's blocks.
 *
 * Measures (bench/training-measures.ts): networkVsCentralTokens counts the tokens of every
 * revealed submission (each replica; whole-model tokens: a task's tokens over the subnets of
 * its path), so a task that trained but missed its window's close counts for nothing; the
 * miners' own count of tokens trained is reported beside it. modelTokensVsCentral counts the
 * tokens that reached the model (each aggregated task once).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { HELD_OUT_TOKENS } from '../src/actors/serving/serving-machine.ts'
import { brownFictionDataset } from '../src/actors/training/datasets.ts'
import { heldOutLoss } from '../src/actors/training/evaluate.ts'
import { fullBackboneBytes } from '../src/actors/training/model-store.ts'
import { type TrainingProtocol, taskTokens, trainingProtocol } from '../src/actors/training/protocol.ts'
import type { Claim } from '../src/chain/state.ts'
import { decodeTx } from '../src/chain/tx.ts'
import { defaultBackboneDir } from '../src/cli/commands/ml.ts'
import { deriveKey } from '../src/codec/prng.ts'
import { FileBlockStore } from '../src/consensus/stores.ts'
import { loadBackbone } from '../src/ml/artifacts.ts'
import { defaultLora, getModelConfig } from '../src/ml/config.ts'
import { selectBackend } from '../src/ml/kernels/select.ts'
import { defaultAdamW } from '../src/ml/optimizer.ts'
import { finetune } from '../src/ml/train.ts'
import { initAdapters } from '../src/ml/weights.ts'
import { sleep } from '../src/runtime/clock.ts'
import { SystemClock } from '../src/runtime/system-clock.ts'
import { buildReport, type TestnetReport } from '../src/testnet/report.ts'
import { type NodeStatusView, Testnet } from '../src/testnet/testnet.ts'
import { expandTopology } from '../src/topology/expand.ts'
import { DEFAULT_TOPOLOGY_FILE, loadTopology } from '../src/topology/load.ts'
import type { NetworkPlan } from '../src/topology/types.ts'
import {
  type LossPoint,
  lossChartSvg,
  lossDrop,
  type SubmissionBytes,
  submissionBytes,
  type TokensReached,
  type TrainingMeasures,
  tokensReached,
  trainingMeasures,
} from './training-measures.ts'

const DEFAULT_MINUTES = 4
const DEFAULT_SVG = fileURLToPath(new URL('../docs/training-loss.svg', import.meta.url))
/** `r3mes ml finetune`'s defaults (src/cli/commands/ml.ts). */
const FINETUNE = { steps: 300, sequences: 8, tokens: 128, lr: 2e-3, seed: 'r3mes-finetune' } as const
const POLL_MS = 2_000

const clock = new SystemClock()
const log = (line: string): void => {
  process.stderr.write(`training: ${line}\n`)
}

function option(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name)
  if (at < 0) return undefined
  const value = args[at + 1]
  if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`)
  return value
}

interface CentralRun {
  readonly backend: string
  readonly steps: number
  readonly tokens: number
  readonly trainingSeconds: number
  readonly tokensPerSecond: number
  readonly curve: readonly LossPoint[]
}

/** `ml finetune` alone for `seconds` of training time, evaluated every `everySeconds`. */
function runCentral(plan: NetworkPlan, protocol: TrainingProtocol, seconds: number, everySeconds: number): CentralRun {
  const model = plan.topology.model
  const backboneDir = defaultBackboneDir(model)
  let backbone: ReturnType<typeof loadBackbone>['stage']
  try {
    backbone = loadBackbone(backboneDir).stage
  } catch (error) {
    throw new Error(
      `the central run needs the committed backbone the testnet trains (${backboneDir}): ${(error as Error).message}`,
    )
  }
  const { kernels } = selectBackend(plan.topology.backend)
  const data = brownFictionDataset()
  const evaluate = (adapters: Parameters<typeof heldOutLoss>[2]): number =>
    heldOutLoss(kernels, backbone, adapters, protocol, data.heldOut, HELD_OUT_TOKENS)
  // The adapters before any step, as finetune initializes them (LoRA's B is zero: the backbone's loss).
  const initial = initAdapters(
    backbone.config,
    defaultLora,
    backbone.first,
    backbone.end,
    deriveKey(FINETUNE.seed, 'lora-init'),
  )
  const curve: LossPoint[] = [{ seconds: 0, loss: evaluate(initial) }]
  log(`central: ${kernels.name} backend, initial held-out loss ${curve[0]?.loss.toFixed(4)}`)
  let trainedMs = 0
  let resumedAt = clock.monotonicMs()
  let nextEvalMs = everySeconds * 1000
  const result = finetune({
    kernels,
    clock,
    backbone,
    train: data.train,
    heldOut: data.heldOut,
    steps: FINETUNE.steps,
    sequences: FINETUNE.sequences,
    tokens: FINETUNE.tokens,
    seed: FINETUNE.seed,
    optimizer: { ...defaultAdamW, lr: FINETUNE.lr },
    // finetune's own before/after evaluations: one short sequence (the curve is evaluated here).
    eval: { sequences: 1, tokens: protocol.tokens, maxTokens: protocol.tokens },
    onStep: (step, adapters) => {
      trainedMs += clock.monotonicMs() - resumedAt
      const done = trainedMs >= seconds * 1000 || step === FINETUNE.steps
      if (done || trainedMs >= nextEvalMs) {
        curve.push({ seconds: trainedMs / 1000, loss: evaluate(adapters) })
        log(`central: step ${step}, ${(trainedMs / 1000).toFixed(0)} s, held-out loss ${curve.at(-1)?.loss.toFixed(4)}`)
        while (nextEvalMs <= trainedMs) nextEvalMs += everySeconds * 1000
      }
      resumedAt = clock.monotonicMs()
      return done
    },
  })
  const tokens = result.steps * FINETUNE.sequences * FINETUNE.tokens
  return {
    backend: kernels.name,
    steps: result.steps,
    tokens,
    trainingSeconds: trainedMs / 1000,
    tokensPerSecond: tokens / (trainedMs / 1000),
    curve,
  }
}

interface NetworkRun {
  readonly startSeconds: number
  readonly seconds: number
  readonly minerTokensTrained: number
  readonly reached: TokensReached
  readonly curve: readonly (LossPoint & { readonly window: number })[]
  readonly miners: readonly { name: string; backboneBytes: number; adapterBytes: number; fraction: number }[]
  readonly fullBackboneBytes: number
  readonly chain: SubmissionBytes
  readonly report: TestnetReport
}

const minerTokens = (net: Testnet, statuses: readonly (NodeStatusView | undefined)[]): number =>
  net.nodes.reduce(
    (n, node, i) =>
      n +
      (node.layout.roles.includes('miner') ? ((statuses[i] ?? net.lastStatuses[i])?.metrics.tokensTrained ?? 0) : 0),
    0,
  )

/** Commit and reveal transactions in the blocks a (stopped) validator stored. */
function submissionTxs(home: string, maxTxBytes: number): { type: string; bytes: number }[] {
  const store = new FileBlockStore(join(home, 'consensus', 'blocks'))
  const out: { type: string; bytes: number }[] = []
  for (let h = store.base(); h <= store.height(); h++) {
    for (const tx of store.load(h)?.block.txs ?? []) {
      const type = decodeTx(tx, maxTxBytes).body.msg.type
      if (type === 'commit' || type === 'reveal') out.push({ type, bytes: tx.byteLength })
    }
  }
  return out
}

async function runNetwork(
  plan: NetworkPlan,
  protocol: TrainingProtocol,
  seconds: number,
  signal: AbortSignal,
): Promise<NetworkRun> {
  const root = mkdtempSync(join(tmpdir(), 'r3mes-bench-training-'))
  const net = new Testnet(plan, {
    dir: join(root, 'testnet'),
    clock,
    logLevel: 'info',
    signal,
    onStage: (stage, detail) => log(`network: ${stage}: ${detail}`),
  })
  try {
    await net.setup()
    try {
      await net.start()
    } catch (error) {
      throw new Error(`the testnet did not start: ${(error as Error).message}`)
    }
    const startSeconds = net.elapsedMs() / 1000
    const t0 = clock.monotonicMs()
    const elapsed = (): number => (clock.monotonicMs() - t0) / 1000
    const tokensAtStart = minerTokens(net, await net.statuses())
    const curve: (LossPoint & { window: number })[] = []
    const seen = new Set<number>()
    let lastLog = -Infinity
    while (!signal.aborted) {
      const statuses = await net.statuses()
      const now = elapsed()
      const serving = net.lastStatuses.find((s) => s?.roles.includes('serving'))
      for (const l of serving?.loss ?? []) {
        if (seen.has(l.height)) continue
        seen.add(l.height)
        curve.push({ seconds: Math.min(now, seconds), loss: l.loss, window: l.window })
        log(`network: ${now.toFixed(0)} s, window ${l.window}, held-out loss ${l.loss.toFixed(4)}`)
      }
      if (now - lastLog >= 30) {
        lastLog = now
        log(`network: ${now.toFixed(0)} s, miners trained ${minerTokens(net, statuses) - tokensAtStart} tokens`)
      }
      if (now >= seconds) break
      await sleep(clock, Math.min(POLL_MS, Math.max(1, (seconds - now) * 1000)), signal).catch(() => {})
    }
    if (signal.aborted) throw new Error('interrupted')
    const statuses = await net.statuses()
    const minerTokensTrained = minerTokens(net, statuses) - tokensAtStart
    const reader = await net.reader()
    if (reader === undefined) throw new Error('no validator answers: the chain cannot be read')
    const window = (await reader.get<{ id: number }>('/query/window'))?.id ?? 0
    const claims: Claim[] = await net.claims(window)
    const reached = tokensReached(claims, taskTokens(protocol), plan.topology.subnets.length)
    const report = await buildReport(net, true)
    const layout = net.layout
    if (layout === undefined) throw new Error('no testnet layout')
    const full = fullBackboneBytes(layout.modelDir)
    const miners = net.nodes.flatMap((n, i) => {
      if (!n.layout.roles.includes('miner')) return []
      const m = (statuses[i] ?? net.lastStatuses[i])?.metrics ?? {}
      const backboneBytes = m.backboneBytes ?? 0
      return [{ name: n.name, backboneBytes, adapterBytes: m.adapterBytes ?? 0, fraction: backboneBytes / full }]
    })
    await net.stop()
    const validator = layout.nodes.find((n) => n.roles.includes('validator'))
    if (validator === undefined) throw new Error('the topology has no validator')
    const chain = submissionBytes(submissionTxs(validator.home, layout.genesis.params.maxTxBytes))
    return {
      startSeconds,
      seconds: elapsed(),
      minerTokensTrained,
      reached,
      curve,
      miners,
      fullBackboneBytes: full,
      chain,
      report,
    }
  } finally {
    await net.stop()
    net.destroyHosts()
    rmSync(root, { recursive: true, force: true, maxRetries: 3 })
  }
}

export async function runTrainingBench(json: boolean, args: readonly string[]): Promise<void> {
  const minutesArg = option(args, '--minutes')
  const minutes = minutesArg === undefined ? DEFAULT_MINUTES : Number(minutesArg)
  if (!(Number.isFinite(minutes) && minutes > 0 && minutes <= 60))
    throw new Error(`--minutes must be a number of minutes in (0, 60], got '${minutesArg}'`)
  const topologyFile = option(args, '--topology') ?? DEFAULT_TOPOLOGY_FILE
  const svgFile = option(args, '--svg') ?? DEFAULT_SVG
  const plan = expandTopology(await loadTopology(topologyFile))
  const t = plan.topology
  const protocol = trainingProtocol(getModelConfig(t.model), t.chain.params)
  const seconds = minutes * 60
  const windowSeconds = (t.chain.params.windowBlocks * t.chain.params.blockTimeMs) / 1000

  // The central run holds the thread and leaves nothing behind: an interrupt ends it at once.
  log(`central: ml finetune on ${t.model} for ${minutes} min`)
  const central = runCentral(plan, protocol, seconds, windowSeconds)
  // The network run stops its nodes and removes its folder when interrupted.
  const controller = new AbortController()
  const interrupt = (): void => controller.abort()
  process.once('SIGINT', interrupt)
  process.once('SIGTERM', interrupt)
  try {
    log(`network: ${t.name} testnet for ${minutes} min`)
    const network = await runNetwork(plan, protocol, seconds, controller.signal)

    const subnets = t.subnets.length
    const networkTokensPerSecond = network.reached.modelTokens / network.seconds
    const trainedPerSecond = network.minerTokensTrained / network.seconds
    // Training only counts once it is submitted: a task that missed its window's close trained
    // tokens no one will ever use. Each revealed submission is one task's stage; replicas count.
    const submittedPerSecond = (network.chain.reveals * taskTokens(protocol)) / network.seconds
    const centralDrop = lossDrop(central.curve)
    const networkDrop = lossDrop(network.curve)
    const measures: TrainingMeasures = trainingMeasures({
      networkTokensPerSecond: submittedPerSecond / subnets,
      modelTokensPerSecond: networkTokensPerSecond,
      centralTokensPerSecond: central.tokensPerSecond,
      networkLossDrop: networkDrop,
      centralLossDrop: centralDrop,
      minerDownloadFractions: network.miners.map((m) => m.fraction),
      subnets,
      chainBytesPerSubmission: network.chain.perSubmission,
    })
    const result = {
      suite: 'training',
      workload: `${t.name} testnet (${plan.nodes.length} nodes, ${t.model}, ${subnets} subnets) against ml finetune alone, ${minutes} min each, one after the other`,
      machine: { loadAverage1m: Number((loadavg()[0] as number).toFixed(2)), cores: availableParallelism() },
      minutes,
      central: {
        backend: central.backend,
        steps: central.steps,
        tokens: central.tokens,
        trainingSeconds: central.trainingSeconds,
        tokensPerSecond: central.tokensPerSecond,
        lossDrop: centralDrop,
        lossCurve: central.curve,
      },
      network: {
        startSeconds: network.startSeconds,
        seconds: network.seconds,
        trained: {
          minerTokens: network.minerTokensTrained,
          minerTokensPerSecond: trainedPerSecond,
          /** Over the subnets: a token passes through every stage of its path; replicas still counted. */
          modelTokensPerSecond: trainedPerSecond / subnets,
        },
        submitted: {
          reveals: network.chain.reveals,
          stageTokensPerSecond: submittedPerSecond,
          /** Over the subnets, replicas still counted: `networkVsCentralTokens`' numerator. */
          modelTokensPerSecond: submittedPerSecond / subnets,
        },
        reached: { ...network.reached, modelTokensPerSecond: networkTokensPerSecond },
        lossDrop: networkDrop,
        lossCurve: network.curve,
        miners: network.miners,
        fullBackboneBytes: network.fullBackboneBytes,
        chain: network.chain,
        submissions: network.report.submissions,
        windowsTrained: network.report.windows,
      },
      measures,
      ratioUses:
        'networkVsCentralTokens: whole-model tokens the miners trained and submitted per second (revealed submissions × tokens a task, over the subnets; each replica counts; tasks that missed their window do not), over central tokens per second; modelTokensVsCentral: whole-model tokens that reached the model (each aggregated task once) per second, over the same',
      chart: svgFile,
    }
    writeFileSync(
      svgFile,
      lossChartSvg(
        [
          { name: 'ml finetune (central)', color: '#1f77b4', points: central.curve },
          { name: `${t.name} testnet`, color: '#ff7f0e', points: network.curve },
        ],
        `held-out loss, ${t.model}: ${minutes} min each`,
      ),
    )
    if (json) {
      console.log(JSON.stringify(result, roundNumbers, 2))
      return
    }
    console.log(result.workload)
    console.log(
      `central: ${central.steps} steps, ${central.tokensPerSecond.toFixed(0)} tokens/s (${central.backend}), held-out loss ${curveText(central.curve)}`,
    )
    console.log(
      `network: miners trained ${trainedPerSecond.toFixed(1)} stage-tokens/s, submitted ${submittedPerSecond.toFixed(1)}; reached the model ${networkTokensPerSecond.toFixed(1)} tokens/s (${network.reached.tasks} tasks in ${network.reached.aggregates} aggregates); held-out loss ${curveText(network.curve)}`,
    )
    for (const [name, m] of Object.entries(measures))
      console.log(
        `${name}: ${m.value === null ? 'not measured' : m.value.toFixed(4)} (goal ${m.goal}) ${m.pass ? 'pass' : 'FAIL'}`,
      )
    console.log(`chart: ${svgFile}`)
  } finally {
    process.off('SIGINT', interrupt)
    process.off('SIGTERM', interrupt)
  }
}

function curveText(curve: readonly LossPoint[]): string {
  return curve.length === 0
    ? 'not measured'
    : curve.map((p) => `${p.loss.toFixed(4)}@${p.seconds.toFixed(0)}s`).join(' → ')
}

function roundNumbers(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(5)) : value
}
