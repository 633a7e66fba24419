/**
 * A miner's task work on a node (task-work.ts): the backbone range and the adapter state its
 * subnet's final pointer names, fetched once per window; its stage of the task's pipeline
 * path trained for H inner steps with its neighbours over activation streams
 * (stage-trainer.ts: per inner step, M micro-batches forward then backward as a GPipe
 * pipeline, then a local AdamW step), the submission being the pseudo-gradient
 * Δ = θ_start − θ_end; and what a verifier needs, stored and announced.
 */
import type { ChainReader } from '../../chain/reader.ts'
import type { Task } from '../../chain/state.ts'
import type { Params, StageWeights } from '../../ml/weights.ts'
import type { Clock } from '../../runtime/clock.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { ContentFetcher } from '../services/content-fetcher.ts'
import type { NodeMetrics } from '../services/metrics.ts'
import type { ModelPieces } from '../services/model-pieces.ts'
import type { TrainingSetup } from '../services/training-setup.ts'
import {
  encodeGradient,
  encodeTrace,
  f32Bytes,
  f32From,
  type StageTrace,
  stepBatch,
  taskTokens,
} from '../training/protocol.ts'
import { type LinkDirection, runStage, type StageLinks, StageTrainer } from '../training/stage-trainer.ts'
import { innerStepBytes, storeEach, storeStepTrace } from '../training/step-trace.ts'
import type { TensorInbox } from '../training/tensor-inbox.ts'
import type { TensorSender } from '../training/tensor-sender.ts'
import { type PipelineReadiness, receiveSources, sendTargets } from './pipeline.ts'
import type { StoredTask, StoreRequest, TaskShard, TaskWork, TrainRequest } from './task-work.ts'

/** The backbone range and adapters a task computes with (fetched once per window). */
export interface ShardPieces extends TaskShard {
  readonly stage: StageWeights
  readonly adapters: Params
}

/** What a stage's share of a task came to, before it is stored. */
export interface TrainedTask {
  /** The pseudo-gradient Δ = θ_start − θ_end of the stage's adapters. */
  readonly delta: Params
  /** Each inner step's leaf bytes (step-trace.ts), in step order. */
  readonly steps: readonly Uint8Array[]
  /** The activations received, step-major (empty on the first stage). */
  readonly inputs: readonly Float32Array[]
  /** The output gradients received, step-major (empty on the last stage). */
  readonly dOutputs: readonly Float32Array[]
}

/**
 * The miner's side of its subnet's topics: who announced they are ready for a window
 * (pipeline neighbours are chosen among them), and this miner's own announcements (ready for
 * a window, holding what it stored). Announcements are hints: one that does not go out
 * costs a neighbour a retry, never the task.
 */
export interface MinerPresence {
  readyMiners(subnet: number, window: number): ReadonlySet<string>
  /** Say this miner holds its range and the adapters at `pointer`, and is ready for `window`. */
  announceReady(subnet: number, window: number, pointer: string | null): Promise<void>
  /** Say this miner holds and serves `cids` (its gradient, boundary tensors, trace) of `window`. */
  announceHeld(subnet: number, window: number, cids: readonly string[]): Promise<void>
}

/**
 * What the node's task work uses: the chain's final pointers, the model pieces, the training
 * setup, the tensor inbox and sender, the content store, and (when the subnet's presence
 * gossip runs) who is ready for a window.
 */
export interface KernelTaskWorkComponents {
  readonly chain: Pick<ChainReader, 'finalAdapterPointer'>
  readonly content: Pick<ContentFetcher, 'store' | 'cidOf'>
  readonly model: Pick<ModelPieces, 'stageWeights' | 'adapterState' | 'aggregatorOf'>
  readonly training: TrainingSetup
  readonly inbox: Pick<TensorInbox, 'takeFirst'>
  readonly tensors: TensorSender
  readonly presence?: MinerPresence
  readonly metrics: Pick<NodeMetrics, 'trainingMs' | 'tasksRun' | 'tokensTrained'>
  readonly clock: Clock
  readonly logger: Logger
}

/** The node's task work: its kernels, its tensor links and its content store. */
export function kernelTaskWork(c: KernelTaskWorkComponents): TaskWork<ShardPieces, TrainedTask> {
  return {
    fetchShards: (subnets, window, signal) => fetchShards(c, subnets, window, signal),
    trainStage: (request, signal) => trainStage(c, request, signal),
    storeResults: (request, signal) => storeResults(c, request, signal),
  }
}

/**
 * The backbone range and the adapters at the final pointer, for each subnet the tasks are in; then
 * this miner tells each subnet it is ready for the window.
 */
async function fetchShards(
  c: KernelTaskWorkComponents,
  subnets: readonly number[],
  window: number,
  signal: AbortSignal,
): Promise<ReadonlyMap<number, ShardPieces>> {
  const { chain, model, presence } = c
  const out = new Map<number, ShardPieces>()
  for (const subnet of subnets) {
    // Train from the final state: one still in its challenge period may be undone.
    const pointer = chain.finalAdapterPointer(subnet)
    const stage = await model.stageWeights(subnet, signal)
    const state = await model.adapterState(subnet, pointer, pointer === null ? undefined : model.aggregatorOf(pointer))
    out.set(subnet, { stage, adapters: state.adapters, pointer })
  }
  for (const [subnet, shard] of out) await presence?.announceReady(subnet, window, shard.pointer)
  return out
}

/**
 * How long sends to a neighbour that presence does not show ready keep trying: long enough
 * for a live one whose presence is still on its way to take the tensor (its inbox admits a
 * tensor of the open window before its stage asks), short enough that a dead one costs a
 * few attempts, not retries until the task's deadline.
 */
const UNCONFIRMED_SEND_MS = 3_000

/** Time a stage's links spent waiting for its neighbours' tensors, added up. */
export interface LinkWaits {
  ms: number
}

/**
 * The stage's links over the network: a tensor is taken from the inbox, the first to arrive
 * from any replica of the neighbouring task, waiting no longer than `waitMs` nor past
 * `untilMs` (TensorWaitTimeoutError then); one is sent to this replica's targets on the
 * neighbouring task, all at once. The stage waits for the sends to neighbours presence shows
 * ready (or to all when nothing is heard from their subnet); a send to one not shown ready
 * goes on beside the stage for `UNCONFIRMED_SEND_MS` at most, so a dead neighbour holds
 * nothing up.
 */
export function networkLinks(
  c: Pick<KernelTaskWorkComponents, 'clock' | 'inbox' | 'tensors' | 'presence'>,
  input: TrainRequest,
  signal: AbortSignal,
  waits: LinkWaits = { ms: 0 },
): StageLinks {
  const { task } = input
  const neighbourOf = (direction: LinkDirection, receiving: boolean): Task | undefined =>
    (direction === 'forward') === receiving ? input.upstream : input.downstream
  const ready = (neighbour: Task | undefined) =>
    neighbour === undefined ? undefined : c.presence?.readyMiners(neighbour.subnet, task.window)
  const readiness = (neighbour: Task | undefined): PipelineReadiness | undefined => {
    const there = ready(neighbour)
    const here = c.presence?.readyMiners(task.subnet, task.window)
    return there === undefined || here === undefined ? undefined : { mine: here, neighbour: there }
  }
  return {
    async receive(step, micro, direction) {
      const neighbour = neighbourOf(direction, true)
      const started = c.clock.monotonicMs()
      const waitMs = Math.max(1, Math.min(input.waitMs, input.untilMs - started))
      try {
        const bytes = await c.inbox.takeFirst(
          task.window,
          { step: task.shard, innerStep: step, microBatch: micro },
          direction,
          receiveSources(neighbour, ready(neighbour)),
          waitMs,
          signal,
        )
        return f32From(bytes)
      } finally {
        waits.ms += c.clock.monotonicMs() - started
      }
    },
    async send(step, micro, direction, tensor) {
      const neighbour = neighbourOf(direction, false)
      const out = { direction, window: task.window, step: task.shard, innerStep: step, microBatch: micro }
      const bytes = f32Bytes(tensor)
      const known = readiness(neighbour)
      const confirmed = (to: string): boolean =>
        known === undefined || known.neighbour.size === 0 || known.neighbour.has(to)
      const targets = sendTargets(neighbour, task, input.replica, known)
      const shortUntil = Math.min(input.untilMs, c.clock.monotonicMs() + UNCONFIRMED_SEND_MS)
      // The sender logs and gives up a send that never gets through: it never throws.
      for (const to of targets.filter((t) => !confirmed(t)))
        void c.tensors.send(to, { ...out, bytes }, shortUntil, signal)
      await Promise.all(
        targets.filter(confirmed).map((to) => c.tensors.send(to, { ...out, bytes }, input.untilMs, signal)),
      )
    },
  }
}

/** Train the stage's share of the task with its neighbours: every inner step, then Δ. */
async function trainStage(
  c: KernelTaskWorkComponents,
  input: TrainRequest<ShardPieces>,
  signal: AbortSignal,
): Promise<TrainedTask> {
  const { data, kernels } = c.training
  const protocol = c.training.protocolAt(input.task.window)
  const started = c.clock.monotonicMs()
  const trainer = new StageTrainer({
    kernels,
    stage: input.shard.stage,
    protocol,
    batchOf: (step) => stepBatch(protocol, data.train, data.shardCount, input.task, input.windowSeed, step),
    start: input.shard.adapters,
  })
  const steps: Uint8Array[] = []
  const inputs: Float32Array[] = []
  const dOutputs: Float32Array[] = []
  // Each inner step's time, split into waiting for neighbours and the rest (computing, and
  // handing tensors over): a pipeline that stalls shows which step waited on what.
  const waits: LinkWaits = { ms: 0 }
  let stepStarted = started
  await runStage(trainer, networkLinks(c, input, signal, waits), {
    signal,
    onStep: (record) => {
      const now = c.clock.monotonicMs()
      const ms = now - stepStarted
      c.logger.debug(
        {
          task: input.task.id,
          step: record.step,
          ms: Math.round(ms),
          computeMs: Math.round(ms - waits.ms),
          waitMs: Math.round(waits.ms),
        },
        'inner step done',
      )
      stepStarted = now
      waits.ms = 0
      steps.push(innerStepBytes(record))
      inputs.push(...record.inputs)
      dOutputs.push(...record.dOutputs)
    },
  })
  const delta = trainer.pseudoGradient()
  c.metrics.trainingMs += c.clock.monotonicMs() - started
  c.metrics.tasksRun++
  c.metrics.tokensTrained += taskTokens(protocol)
  if (input.wrongGradient) {
    // Planted fault: one value of the pseudo-gradient off by a little, as a bug or a shortcut would leave it.
    const first = [...delta.keys()].sort()[0] as string
    const g = delta.get(first) as Float32Array
    g[0] = Math.fround((g[0] as number) + 0.01)
  }
  return { delta, steps, inputs, dOutputs }
}

/**
 * Store the pseudo-gradient and the trace a verifier re-executes from: the tensors received
 * by CID, and the step trace (each inner step's leaf and the index over them, whose root the
 * trace names). Only the trace, the pseudo-gradient, the index and the received tensors are
 * announced: inner-step leaves are asked of the miner, and only by a dispute that bisects to
 * them.
 */
async function storeResults(
  c: KernelTaskWorkComponents,
  input: StoreRequest<TrainedTask>,
  signal: AbortSignal,
): Promise<StoredTask> {
  const { trained } = input
  // Planted fault: a withholding miner names its content on chain but never stores it, so
  // nobody can fetch it from this node, and it announces no holdings.
  const withholds = input.withhold
  // A task abandoned at the window's close stops here, between two pieces: its tens of
  // MiB of leaves and tensors would otherwise go on being hashed and written, and announced,
  // while the next window's stages train on the same cores.
  const store = async (bytes: Uint8Array, announce = true): Promise<string> => {
    signal.throwIfAborted()
    return withholds ? c.content.cidOf(bytes) : c.content.store(bytes, { announce })
  }
  // Leaves are asked of this miner by name (a dispute bisecting to them), and the tensors it
  // received are announced to the subnets below: neither needs a DHT provider record.
  const storeQuietly = (bytes: Uint8Array): Promise<string> => store(bytes, false)
  const gradient = encodeGradient(trained.delta, input.task, taskTokens(c.training.protocolAt(input.task.window)))
  const storeAll = (tensors: readonly Float32Array[]): Promise<string[]> =>
    storeEach(storeQuietly, tensors.map(f32Bytes))
  // The pieces go in together: each is a chain of small writes, and waiting on one at a time
  // left most of a loaded node's storing time idle.
  const [cid, steps, inputs, dOutputs] = await Promise.all([
    store(gradient),
    storeStepTrace(store, input.task.id, [...trained.steps, gradient], storeQuietly),
    input.first ? null : storeAll(trained.inputs),
    input.last ? null : storeAll(trained.dOutputs),
  ])
  const trace: StageTrace = {
    v: 3,
    task: input.task.id,
    adapterState: input.pointer ?? 'initial',
    inputs,
    dOutputs,
    steps: steps.index,
    stepRoot: steps.root,
  }
  const traceCid = await store(encodeTrace(trace))
  signal.throwIfAborted()
  if (!withholds)
    await c.presence?.announceHeld(input.task.subnet, input.task.window, [
      cid,
      traceCid,
      steps.index,
      ...new Set([...(trace.inputs ?? []), ...(trace.dOutputs ?? [])]),
    ])
  return { cid, traceCid }
}
