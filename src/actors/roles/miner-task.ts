/**
 * One task of a miner's window, as a machine: its stage of the task's pipeline path trained
 * for H inner steps with its neighbours over activation streams (stage-trainer.ts: per inner
 * step, M micro-batches forward then backward as a GPipe pipeline, then a local AdamW step),
 * what a verifier needs stored, then commit, reveal, and watch the claim until the chain
 * settles it. The submission is the pseudo-gradient Δ = θ_start − θ_end.
 *
 *   starting ─▶ training ─▶ storing ─▶ committing ─▶ awaitingReplicaCommits ─▶ revealing ─▶ watchingClaim ─▶ submitted
 *      │                                   ▲
 *      └─▶ copying (copiedCid) ────────────┘
 *
 *   a neighbour's tensor that does not come by the deadline, or any effect that throws ─▶ failed
 *   a block at or past the window's close before the commit ─▶ abandoned (no commit is sent)
 *
 * Every effect is a named actor (`setup({ actors })`) whose default reads what it needs from
 * the miner's components; tests swap them with `.provide({ actors })`. The machine tells its
 * parent (the window) `task.revealed` once the chain acknowledged the reveal and
 * `task.finished` with the outcome when it ends.
 */

import { assign, fromPromise, sendParent, setup } from 'xstate'
import type { ClaimStatus, Task } from '../../chain/state.ts'
import { commitmentOf } from '../../chain/tx.ts'
import { submissionId } from '../../chain/windows.ts'
import { sha256Hex } from '../../codec/hash.ts'
import type { Params, StageWeights } from '../../ml/weights.ts'
import { sleep } from '../../runtime/clock.ts'
import {
  encodeGradient,
  encodeTrace,
  f32Bytes,
  f32From,
  type StageTrace,
  stepBatch,
  taskTokens,
  traceCidOf,
  traceMetadata,
} from '../training/protocol.ts'
import { type LinkDirection, runStage, type StageLinks, StageTrainer } from '../training/stage-trainer.ts'
import { innerStepBytes, storeStepTrace } from '../training/step-trace.ts'
import type { BlockEvent } from './block-event.ts'
import type { MinerComponents } from './miner-components.ts'
import { type PipelineReadiness, pathOf, receiveSources, sendTargets } from './pipeline.ts'

/** What a task came to. `code` is the reveal's result ('OK': acknowledged), or why it stopped. */
export interface TaskOutcome {
  readonly taskId: string
  readonly cid: string | null
  readonly code: string
  /** The claim's status when the watch ended ('unsettled': still revealed at its challenge deadline). */
  readonly claim?: ClaimStatus | 'unsettled'
}

/** The outcome codes of tasks that stopped before a transaction could say anything. */
export const TaskStop = {
  failed: 'FAILED',
  abandoned: 'ABANDONED',
  nothingToCopy: 'NOTHING_TO_COPY',
} as const

/** The backbone range and adapters a task computes with (fetched once per window). */
export interface ShardPieces {
  readonly stage: StageWeights
  readonly adapters: Params
  /** The adapter-state CID the subnet's pointer named (null: the initial state). */
  readonly pointer: string | null
}

export interface MinerTaskInput {
  readonly components: MinerComponents
  readonly task: Task
  /** Every task of the window (the paths). */
  readonly windowTasks: readonly Task[]
  readonly windowSeed: string
  readonly closeHeight: number
  /** Each wait on a neighbour's tensor gives up after this long (and never past `sendUntilMs`). */
  readonly waitMs: number
  /** Monotonic time after which a send to a neighbour, or a wait for one, is given up. */
  readonly sendUntilMs: number
  /** Null only for a task that does no work (the copiedCid misbehaviour). */
  readonly shard: ShardPieces | null
}

export type MinerTaskEvent = BlockEvent

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

interface MinerTaskContext extends MinerTaskInput {
  readonly replica: number
  readonly upstream: Task | undefined
  readonly downstream: Task | undefined
  readonly trained: TrainedTask | null
  readonly cid: string | null
  readonly traceCid: string | null
  readonly code: string
  readonly claim: ClaimStatus | 'unsettled' | undefined
}

/** Salt of a commitment: secret (from the node key) and fixed per task, so a retry reveals the same. */
export function saltFor(secretKey: Uint8Array, taskId: string): string {
  return sha256Hex(secretKey, `r3mes/salt/1\0${taskId}`).slice(0, 32)
}

// ---- the default effects ------------------------------------------------------------------

export interface TrainInput {
  readonly components: MinerComponents
  readonly task: Task
  readonly windowSeed: string
  readonly replica: number
  readonly upstream: Task | undefined
  readonly downstream: Task | undefined
  readonly shard: ShardPieces
  readonly waitMs: number
  readonly untilMs: number
}

/**
 * How long sends to a neighbour that presence does not show ready keep trying: long enough
 * for a live one whose presence is still on its way to take the tensor (its inbox admits a
 * tensor of the open window before its stage asks), short enough that a dead one costs a
 * few attempts, not retries until the task's deadline.
 */
const UNCONFIRMED_SEND_MS = 3_000

/**
 * The stage's links over the network: a tensor is taken from the inbox, the first to arrive
 * from any replica of the neighbouring task, waiting no longer than `waitMs` nor past
 * `untilMs` (TensorWaitTimeoutError then); one is sent to this replica's targets on the
 * neighbouring task, all at once. The stage waits for the sends to neighbours presence shows
 * ready (or to all when nothing is heard from their subnet); a send to one not shown ready
 * goes on beside the stage for `UNCONFIRMED_SEND_MS` at most, so a dead neighbour holds
 * nothing up.
 */
export function networkLinks(input: TrainInput, signal: AbortSignal, waits: LinkWaits = { ms: 0 }): StageLinks {
  const { components: c, task } = input
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

/** Time a stage's links spent waiting for its neighbours' tensors, added up. */
export interface LinkWaits {
  ms: number
}

/** Train the stage's share of the task with its neighbours: every inner step, then Δ. */
export const trainStage = fromPromise<TrainedTask, TrainInput>(async ({ input, signal }) => {
  const c = input.components
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
  await runStage(trainer, networkLinks(input, signal, waits), {
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
  if (c.misbehaviours.has('wrongGradient')) {
    // Planted fault: one value of the pseudo-gradient off by a little, as a bug or a shortcut would leave it.
    const first = [...delta.keys()].sort()[0] as string
    const g = delta.get(first) as Float32Array
    g[0] = Math.fround((g[0] as number) + 0.01)
  }
  return { delta, steps, inputs, dOutputs }
})

export interface StoreInput {
  readonly components: MinerComponents
  readonly task: Task
  readonly pointer: string | null
  readonly trained: TrainedTask
  readonly first: boolean
  readonly last: boolean
}

/**
 * Store the pseudo-gradient and the trace a verifier re-executes from: the tensors received
 * by CID, and the step trace (each inner step's leaf and the index over them, whose root the
 * trace names). Only the trace, the pseudo-gradient, the index and the received tensors are
 * announced: inner-step leaves are asked of the miner, and only by a dispute that bisects to
 * them.
 */
export const storeResults = fromPromise<{ cid: string; traceCid: string }, StoreInput>(async ({ input, signal }) => {
  const c = input.components
  const { trained } = input
  // Planted fault: a withholding miner names its content on chain but never stores it, so
  // nobody can fetch it from this node, and it announces no holdings.
  const withholds = c.misbehaviours.has('withholdingMiner')
  // A task abandoned at the window's close stops here, between two pieces: its tens of
  // MiB of leaves and tensors would otherwise go on being hashed and written, and announced,
  // while the next window's stages train on the same cores.
  const store = async (bytes: Uint8Array): Promise<string> => {
    signal.throwIfAborted()
    return withholds ? c.content.cidOf(bytes) : c.content.store(bytes)
  }
  const gradient = encodeGradient(trained.delta, input.task, taskTokens(c.training.protocolAt(input.task.window)))
  const cid = await store(gradient)
  const steps = await storeStepTrace(store, input.task.id, [...trained.steps, gradient])
  const storeAll = async (tensors: readonly Float32Array[]): Promise<string[]> => {
    const cids: string[] = []
    for (const t of tensors) cids.push(await store(f32Bytes(t)))
    return cids
  }
  const trace: StageTrace = {
    v: 3,
    task: input.task.id,
    adapterState: input.pointer ?? 'initial',
    inputs: input.first ? null : await storeAll(trained.inputs),
    dOutputs: input.last ? null : await storeAll(trained.dOutputs),
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
})

interface SubmitInput {
  readonly components: MinerComponents
  readonly task: Task
  readonly cid: string
  readonly traceCid: string
  readonly closeHeight: number
}

/** Send the commitment; resolves with its result code. */
const sendCommit = fromPromise<string, SubmitInput>(async ({ input }) => {
  const c = input.components
  const salt = saltFor(c.key.secretKey, input.task.id)
  const result = await c.tx.send({
    type: 'commit',
    taskId: input.task.id,
    commitment: commitmentOf(input.cid, c.key.address, input.task.id, salt),
  })
  return result.code
})

/** Send the reveal; resolves with its result code. */
const sendReveal = fromPromise<string, SubmitInput>(async ({ input }) => {
  const c = input.components
  const salt = saltFor(c.key.secretKey, input.task.id)
  const result = await c.tx.send({
    type: 'reveal',
    taskId: input.task.id,
    cid: input.cid,
    salt,
    metadata: traceMetadata(input.traceCid),
  })
  if (result.code === 'OK') c.metrics.submissions++
  return result.code
})

/** Whether `miner` has committed any of its tasks of `window`. */
function committedInWindow(c: MinerComponents, window: number, miner: string): boolean {
  return c.chain.tasks(window, miner).some((t) => c.chain.commits(t.id).includes(miner))
}

/**
 * Wait until every replica of the task has committed before revealing. The chain treats a CID
 * revealed before a replica committed to it as public, so an honest replica that commits after
 * that is flagged as a copy and goes unpaid. Replicas run the same path in step, but each node
 * sends one transaction per block and a miner with several tasks commits them a block apart,
 * so on a busy machine one replica's commit can trail the other's by several blocks late in
 * the window. So the reveal waits for a replica that is at work (it has committed another of
 * its tasks in this window) until only the blocks this node's reveals need are left; a replica
 * that has committed nothing here a quarter of a window on is gone (or cheating) and holds the
 * reveal no longer. Revealing late costs nothing: aggregation and the challenge period both
 * run from the close.
 */
const awaitReplicaCommits = fromPromise<void, SubmitInput>(async ({ input, signal }) => {
  const { components: c, task } = input
  if (task.miners.length < 2) return
  // One block for each reveal this node may still have to send, before the close.
  const last = input.closeHeight - 1 - Math.max(1, c.chain.tasks(task.window, c.key.address).length)
  const patience = c.chain.height + Math.ceil(c.chain.params.windowBlocks / 4)
  while (c.chain.height < last) {
    const committed = c.chain.commits(task.id)
    if (committed.length >= task.miners.length) return
    const absent = task.miners.filter((m) => !committed.includes(m))
    if (c.chain.height >= patience && absent.some((m) => !committedInWindow(c, task.window, m))) return
    await sleep(c.clock, c.pace.blockIntervalMs / 2, signal)
  }
})

/**
 * Watch this miner's claim for the task until the chain settles it (accepted, flagged,
 * challenged or slashed) or its challenge period ends with it still revealed ('unsettled').
 */
const watchClaim = fromPromise<ClaimStatus | 'unsettled', { components: MinerComponents; task: Task }>(
  async ({ input, signal }) => {
    const { components: c, task } = input
    const id = submissionId(task.id, c.key.address)
    for (;;) {
      const claim = c.chain.claim(id)
      if (claim === null) return 'unsettled'
      if (claim.status !== 'revealed') return claim.status
      if (c.chain.height > claim.challengeUntil) return 'unsettled'
      await sleep(c.clock, c.pace.blockIntervalMs, signal)
    }
  },
)

/**
 * The copied-CID misbehaviour: do no work, wait (until the window closes) for another miner's
 * reveal in the same window, and take that CID as this miner's own. Its own replicas wait for
 * its commit before they reveal, so the first CID it sees is usually another task's.
 */
const findCopy = fromPromise<
  { cid: string; traceCid: string } | null,
  { components: MinerComponents; task: Task; closeHeight: number }
>(async ({ input, signal }) => {
  const { components: c, task } = input
  while (!signal.aborted && c.chain.height < input.closeHeight) {
    const other = c.chain.claims(task.window).find((cl) => cl.kind === 'submission' && cl.owner !== c.key.address)
    if (other !== undefined) return { cid: other.cid, traceCid: traceCidOf(other.metadata) }
    await sleep(c.clock, 250, signal)
  }
  return null
})

// ---- the machine --------------------------------------------------------------------------

const submitInput = ({ context }: { context: MinerTaskContext }): SubmitInput => ({
  components: context.components,
  task: context.task,
  cid: context.cid as string,
  traceCid: context.traceCid as string,
  closeHeight: context.closeHeight,
})

/** Before the commit, a block at or past the close ends the task: its work can no longer count. */
const closesEarly = { block: { guard: 'windowClosed', target: '#minerTask.abandoned' } } as const

/** An effect threw (a neighbour's tensor did not come by the deadline, say): the task failed. */
const failOn = (step: string) => ({
  target: '#minerTask.failed',
  actions: ['markFailed' as const, { type: 'logFailure' as const, params: { step } }],
})

function outcomeOf(context: MinerTaskContext): TaskOutcome {
  return {
    taskId: context.task.id,
    cid: context.cid,
    code: context.code,
    ...(context.claim === undefined ? {} : { claim: context.claim }),
  }
}

export const minerTaskMachine = setup({
  types: {
    input: {} as MinerTaskInput,
    context: {} as MinerTaskContext,
    events: {} as MinerTaskEvent,
  },
  actors: {
    trainStage,
    storeResults,
    sendCommit,
    awaitReplicaCommits,
    sendReveal,
    watchClaim,
    findCopy,
  },
  guards: {
    copiesWork: ({ context }) => context.shard === null,
    windowClosed: ({ context, event }) => event.height >= context.closeHeight,
  },
  actions: {
    markFailed: assign({ code: TaskStop.failed }),
    logFailure: ({ context, event }, params: { step: string }) =>
      context.components.logger.warn(
        { err: (event as { error?: unknown }).error, task: context.task.id, step: params.step },
        'task failed',
      ),
    finish: sendParent(({ context }) => ({ type: 'task.finished', outcome: outcomeOf(context) })),
    acknowledge: sendParent(({ context }) => ({ type: 'task.revealed', outcome: outcomeOf(context) })),
  },
}).createMachine({
  id: 'minerTask',
  context: ({ input }) => {
    const path = pathOf(input.windowTasks, input.task.shard)
    const at = path.findIndex((t) => t.id === input.task.id)
    return {
      ...input,
      replica: input.task.miners.indexOf(input.components.key.address),
      upstream: path[at - 1],
      downstream: path[at + 1],
      trained: null,
      cid: null,
      traceCid: null,
      code: TaskStop.failed,
      claim: undefined,
    }
  },
  initial: 'starting',
  states: {
    starting: {
      always: [{ guard: 'copiesWork', target: 'copying' }, { target: 'training' }],
    },
    copying: {
      on: closesEarly,
      invoke: {
        src: 'findCopy',
        input: ({ context }) => ({
          components: context.components,
          task: context.task,
          closeHeight: context.closeHeight,
        }),
        onDone: [
          {
            guard: ({ event }) => event.output !== null,
            target: 'committing',
            actions: assign({
              cid: ({ event }) => event.output?.cid ?? null,
              traceCid: ({ event }) => event.output?.traceCid ?? null,
            }),
          },
          { target: 'failed', actions: assign({ code: TaskStop.nothingToCopy }) },
        ],
        onError: failOn('copying'),
      },
    },
    training: {
      on: closesEarly,
      invoke: {
        src: 'trainStage',
        input: ({ context }) => ({
          components: context.components,
          task: context.task,
          windowSeed: context.windowSeed,
          replica: context.replica,
          upstream: context.upstream,
          downstream: context.downstream,
          shard: context.shard as ShardPieces,
          waitMs: context.waitMs,
          untilMs: context.sendUntilMs,
        }),
        onDone: { target: 'storing', actions: assign({ trained: ({ event }) => event.output }) },
        onError: failOn('training'),
      },
    },
    storing: {
      on: closesEarly,
      invoke: {
        src: 'storeResults',
        input: ({ context }) => ({
          components: context.components,
          task: context.task,
          pointer: context.shard?.pointer ?? null,
          trained: context.trained as TrainedTask,
          first: context.upstream === undefined,
          last: context.downstream === undefined,
        }),
        onDone: {
          target: 'committing',
          actions: assign({ cid: ({ event }) => event.output.cid, traceCid: ({ event }) => event.output.traceCid }),
        },
        onError: failOn('storing'),
      },
    },
    committing: {
      invoke: {
        src: 'sendCommit',
        input: submitInput,
        onDone: [
          { guard: ({ event }) => event.output === 'OK', target: 'awaitingReplicaCommits' },
          { target: 'failed', actions: assign({ code: ({ event }) => event.output }) },
        ],
        onError: failOn('committing'),
      },
    },
    awaitingReplicaCommits: {
      invoke: {
        src: 'awaitReplicaCommits',
        input: submitInput,
        onDone: 'revealing',
        onError: failOn('awaitingReplicaCommits'),
      },
    },
    revealing: {
      invoke: {
        src: 'sendReveal',
        input: submitInput,
        onDone: [
          {
            guard: ({ event }) => event.output === 'OK',
            target: 'watchingClaim',
            actions: [assign({ code: 'OK' }), 'acknowledge'],
          },
          { target: 'failed', actions: assign({ code: ({ event }) => event.output }) },
        ],
        onError: failOn('revealing'),
      },
    },
    watchingClaim: {
      invoke: {
        src: 'watchClaim',
        input: ({ context }) => ({ components: context.components, task: context.task }),
        onDone: { target: 'submitted', actions: assign({ claim: ({ event }) => event.output }) },
        // The reveal stands whatever the watch met: the outcome stays acknowledged.
        onError: { target: 'submitted', actions: assign({ claim: 'unsettled' as const }) },
      },
    },
    submitted: { type: 'final', entry: 'finish' },
    failed: { type: 'final', entry: 'finish' },
    abandoned: { type: 'final', entry: [assign({ code: TaskStop.abandoned }), 'finish'] },
  },
})
