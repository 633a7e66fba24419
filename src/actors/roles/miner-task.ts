/**
 * One task of a miner's window, as a machine: its stage of the task's pipeline path, run with
 * its neighbours over activation streams, what a verifier needs stored, then commit, reveal,
 * and watch the claim until the chain settles it.
 *
 *   starting ─▶ receivingInput ─▶ forward ─▶ sendingOutput ─▶ receivingOutputGradient ─▶ backward
 *      │        (not first)                  (not last)        (not last)                    │
 *      │                                                                                      ▼
 *      │                        storing ◀─ sendingInputGradient (not first) ◀─────────────────┘
 *      │                           │
 *      └─▶ copying (copiedCid) ─▶ committing ─▶ awaitingReplicaCommits ─▶ revealing ─▶ watchingClaim ─▶ submitted
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
  taskBatch,
  taskTokens,
  traceMetadata,
} from '../training/protocol.ts'
import { type StageContext, type TracedForward, tracedBackward, tracedForward } from '../training/stage-work.ts'
import { stepBytes, storeStepTrace } from '../training/step-trace.ts'
import type { Direction } from '../training/tensor-inbox.ts'
import type { BlockEvent } from './block-event.ts'
import type { MinerComponents } from './miner-components.ts'
import { pathOf, receiveSources, sendTargets } from './pipeline.ts'

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
  /** Each wait on a neighbour's tensor gives up after this long. */
  readonly waitMs: number
  /** Monotonic time after which a send to a neighbour is given up. */
  readonly sendUntilMs: number
  /** Null only for a task that does no work (the copiedCid misbehaviour). */
  readonly shard: ShardPieces | null
}

export type MinerTaskEvent = BlockEvent

interface StageResult {
  readonly grads: Params
  readonly dInput: Float32Array | null
  /** Every step's output (src/ml/steps.ts), for the step trace. */
  readonly steps: readonly Float32Array[]
}

interface MinerTaskContext extends MinerTaskInput {
  readonly replica: number
  readonly upstream: Task | undefined
  readonly downstream: Task | undefined
  readonly input: Float32Array | null
  readonly forwardPass: TracedForward | null
  readonly output: Uint8Array | null
  readonly dOutput: Float32Array | null
  readonly stageResult: StageResult | null
  readonly cid: string | null
  readonly traceCid: string | null
  readonly code: string
  readonly claim: ClaimStatus | 'unsettled' | undefined
}

/** Salt of a commitment: secret (from the node key) and fixed per task, so a retry reveals the same. */
export function saltFor(secretKey: Uint8Array, taskId: string): string {
  return sha256Hex(secretKey, `r3mes/salt/1\0${taskId}`).slice(0, 32)
}

function stageContext(c: MinerComponents, task: Task, windowSeed: string, shard: ShardPieces): StageContext {
  const { data, kernels } = c.training
  const protocol = c.training.protocolAt(task.window)
  return {
    kernels,
    stage: shard.stage,
    adapters: shard.adapters,
    protocol,
    batch: taskBatch(protocol, data.train, data.shardCount, task, windowSeed),
  }
}

// ---- the default effects ------------------------------------------------------------------

interface ReceiveInput {
  readonly components: MinerComponents
  readonly task: Task
  readonly neighbour: Task | undefined
  readonly direction: Direction
  readonly waitMs: number
}

/** The first tensor any replica of the neighbouring task sends; TensorWaitTimeoutError at the deadline. */
const receiveTensor = fromPromise<Float32Array, ReceiveInput>(async ({ input, signal }) => {
  const { components: c, task, neighbour } = input
  const ready = neighbour === undefined ? undefined : c.presence?.readyMiners(neighbour.subnet, task.window)
  const bytes = await c.inbox.takeFirst(
    task.window,
    task.shard,
    input.direction,
    receiveSources(neighbour, ready),
    input.waitMs,
    signal,
  )
  return f32From(bytes)
})

interface SendInput {
  readonly components: MinerComponents
  readonly task: Task
  readonly replica: number
  readonly neighbour: Task | undefined
  readonly direction: Direction
  readonly bytes: Uint8Array
  readonly untilMs: number
}

/** Send a tensor to this replica's targets on the neighbouring task, all at once. */
const sendTensor = fromPromise<void, SendInput>(async ({ input, signal }) => {
  const { components: c, task, neighbour } = input
  const ready = neighbour === undefined ? undefined : c.presence?.readyMiners(neighbour.subnet, task.window)
  const tensor = { direction: input.direction, window: task.window, step: task.shard, bytes: input.bytes }
  await Promise.all(
    sendTargets(neighbour, task, input.replica, ready).map((to) => c.tensors.send(to, tensor, input.untilMs, signal)),
  )
})

interface ComputeInput {
  readonly components: MinerComponents
  readonly task: Task
  readonly windowSeed: string
  readonly shard: ShardPieces
  readonly input: Float32Array | null
  readonly forwardPass: TracedForward | null
  readonly dOutput: Float32Array | null
}

const computeForward = fromPromise<TracedForward, ComputeInput>(async ({ input }) => {
  const c = input.components
  const started = c.clock.monotonicMs()
  const forward = tracedForward(stageContext(c, input.task, input.windowSeed, input.shard), input.input)
  c.metrics.trainingMs += c.clock.monotonicMs() - started
  return forward
})

const computeBackward = fromPromise<StageResult, ComputeInput>(async ({ input }) => {
  const c = input.components
  const started = c.clock.monotonicMs()
  const result = tracedBackward(
    stageContext(c, input.task, input.windowSeed, input.shard),
    input.forwardPass as TracedForward,
    input.dOutput,
  )
  c.metrics.trainingMs += c.clock.monotonicMs() - started
  c.metrics.tasksRun++
  c.metrics.tokensTrained += taskTokens(c.training.protocolAt(input.task.window))
  if (c.misbehaviours.has('wrongGradient')) {
    // Planted fault: one value off by a little, as a bug or a shortcut would leave it.
    const first = [...result.grads.keys()].sort()[0] as string
    const g = result.grads.get(first) as Float32Array
    g[0] = Math.fround((g[0] as number) + 0.01)
  }
  return result
})

interface StoreInput {
  readonly components: MinerComponents
  readonly task: Task
  readonly pointer: string | null
  readonly grads: Params
  readonly input: Float32Array | null
  readonly output: Uint8Array | null
  readonly dOutput: Float32Array | null
  readonly dInput: Float32Array | null
  readonly steps: readonly Float32Array[]
}

/**
 * Store the gradient and the trace a verifier re-executes from: the boundary tensors by CID,
 * and the step trace (every step's output and the index over them, whose root the trace names).
 * Only the trace, the gradient and the index are announced: step tensors are asked of the
 * miner, and only by a dispute that bisects to them.
 */
const storeResults = fromPromise<{ cid: string; traceCid: string }, StoreInput>(async ({ input }) => {
  const c = input.components
  // Planted fault: a withholding miner names its content on chain but never stores it, so
  // nobody can fetch it from this node, and it announces no holdings.
  const withholds = c.misbehaviours.has('withholdingMiner')
  const store = async (bytes: Uint8Array): Promise<string> =>
    withholds ? c.content.cidOf(bytes) : c.content.store(bytes)
  const gradient = encodeGradient(input.grads, input.task, taskTokens(c.training.protocolAt(input.task.window)))
  const cid = await store(gradient)
  const steps = await storeStepTrace(store, input.task.id, stepBytes(input.steps, gradient))
  const trace: StageTrace = {
    v: 2,
    task: input.task.id,
    adapterState: input.pointer ?? 'initial',
    input: input.input === null ? null : await store(f32Bytes(input.input)),
    output: input.output === null ? null : await store(input.output),
    dOutput: input.dOutput === null ? null : await store(f32Bytes(input.dOutput)),
    dInput: input.dInput === null ? null : await store(f32Bytes(input.dInput)),
    steps: steps.index,
    stepRoot: steps.root,
  }
  const traceCid = await store(encodeTrace(trace))
  const held = [cid, traceCid, trace.input, trace.output, trace.dOutput, trace.dInput, trace.steps]
  if (!withholds)
    await c.presence?.announceHeld(
      input.task.subnet,
      input.task.window,
      held.filter((x): x is string => x !== null),
    )
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
    if (other !== undefined)
      return { cid: other.cid, traceCid: (JSON.parse(other.metadata) as { trace: string }).trace }
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

const computeInput = ({ context }: { context: MinerTaskContext }): ComputeInput => ({
  components: context.components,
  task: context.task,
  windowSeed: context.windowSeed,
  shard: context.shard as ShardPieces,
  input: context.input,
  forwardPass: context.forwardPass,
  dOutput: context.dOutput,
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
    receiveTensor,
    sendTensor,
    computeForward,
    computeBackward,
    storeResults,
    sendCommit,
    awaitReplicaCommits,
    sendReveal,
    watchClaim,
    findCopy,
  },
  guards: {
    copiesWork: ({ context }) => context.shard === null,
    firstStage: ({ context }) => context.shard?.stage.first === 0,
    lastStage: ({ context }) => context.shard?.stage.end === context.shard?.stage.config.nLayers,
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
      input: null,
      forwardPass: null,
      output: null,
      dOutput: null,
      stageResult: null,
      cid: null,
      traceCid: null,
      code: TaskStop.failed,
      claim: undefined,
    }
  },
  initial: 'starting',
  states: {
    starting: {
      always: [
        { guard: 'copiesWork', target: 'copying' },
        { guard: 'firstStage', target: 'forward' },
        { target: 'receivingInput' },
      ],
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
    receivingInput: {
      on: closesEarly,
      invoke: {
        src: 'receiveTensor',
        input: ({ context }) => ({
          components: context.components,
          task: context.task,
          neighbour: context.upstream,
          direction: 'forward' as const,
          waitMs: context.waitMs,
        }),
        onDone: { target: 'forward', actions: assign({ input: ({ event }) => event.output }) },
        onError: failOn('receivingInput'),
      },
    },
    forward: {
      on: closesEarly,
      invoke: {
        src: 'computeForward',
        input: computeInput,
        onDone: [
          { guard: 'lastStage', target: 'backward', actions: assign({ forwardPass: ({ event }) => event.output }) },
          {
            target: 'sendingOutput',
            actions: assign({
              forwardPass: ({ event }) => event.output,
              output: ({ event }) => f32Bytes(event.output.output),
            }),
          },
        ],
        onError: failOn('forward'),
      },
    },
    sendingOutput: {
      on: closesEarly,
      invoke: {
        src: 'sendTensor',
        input: ({ context }) => ({
          components: context.components,
          task: context.task,
          replica: context.replica,
          neighbour: context.downstream,
          direction: 'forward' as const,
          bytes: context.output as Uint8Array,
          untilMs: context.sendUntilMs,
        }),
        onDone: 'receivingOutputGradient',
        onError: failOn('sendingOutput'),
      },
    },
    receivingOutputGradient: {
      on: closesEarly,
      invoke: {
        src: 'receiveTensor',
        input: ({ context }) => ({
          components: context.components,
          task: context.task,
          neighbour: context.downstream,
          direction: 'backward' as const,
          waitMs: context.waitMs,
        }),
        onDone: { target: 'backward', actions: assign({ dOutput: ({ event }) => event.output }) },
        onError: failOn('receivingOutputGradient'),
      },
    },
    backward: {
      on: closesEarly,
      invoke: {
        src: 'computeBackward',
        input: computeInput,
        onDone: [
          { guard: 'firstStage', target: 'storing', actions: assign({ stageResult: ({ event }) => event.output }) },
          { target: 'sendingInputGradient', actions: assign({ stageResult: ({ event }) => event.output }) },
        ],
        onError: failOn('backward'),
      },
    },
    sendingInputGradient: {
      on: closesEarly,
      invoke: {
        src: 'sendTensor',
        input: ({ context }) => ({
          components: context.components,
          task: context.task,
          replica: context.replica,
          neighbour: context.upstream,
          direction: 'backward' as const,
          bytes: f32Bytes(context.stageResult?.dInput as Float32Array),
          untilMs: context.sendUntilMs,
        }),
        onDone: 'storing',
        onError: failOn('sendingInputGradient'),
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
          grads: context.stageResult?.grads as Params,
          input: context.input,
          output: context.output,
          dOutput: context.dOutput,
          dInput: context.stageResult?.dInput ?? null,
          steps: context.stageResult?.steps ?? [],
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
