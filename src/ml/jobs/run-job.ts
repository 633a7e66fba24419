/** Carries out a Job (job.ts) synchronously; the worker entry and tests call this. */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { canonicalJson } from '../../codec/canonical-json.ts'
import { cidOf } from '../../codec/cid.ts'
import { deriveKey } from '../../codec/prng.ts'
import { unreachable } from '../../runtime/assert.ts'
import type { Clock } from '../../runtime/clock.ts'
import { decodeParams, encodeParams, loadBackbone, loadTokenizer, saveBackbone } from '../artifacts.ts'
import { defaultLora, getModelConfig, type ModelConfig } from '../config.ts'
import { FICTION_GENRES, loadBrown, NON_FICTION_GENRES } from '../data/brown.ts'
import { evalBatches, loadTextFiles, splitDocuments, type TextDocument } from '../data/dataset.ts'
import { ArtifactError, MlConfigError } from '../errors.ts'
import { runGoldenCase } from '../golden.ts'
import { GOLDEN_FILE, readGolden, writeGolden } from '../golden-file.ts'
import { selectBackend } from '../kernels/select.ts'
import { defaultAdamW, initAdamW } from '../optimizer.ts'
import { bytesTokenizer } from '../tokenizer/bytes.ts'
import { tokenizerForConfig } from '../tokenizer/for-config.ts'
import type { Tokenizer } from '../tokenizer/tokenizer.ts'
import { backboneParams, evaluate, finetune, pretrainStep } from '../train.ts'
import { initAdapters, initStageWeights, type Params, requantize } from '../weights.ts'
import type {
  CheckJob,
  CheckResult,
  FinetuneJob,
  FinetuneResult,
  Job,
  JobEvent,
  JobResult,
  PretrainJob,
  PretrainResult,
} from './job.ts'

type Emit = (event: JobEvent) => void

function kernelsFor(backend: string, emit: Emit) {
  const selected = selectBackend(backend)
  if (selected.notice !== undefined) emit({ type: 'log', message: selected.notice })
  return selected.kernels
}

function runFinetune(job: FinetuneJob, clock: Clock, emit: Emit): FinetuneResult {
  const kernels = kernelsFor(job.backend, emit)
  const { stage } = loadBackbone(job.backboneDir)
  const tokenizer = loadTokenizer(job.backboneDir)
  const docs =
    job.dataFiles !== undefined && job.dataFiles.length > 0 ? loadTextFiles(job.dataFiles) : loadBrown(FICTION_GENRES)
  const data = splitDocuments('finetune', docs)
  const result = finetune({
    kernels,
    clock,
    backbone: stage,
    train: tokenizer.encode(data.trainBytes),
    heldOut: tokenizer.encode(data.heldOutBytes),
    steps: job.steps,
    sequences: job.sequences,
    tokens: job.tokens,
    seed: job.seed,
    optimizer: { ...defaultAdamW, lr: job.lr },
    eval: { sequences: 4, tokens: Math.min(128, stage.config.contextLength), maxTokens: job.evalTokens },
    onProgress: (p) => emit({ type: 'progress', ...p }),
  })
  let adaptersCid: string | undefined
  if (job.outFile !== undefined) {
    const bytes = encodeParams('r3mes-adapters', result.adapters, { rank: defaultLora.rank, alpha: defaultLora.alpha })
    writeFileSync(job.outFile, bytes)
    adaptersCid = cidOf(bytes).toString()
  }
  return {
    before: result.before,
    after: result.after,
    relativeImprovement: (result.before - result.after) / result.before,
    tokensPerSecond: result.tokensPerSecond,
    backend: kernels.name,
    steps: result.steps,
    ...(adaptersCid !== undefined && job.outFile !== undefined ? { adaptersCid, adaptersFile: job.outFile } : {}),
  }
}

const CHECKPOINT_FILE = 'pretrain-checkpoint.r3b'

/** The tokenizer a pretraining run makes with its model (tokenizerForConfig), timed. */
function pretrainTokenizer(config: ModelConfig, docs: readonly TextDocument[], clock: Clock, emit: Emit): Tokenizer {
  if (config.vocabSize === 256) return bytesTokenizer
  const started = clock.monotonicMs()
  const tokenizer = tokenizerForConfig(config, docs)
  const seconds = (clock.monotonicMs() - started) / 1000
  emit({ type: 'log', message: `trained a byte-level BPE of ${tokenizer.vocabSize} tokens in ${seconds.toFixed(1)} s` })
  return tokenizer
}

function runPretrain(job: PretrainJob, clock: Clock, emit: Emit): PretrainResult {
  const kernels = kernelsFor(job.backend, emit)
  const config = getModelConfig(job.config)
  const data = splitDocuments('pretrain', loadBrown(NON_FICTION_GENRES))
  const tokenizer = pretrainTokenizer(config, data.train, clock, emit)
  const trainIds = tokenizer.encode(data.trainBytes)
  const stage = initStageWeights(config, 0, config.nLayers, deriveKey(job.seed, 'backbone-init'))
  const adapters = initAdapters(config, defaultLora, 0, config.nLayers, deriveKey(job.seed, 'lora-init'))
  const params = backboneParams(stage)
  const optimizer = initAdamW(params)
  const state = { step: 0, optimizer }
  const identity = {
    config: job.config,
    seed: job.seed,
    steps: job.steps,
    sequences: job.sequences,
    tokens: job.tokens,
    lr: job.lr,
  }
  mkdirSync(job.outDir, { recursive: true })
  const checkpointPath = join(job.outDir, CHECKPOINT_FILE)

  if (existsSync(checkpointPath)) {
    const { params: saved, meta } = decodeParams('r3mes-pretrain-checkpoint', readFileSync(checkpointPath))
    if (canonicalJson(meta.identity ?? null) !== canonicalJson(identity)) {
      throw new ArtifactError(
        `${checkpointPath} belongs to another run (${JSON.stringify(meta.identity)}); use another --out or the same options`,
      )
    }
    for (const [name, value] of saved) {
      const [group, ...rest] = name.split(':')
      const target = group === 'p' ? params : group === 'm' ? optimizer.m : group === 'v' ? optimizer.v : undefined
      const into = target?.get(rest.join(':'))
      if (into?.length !== value.length) throw new ArtifactError(`checkpoint tensor '${name}' does not fit the model`)
      into.set(value)
    }
    state.step = Number(meta.step)
    optimizer.step = Number(meta.adamStep)
    // The ternary weights are a function of the latent ones: derive them from what was restored.
    requantize(stage)
    emit({ type: 'log', message: `resuming from step ${state.step}` })
  }
  const resumedFrom = state.step

  const save = (): void => {
    const all: Params = new Map()
    for (const [n, v] of params) all.set(`p:${n}`, v)
    for (const [n, v] of optimizer.m) all.set(`m:${n}`, v)
    for (const [n, v] of optimizer.v) all.set(`v:${n}`, v)
    const bytes = encodeParams('r3mes-pretrain-checkpoint', all, {
      identity,
      step: state.step,
      adamStep: optimizer.step,
    })
    writeFileSync(`${checkpointPath}.tmp`, bytes)
    renameSync(`${checkpointPath}.tmp`, checkpointPath)
  }

  const dataKey = deriveKey(job.seed, 'pretrain-data')
  const started = clock.monotonicMs()
  while (state.step < job.steps) {
    const loss = pretrainStep({
      kernels,
      stage,
      params,
      state,
      train: trainIds,
      dataKey,
      steps: job.steps,
      sequences: job.sequences,
      tokens: job.tokens,
      optimizer: { ...defaultAdamW, lr: job.lr },
      adapters,
    })
    const seconds = (clock.monotonicMs() - started) / 1000
    const tokensPerSecond = ((state.step - resumedFrom) * job.sequences * job.tokens) / seconds
    if (state.step % job.checkpointEvery === 0 || state.step === job.steps) save()
    emit({ type: 'progress', step: state.step, steps: job.steps, loss, tokensPerSecond })
  }
  const seconds = (clock.monotonicMs() - started) / 1000
  const heldOutIds = tokenizer.encode(data.heldOutBytes)
  const evalSet = evalBatches(heldOutIds, Math.min(128, config.contextLength), 4, job.evalTokens)
  const heldOutLoss = evaluate(kernels, stage, adapters, defaultLora, evalSet)
  const manifest = saveBackbone(
    job.outDir,
    stage,
    {
      command: job.command,
      ...identity,
      data: 'brown corpus genres a-j (non-fiction), every 10th document held out',
      heldOutLoss,
      heldOutTokens: evalSet.reduce((n, b) => n + b.sequences * b.tokens, 0),
      backend: kernels.name,
      // Loss is per token: with BPE tokens, nats per byte = loss / bytesPerToken.
      ...(tokenizer.kind === 'bytes' ? {} : { bytesPerToken: data.heldOutBytes.length / heldOutIds.length }),
    },
    tokenizer,
  )
  return {
    steps: state.step,
    resumedFrom,
    heldOutLoss,
    uniformLoss: Math.log(config.vocabSize),
    tokensPerSecond: ((state.step - resumedFrom) * job.sequences * job.tokens) / Math.max(seconds, 1e-9),
    backend: kernels.name,
    outDir: job.outDir,
    layerCids: manifest.layers,
  }
}

function runCheck(job: CheckJob, emit: Emit): CheckResult {
  if (!(Number.isInteger(job.cases) && job.cases > 0))
    throw new MlConfigError(`--cases must be a positive integer, got ${job.cases}`)
  const backends = job.backends.map((name) => selectBackend(name).kernels)
  const golden = job.updateGolden ? [] : readGolden()
  const problems: string[] = []
  const details: string[] = []
  const fresh: string[] = []
  let mismatches = 0
  let goldenCompared = 0
  let goldenMismatches = 0
  for (let i = 0; i < job.cases; i++) {
    const results = backends.map((K) => ({ backend: K.name, ...runGoldenCase(K, i) }))
    const [first] = results
    if (first === undefined) throw new MlConfigError('no backend to check')
    fresh.push(first.sha256)
    for (const r of results) for (const p of r.problems) problems.push(`case ${i} (${r.kind}, ${r.backend}): ${p}`)
    for (const r of results.slice(1)) {
      if (r.sha256 !== first.sha256) {
        mismatches++
        details.push(`case ${i} (${first.kind}): ${r.backend} ${r.sha256} ≠ ${first.backend} ${first.sha256}`)
      }
    }
    const expected = golden[i]
    if (expected !== undefined) {
      goldenCompared++
      for (const r of results) {
        if (r.sha256 !== expected) {
          goldenMismatches++
          details.push(`case ${i} (${first.kind}): ${r.backend} ${r.sha256} ≠ golden ${expected}`)
        }
      }
    }
    if ((i + 1) % 50 === 0) emit({ type: 'log', message: `${i + 1}/${job.cases} cases` })
  }
  if (job.updateGolden) {
    writeGolden(fresh)
    emit({ type: 'log', message: `wrote ${fresh.length} golden hashes to ${GOLDEN_FILE}` })
  }
  return {
    cases: job.cases,
    backends: backends.map((K) => K.name),
    mismatches: mismatches + goldenMismatches + problems.length,
    goldenCompared,
    goldenMismatches,
    problems,
    details,
  }
}

export function runJob(job: Job, clock: Clock, emit: Emit): JobResult {
  switch (job.kind) {
    case 'finetune':
      return runFinetune(job, clock, emit)
    case 'pretrain':
      return runPretrain(job, clock, emit)
    case 'check':
      return runCheck(job, emit)
    default:
      return unreachable(job, 'job kind')
  }
}
