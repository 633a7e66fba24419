/**
 * The miner role, as a machine: wait for a window; on the first block of a window it has not
 * started, spawn one window machine (miner-window.ts) for it. Windows run side by side: a path
 * stuck on a missing neighbour gives up at its deadline without holding the next window.
 *
 *   waitingForWindow ──block, a new open window──▶ training ──the last window finished──▶ waitingForWindow
 *
 * The outcome of every task (the latest `MAX_REMEMBERED_OUTCOMES`) is kept in the context by
 * task id: `/status` lists the acknowledged reveals from it.
 */
import { type ActorRefFrom, assign, enqueueActions, setup, stopChild } from 'xstate'
import type { BlockEvent } from './block-event.ts'
import type { MinerComponents } from './miner-components.ts'
import type { TaskOutcome } from './miner-task.ts'
import { minerWindowMachine, type TaskReport } from './miner-window.ts'

export type { MinerComponents } from './miner-components.ts'
export type { TaskOutcome } from './miner-task.ts'

/** Task outcomes kept (this miner's own tasks, a few windows' worth). */
const MAX_REMEMBERED_OUTCOMES = 1_024
/** Window ids kept to tell a started window from a new one (only the latest few can be open). */
const MAX_REMEMBERED_WINDOWS = 16
/** A wait on a neighbour is never shorter than this, however close the window's end. */
const MIN_NEIGHBOUR_WAIT_MS = 5_000

export type MinerEvent = BlockEvent | TaskReport | { readonly type: 'window.finished'; readonly window: number }

interface MinerContext {
  readonly components: MinerComponents
  readonly windows: readonly { readonly id: number; readonly ref: ActorRefFrom<typeof minerWindowMachine> }[]
  readonly started: readonly number[]
  readonly outcomes: ReadonlyMap<string, TaskOutcome>
}

/** The open window this miner has not started and can still work in at `height`, if any. */
function newWindowAt(context: MinerContext, height: number): number | undefined {
  const w = context.components.chain.currentWindow()
  if (w === null || w.closed || height >= w.closeHeight || context.started.includes(w.id)) return undefined
  return w.id
}

export const minerMachine = setup({
  types: {
    input: {} as MinerComponents,
    context: {} as MinerContext,
    events: {} as MinerEvent,
  },
  actors: { window: minerWindowMachine },
  guards: {
    opensWindow: ({ context, event }) => event.type === 'block' && newWindowAt(context, event.height) !== undefined,
    noWindows: ({ context }) => context.windows.length === 0,
  },
  actions: {
    startWindow: assign(({ context, event, spawn }) => {
      const c = context.components
      const id = newWindowAt(context, (event as BlockEvent).height) as number
      const window = c.chain.window(id)
      if (window === null) return {}
      const waitMs = Math.max(MIN_NEIGHBOUR_WAIT_MS, (window.closeHeight - c.chain.height - 1) * c.pace.blockIntervalMs)
      const ref = spawn('window', {
        id: `window-${id}`,
        input: {
          components: c,
          window,
          tasks: c.chain.tasks(id, c.key.address),
          windowTasks: c.chain.tasks(id),
          waitMs,
          sendUntilMs: c.clock.monotonicMs() + waitMs,
        },
      })
      return {
        windows: [...context.windows, { id, ref }],
        started: [...context.started, id].slice(-MAX_REMEMBERED_WINDOWS),
      }
    }),
    forwardBlock: enqueueActions(({ context, event, enqueue }) => {
      for (const w of context.windows) enqueue.sendTo(w.ref, event as BlockEvent)
    }),
    record: assign({
      outcomes: ({ context, event }) => {
        const outcome = (event as TaskReport).outcome
        const next = new Map(context.outcomes)
        next.delete(outcome.taskId)
        next.set(outcome.taskId, outcome)
        while (next.size > MAX_REMEMBERED_OUTCOMES) next.delete(next.keys().next().value as string)
        return next
      },
    }),
    forget: assign({
      windows: ({ context, event }) => context.windows.filter((w) => w.id !== (event as { window: number }).window),
    }),
  },
}).createMachine({
  id: 'miner',
  context: ({ input }) => ({ components: input, windows: [], started: [], outcomes: new Map() }),
  initial: 'waitingForWindow',
  on: {
    'task.revealed': { actions: 'record' },
    'task.finished': { actions: 'record' },
  },
  states: {
    waitingForWindow: {
      on: { block: { guard: 'opensWindow', target: 'training', actions: 'startWindow' } },
    },
    training: {
      always: { guard: 'noWindows', target: 'waitingForWindow' },
      on: {
        block: [{ guard: 'opensWindow', actions: ['forwardBlock', 'startWindow'] }, { actions: 'forwardBlock' }],
        // A finished window's machine is stopped too: it would stay among the miner's children.
        'window.finished': {
          actions: ['forget', stopChild(({ event }) => `window-${(event as { window: number }).window}`)],
        },
      },
    },
  },
})
