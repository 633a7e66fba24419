/**
 * The serving role as an XState v5 machine: at every block it reads the chain's model pointers
 * (every subnet's adapter-state CID) and keeps the model source on the model they name. The
 * HTTP API reads the source; this machine only decides when to load and swaps what it loaded.
 *
 *   waiting ──pointer──▶ loading ──done──▶ settling ──(pointer moved meanwhile)──▶ loading
 *                           │                 └──────────────────────────────────▶ serving
 *                           └──error──▶ serving (old model kept) or waiting (none yet)
 *   serving ──pointer ≠ loaded──▶ loading
 *
 * A block announces the pointer as a `model.pointer` event (which may also be sent directly).
 * The one side effect, loading the whole current model (backbone ranges and adapters, by CID)
 * and evaluating it on the held-out data, is the named actor `loadModel`; tests swap it with
 * `servingMachine.provide({ actors: { loadModel: fromPromise(...) } })`. A pointer that moves
 * while a load runs is remembered and loaded next, so the source always ends on the latest
 * pointer; a failed load keeps the model already served, and the next announcement of a
 * pointer (the same one included) tries again. Every load's held-out loss is kept in
 * `history` (testnet reports read it from `/status`).
 */
import { assign, fromPromise, raise, setup } from 'xstate'
import type { ChainReader } from '../../chain/reader.ts'
import { bytesTokenizer } from '../../ml/tokenizer/bytes.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { BlockEvent } from '../roles/block-event.ts'
import type { ModelPieces } from '../services/model-pieces.ts'
import type { TrainingSetup } from '../services/training-setup.ts'
import { heldOutLoss } from '../training/evaluate.ts'
import { type ServedModel, type SwappableModelSource, withTokenizer } from './model-source.ts'

/** Held-out losses kept (one per model loaded; a testnet loads one a window). */
const MAX_LOSS_HISTORY = 1_024
/** Tokens of held-out text each evaluation reads. */
export const HELD_OUT_TOKENS = 2_048

export interface LossRecord {
  readonly height: number
  readonly window: number
  /** Adapter-state CID of each subnet (null: the initial state). */
  readonly pointers: readonly (string | null)[]
  /** Held-out cross-entropy, nats per byte. */
  readonly loss: number
}

/** The served model's name: every subnet's adapter-state CID, in subnet order ('initial' before the first aggregate). */
export function modelIdOf(pointers: readonly (string | null)[]): string {
  return pointers.map((p) => p ?? 'initial').join('+')
}

export interface ServingComponents {
  /** What the completion API answers with: the latest model loaded. */
  readonly source: SwappableModelSource
  readonly chain: Pick<ChainReader, 'height' | 'subnets' | 'finalAdapterPointer' | 'currentWindow'>
  readonly model: Pick<ModelPieces, 'currentModel'>
  readonly training: TrainingSetup
  /** The approved data set's held-out token ids. */
  readonly heldOut: Int32Array
  readonly logger: Logger
}

/** A loaded model, and its held-out loss when the load evaluated one. */
export interface LoadedModel {
  readonly served: ServedModel
  readonly record?: LossRecord
}

export type ServingEvent =
  /** The chain's model pointer (every subnet's adapter-state CID, `modelIdOf`) is `pointer`. */
  { readonly type: 'model.pointer'; readonly pointer: string } | BlockEvent

/** The model at the chain's pointers now (a pointer that moved since is loaded next), and its held-out loss. */
const loadModel = fromPromise<LoadedModel, { components: ServingComponents; pointer: string }>(async ({ input }) => {
  const { chain, model, training, heldOut, logger } = input.components
  const height = chain.height
  const current = await model.currentModel()
  const protocol = training.protocolAt(chain.currentWindow()?.id ?? 0)
  const loss = heldOutLoss(training.cpuKernels, current.model, current.adapters, protocol, heldOut, HELD_OUT_TOKENS)
  logger.info({ height, loss, model: modelIdOf(current.pointers) }, 'model loaded')
  return {
    served: withTokenizer(
      {
        id: modelIdOf(current.pointers),
        kernels: training.cpuKernels,
        backbone: current.model,
        adapters: current.adapters,
        lora: protocol.lora,
      },
      training.tokenizer ?? bytesTokenizer,
    ),
    record: { height, window: chain.currentWindow()?.id ?? 0, pointers: current.pointers, loss },
  }
})

export interface ServingContext {
  readonly components: ServingComponents
  /** Held-out loss of every model loaded, in order (the latest MAX_LOSS_HISTORY). */
  readonly history: readonly LossRecord[]
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
    input: {} as ServingComponents,
    events: {} as ServingEvent,
  },
  actors: { loadModel },
  actions: {
    want: assign({ wanted: ({ event }) => (event as { pointer: string }).pointer }),
    swapIn: ({ context }, model: LoadedModel) => context.components.source.swap(model.served),
    keepLoss: assign({
      history: ({ context }, model: LoadedModel) =>
        model.record === undefined ? context.history : [...context.history, model.record].slice(-MAX_LOSS_HISTORY),
    }),
    announce: raise(({ context }) => ({
      type: 'model.pointer' as const,
      // The final pointers: an aggregate still in its challenge period is not served.
      pointer: modelIdOf(
        context.components.chain.subnets().map((s) => context.components.chain.finalAdapterPointer(s.id)),
      ),
    })),
  },
  guards: {
    isNewPointer: ({ context, event }) => (event as { pointer: string }).pointer !== context.loaded,
    isBehind: ({ context }) => context.wanted !== context.loaded,
    hasModel: ({ context }) => context.loaded !== undefined,
  },
}).createMachine({
  id: 'serving',
  context: ({ input }) => ({
    components: input,
    history: [],
    wanted: undefined,
    loading: undefined,
    loaded: undefined,
    lastError: undefined,
    swaps: 0,
  }),
  initial: 'waiting',
  on: { block: { actions: 'announce' } },
  states: {
    waiting: {
      on: { 'model.pointer': { target: 'loading', actions: 'want' } },
    },
    loading: {
      entry: assign({ loading: ({ context }) => context.wanted }),
      invoke: {
        src: 'loadModel',
        input: ({ context }) => ({ components: context.components, pointer: context.loading as string }),
        onDone: {
          target: 'settling',
          actions: [
            { type: 'swapIn', params: ({ event }) => event.output },
            { type: 'keepLoss', params: ({ event }) => event.output },
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
