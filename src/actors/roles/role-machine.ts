/**
 * The shape every role actor shares: an XState machine that wakes on each executed block,
 * runs its role's work for that height as an invoked promise, and while it works remembers
 * only the newest height that arrived (work always looks at the chain's latest state, so the
 * blocks in between need no replay). A failed run is logged and counted; the role carries
 * on at the next block. Each role brings its own `RoleWork` (roles/*.ts).
 */
import { assign, fromPromise, setup } from 'xstate'
import type { Logger } from '../../runtime/logger.ts'

export interface RoleWork {
  /** Do what this role does at `height`; `signal` aborts when the node stops. */
  run(height: number, signal: AbortSignal): Promise<void>
  /** Release what the work holds (actors, workers) when the node stops. */
  stop?(): void
}

export interface RoleInput {
  readonly role: string
  readonly work: RoleWork
  readonly logger: Logger
}

interface RoleContext extends RoleInput {
  height: number
  pending: number | null
  runs: number
  failures: number
}

export type RoleEvent = { type: 'block'; height: number } | { type: 'stop' }

export const roleMachine = setup({
  types: {
    context: {} as RoleContext,
    input: {} as RoleInput,
    events: {} as RoleEvent,
  },
  actors: {
    work: fromPromise<void, { work: RoleWork; height: number }>(({ input, signal }) =>
      input.work.run(input.height, signal),
    ),
  },
  guards: {
    hasPending: ({ context }) => context.pending !== null,
  },
}).createMachine({
  id: 'role',
  context: ({ input }) => ({ ...input, height: 0, pending: null, runs: 0, failures: 0 }),
  initial: 'idle',
  on: { stop: '.stopped' },
  states: {
    idle: {
      on: { block: { target: 'working', actions: assign({ height: ({ event }) => event.height }) } },
    },
    working: {
      invoke: {
        src: 'work',
        input: ({ context }) => ({ work: context.work, height: context.height }),
        onDone: { target: 'settled', actions: assign({ runs: ({ context }) => context.runs + 1 }) },
        onError: {
          target: 'settled',
          actions: [
            assign({ failures: ({ context }) => context.failures + 1 }),
            ({ context, event }) =>
              context.logger.warn({ err: event.error, role: context.role, height: context.height }, 'role work failed'),
          ],
        },
      },
      on: { block: { actions: assign({ pending: ({ event }) => event.height }) } },
    },
    settled: {
      always: [
        {
          guard: 'hasPending',
          target: 'working',
          actions: assign({ height: ({ context }) => context.pending as number, pending: null }),
        },
        { target: 'idle' },
      ],
    },
    stopped: { type: 'final' },
  },
})
