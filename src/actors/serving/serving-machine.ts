/**
 * The serving role as an XState v5 machine: it follows the chain's model pointer and keeps the
 * model source on the model the pointer names. The HTTP API reads the source; this machine
 * only decides when to load and swaps what it loaded.
 *
 *   waiting ──pointer──▶ loading ──done──▶ settling ──(pointer moved meanwhile)──▶ loading
 *                           │                 └──────────────────────────────────▶ serving
 *                           └──error──▶ serving (old model kept) or waiting (none yet)
 *   serving ──pointer ≠ loaded──▶ loading
 *
 * The one side effect, fetching backbone + adapters for a pointer, is the named actor
 * `loadModel`: the node provides it (from the content store) with
 * `servingMachine.provide({ actors: { loadModel: fromPromise(...) } })`. A pointer that moves
 * while a load runs is remembered and loaded next, so the source always ends on the latest
 * pointer; a failed load keeps the model already served, and the next announcement of a
 * pointer (the same one included) tries again.
 */
import { assign, fromPromise, setup } from 'xstate'
import type { ServedModel, SwappableModelSource } from './model-source.ts'

export interface ServingMachineInput {
  readonly source: SwappableModelSource
}

export type ServingEvent =
  /** The chain's model pointer (e.g. the adapters CID of the latest aggregation) is `pointer`. */
  { readonly type: 'model.pointer'; readonly pointer: string }

export interface ServingContext {
  readonly source: SwappableModelSource
  /** The latest pointer announced. */
  readonly wanted: string | undefined
  /** The pointer of the load in progress. */
  readonly loading: string | undefined
  /** The pointer of the model the source serves. */
  readonly loaded: string | undefined
  /** Why the last load failed, until one succeeds. */
  readonly lastError: string | undefined
  /** Loads that succeeded (each one a swap). */
  readonly swaps: number
}

export const servingMachine = setup({
  types: {
    context: {} as ServingContext,
    input: {} as ServingMachineInput,
    events: {} as ServingEvent,
  },
  actors: {
    loadModel: fromPromise<ServedModel, { pointer: string }>(async ({ input }) => {
      throw new Error(`no loadModel actor provided to the serving machine (pointer ${input.pointer})`)
    }),
  },
  actions: {
    want: assign({ wanted: ({ event }) => event.pointer }),
    swapIn: ({ context }, model: ServedModel) => context.source.swap(model),
  },
  guards: {
    isNewPointer: ({ context, event }) => event.pointer !== context.loaded,
    isBehind: ({ context }) => context.wanted !== context.loaded,
    hasModel: ({ context }) => context.loaded !== undefined,
  },
}).createMachine({
  id: 'serving',
  context: ({ input }) => ({
    source: input.source,
    wanted: undefined,
    loading: undefined,
    loaded: undefined,
    lastError: undefined,
    swaps: 0,
  }),
  initial: 'waiting',
  states: {
    waiting: {
      on: { 'model.pointer': { target: 'loading', actions: 'want' } },
    },
    loading: {
      entry: assign({ loading: ({ context }) => context.wanted }),
      invoke: {
        src: 'loadModel',
        input: ({ context }) => ({ pointer: context.loading as string }),
        onDone: {
          target: 'settling',
          actions: [
            { type: 'swapIn', params: ({ event }) => event.output },
            assign({
              loaded: ({ context }) => context.loading,
              loading: undefined,
              lastError: undefined,
              swaps: ({ context }) => context.swaps + 1,
            }),
          ],
        },
        onError: [
          {
            guard: 'hasModel',
            target: 'serving',
            actions: assign({ loading: undefined, lastError: ({ event }) => String(event.error) }),
          },
          { target: 'waiting', actions: assign({ loading: undefined, lastError: ({ event }) => String(event.error) }) },
        ],
      },
      // Remembered, and loaded once the load in progress has finished.
      on: { 'model.pointer': { actions: 'want' } },
    },
    settling: {
      always: [{ guard: 'isBehind', target: 'loading' }, { target: 'serving' }],
    },
    serving: {
      on: { 'model.pointer': { guard: 'isNewPointer', target: 'loading', actions: 'want' } },
    },
  },
})
