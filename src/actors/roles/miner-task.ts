/**
 * One task of a miner's window, as a machine: its stage of the task's pipeline path trained
 * with its neighbours, what a verifier needs stored, then commit, wait for the task's other
 * replicas to commit, reveal, and watch the claim until the chain settles it. The training
 * and the storing are the miner's task work (task-work.ts: the kernels and the network on a
 * node, kernel-task-work.ts; the cost model in the simulator); the machine decides the rest,
 * the planted faults included, so it runs the same whatever computes.
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
import { sleep } from '../../runtime/clock.ts'
import { traceCidOf, traceMetadata } from '../training/protocol.ts'
import type { BlockEvent } from './block-event.ts'
import type { MinerComponents } from './miner-components.ts'
import { pathOf } from './pipeline.ts'
import type { StoredTask, StoreRequest, TaskShard, TrainRequest } from './task-work.ts'

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
  readonly shard: TaskShard | null
}

export type MinerTaskEvent = BlockEvent

interface MinerTaskContext extends MinerTaskInput {
  readonly replica: number
  readonly upstream: Task | undefined
  readonly downstream: Task | undefined
  /** What the work's training gave (the work's own business), until it is stored. */
  readonly trained: unknown
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

/** The training effect's input: the request, with the components whose work runs it. */
export type TrainInput = TrainRequest & { readonly components: MinerComponents }

/** Train the stage's share of the task through the miner's task work (task-work.ts). */
export const trainStage = fromPromise<unknown, TrainInput>(({ input: { components, ...request }, signal }) =>
  components.work.trainStage(request, signal),
)

/** The storing effect's input: the request, with the components whose work runs it. */
export type StoreInput = StoreRequest & { readonly components: MinerComponents }

/** Store what a verifier needs through the miner's task work: the CIDs the reveal names. */
export const storeResults = fromPromise<StoredTask, StoreInput>(({ input: { components, ...request }, signal }) =>
  components.work.storeResults(request, signal),
)

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
  c.logger.debug({ task: input.task.id, code: result.code, height: c.chain.height }, 'task committed')
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
  c.logger.debug({ task: input.task.id, code: result.code, height: c.chain.height }, 'task revealed')
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
          shard: context.shard as TaskShard,
          waitMs: context.waitMs,
          untilMs: context.sendUntilMs,
          wrongGradient: context.components.misbehaviours.has('wrongGradient'),
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
          trained: context.trained,
          first: context.upstream === undefined,
          last: context.downstream === undefined,
          withhold: context.components.misbehaviours.has('withholdingMiner'),
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
