/**
 * One window of a miner, as a machine: fetch the layer range and the adapter state its
 * subnet's pointer names (through the miner's task work, task-work.ts), then run every task
 * the chain assigned it in the window, all at once (a path's stages wait on each other, so
 * running them one after another could leave a neighbour waiting on a task not begun).
 *
 *   fetchingShard ──fetched──▶ training ──every task finished──▶ done
 *        └──fetch failed, or the window closed first──▶ failed   (the next window fetches again)
 *
 * A miner that does no work (the copiedCid misbehaviour) skips the fetch. Blocks reach every
 * task; each task's `task.revealed` and `task.finished` go up to the miner role.
 */
import { type ActorRefFrom, assign, enqueueActions, fromPromise, sendParent, setup } from 'xstate'
import type { Task, Window } from '../../chain/state.ts'
import type { BlockEvent } from './block-event.ts'
import type { MinerComponents } from './miner-components.ts'
import { minerTaskMachine, type TaskOutcome } from './miner-task.ts'
import type { TaskShard } from './task-work.ts'

export interface MinerWindowInput {
  readonly components: MinerComponents
  readonly window: Window
  /** This miner's tasks in the window. */
  readonly tasks: readonly Task[]
  /** Every task of the window (the paths). */
  readonly windowTasks: readonly Task[]
  /** Each wait on a neighbour gives up after this long: work that cannot finish before the close is wasted. */
  readonly waitMs: number
  /** Monotonic time after which sends to neighbours are given up. */
  readonly sendUntilMs: number
}

export type TaskReport = { readonly type: 'task.revealed' | 'task.finished'; readonly outcome: TaskOutcome }
export type MinerWindowEvent = BlockEvent | TaskReport

interface MinerWindowContext extends MinerWindowInput {
  /** The pieces of each subnet this miner has a task in, once fetched. */
  readonly shards: ReadonlyMap<number, TaskShard>
  readonly running: readonly ActorRefFrom<typeof minerTaskMachine>[]
  readonly unfinished: number
  readonly error: string | undefined
}

/** The pieces of each subnet the tasks are in, through the miner's task work (task-work.ts). */
const fetchShard = fromPromise<
  ReadonlyMap<number, TaskShard>,
  { components: MinerComponents; subnets: number[]; window: number }
>(({ input, signal }) => input.components.work.fetchShards(input.subnets, input.window, signal))

export const minerWindowMachine = setup({
  types: {
    input: {} as MinerWindowInput,
    context: {} as MinerWindowContext,
    events: {} as MinerWindowEvent,
  },
  actors: { fetchShard, task: minerTaskMachine },
  guards: {
    copiesWork: ({ context }) => context.components.misbehaviours.has('copiedCid'),
    windowClosed: ({ context, event }) => event.type === 'block' && event.height >= context.window.closeHeight,
    allFinished: ({ context }) => context.unfinished === 0,
  },
  actions: {
    report: sendParent(({ event }) => event),
    forwardBlock: enqueueActions(({ context, event, enqueue }) => {
      for (const ref of context.running) enqueue.sendTo(ref, event as BlockEvent)
    }),
  },
}).createMachine({
  id: 'minerWindow',
  context: ({ input }) => ({
    ...input,
    shards: new Map(),
    running: [],
    unfinished: input.tasks.length,
    error: undefined,
  }),
  initial: 'starting',
  states: {
    starting: {
      always: [{ guard: 'copiesWork', target: 'training' }, { target: 'fetchingShard' }],
    },
    fetchingShard: {
      on: { block: { guard: 'windowClosed', target: 'failed', actions: assign({ error: 'the window closed first' }) } },
      invoke: {
        src: 'fetchShard',
        input: ({ context }) => ({
          components: context.components,
          subnets: [...new Set(context.tasks.map((t) => t.subnet))],
          window: context.window.id,
        }),
        onDone: { target: 'training', actions: assign({ shards: ({ event }) => event.output }) },
        onError: {
          target: 'failed',
          actions: [
            assign({ error: ({ event }) => String(event.error) }),
            ({ context, event }) =>
              context.components.logger.warn({ err: event.error, window: context.window.id }, 'shard fetch failed'),
          ],
        },
      },
    },
    training: {
      entry: assign({
        running: ({ context, spawn }) =>
          context.tasks.map((task) =>
            spawn('task', {
              id: `task-${task.id}`,
              input: {
                components: context.components,
                task,
                windowTasks: context.windowTasks,
                windowSeed: context.window.seed,
                closeHeight: context.window.closeHeight,
                waitMs: context.waitMs,
                sendUntilMs: context.sendUntilMs,
                shard: context.shards.get(task.subnet) ?? null,
              },
            }),
          ),
      }),
      always: { guard: 'allFinished', target: 'done' },
      on: {
        block: { actions: 'forwardBlock' },
        'task.revealed': { actions: 'report' },
        'task.finished': {
          actions: [
            'report',
            assign({ unfinished: ({ context }) => context.unfinished - 1 }),
            ({ context, event }) =>
              context.components.logger.info(
                {
                  task: event.outcome.taskId,
                  code: event.outcome.code,
                  cid: event.outcome.cid,
                  window: context.window.id,
                },
                'task done',
              ),
          ],
        },
      },
    },
    done: {
      type: 'final',
      entry: sendParent(({ context }) => ({ type: 'window.finished', window: context.window.id })),
    },
    failed: {
      type: 'final',
      entry: sendParent(({ context }) => ({ type: 'window.finished', window: context.window.id })),
    },
  },
})
