/**
 * The aggregator's work at window close, for one subnet, as a machine: fetch the
 * pseudo-gradients of the accepted submissions (one per task: replicas of a task carry the
 * same bytes, so any of them may serve it) and the adapter state the subnet's pointer names,
 * take their token-weighted mean in the chain's order, apply one outer Nesterov step with the
 * window's rates (DiLoCo's outer optimizer; the momentum buffer travels in the state), store
 * the new state and name it in an aggregate transaction. Every step is deterministic, so any
 * node can recompute the aggregate and dispute a wrong one.
 *
 * Every gradient fetch has a deadline (`aggregationFetchDeadlineMs`): a gradient nobody served
 * in time is left out and marked in the transaction's `unavailable` bitmap, which opens an
 * availability dispute for it, and the rest are aggregated without it. One withholding miner
 * no longer stops its subnet's training.
 *
 * The fetch and the computation are an `AggregateComputation`: on a node, `kernelAggregation`
 * (the gradients' bytes, the kernels); in the simulator, its cost model (src/sim). The machine
 * decides the rest (what to declare unavailable, store, submit), so it runs the same whatever
 * computes.
 *
 *   fetchingGradients → aggregating → storing → submitting → submitted | rejected
 *   (any step that throws → failed: no transaction goes out, the window's pointer stays)
 */
import { assign, fromPromise, setup } from 'xstate'
import { claimListDigest } from '../../chain/claim-list.ts'
import type { Params as ChainParams } from '../../chain/params.ts'
import type { Claim } from '../../chain/state.ts'
import { unavailableBitmap } from '../../chain/unavailable-bitmap.ts'
import { aggregateGradients } from '../../ml/aggregate.ts'
import type { Kernels } from '../../ml/kernels/contract.ts'
import { type NesterovConfig, nesterovStep } from '../../ml/outer.ts'
import type { Params } from '../../ml/weights.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { Misbehaviour } from '../../topology/roles.ts'
import { type ContentFetcher, FETCH_DEADLINE_MS } from '../services/content-fetcher.ts'
import type { ModelPieces } from '../services/model-pieces.ts'
import type { TrainingSetup } from '../services/training-setup.ts'
import { type AdapterState, decodeGradient, encodeAdapterState } from '../training/protocol.ts'
import type { TxResultInfo, TxSender } from '../tx-sender.ts'
import { fetchAvailable } from './availability.ts'

/** What an aggregation's fetch got: the claims it aggregates, those it declares unavailable, and the step to the new state. */
export interface FetchedAggregate {
  /** The claims aggregated, in the chain's order. */
  readonly included: readonly Claim[]
  /** The claims whose gradient nobody served in time, in the chain's order. */
  readonly unavailable: readonly Claim[]
  /**
   * The new adapter state's bytes, computed from what was fetched (`wrong`: the planted
   * `wrongAggregate` fault, a state off by a little). Called once; the fetched inputs go with it.
   */
  compute(options: { readonly wrong: boolean }): Promise<Uint8Array>
}

/** One aggregation's job: which (window, subnet), over which accepted claims, from which state. */
export type AggregationJob = Pick<AggregationInput, 'window' | 'subnet' | 'claims' | 'pointer'>

/**
 * How an aggregator fetches a subnet's gradients and computes its new adapter state: on a
 * node, the gradients' bytes and its kernels (`kernelAggregation`); in the simulator, its cost
 * model (src/sim). The aggregation machine decides what to declare, store and submit.
 */
export interface AggregateComputation {
  /** The inputs of `job`'s aggregate, each gradient within `deadlineMs` (those that do not come are unavailable). */
  fetch(
    job: AggregationJob,
    options: { readonly deadlineMs: number; readonly signal?: AbortSignal },
  ): Promise<FetchedAggregate>
}

/** What `kernelAggregation` reads: the gradients and base state, the window's outer rates. */
export interface KernelAggregationComponents extends AggregateSources {
  readonly training: Pick<TrainingSetup, 'protocolAt'>
}

/**
 * Aggregation on this node: `fetchAvailableInputs`, then `aggregateState` with `kernels` and
 * the window's outer rates, encoded as the adapter state the aggregate names.
 */
export function kernelAggregation(components: KernelAggregationComponents, kernels: Kernels): AggregateComputation {
  return {
    fetch: async (job, { deadlineMs, signal }) => {
      const got = await fetchAvailableInputs(components, job.subnet, job.claims, job.pointer, {
        deadlineMs,
        ...(signal === undefined ? {} : { signal }),
      })
      let inputs: FetchedInputs | null = got.inputs
      return {
        included: got.included,
        unavailable: got.unavailable,
        compute: async ({ wrong }) => {
          if (inputs === null) throw new Error('an aggregate is computed once')
          const next = aggregateState(kernels, components.training.protocolAt(job.window).outer, inputs)
          // The gradients are not needed past this point: let them go before encoding.
          inputs = null
          if (wrong) perturb(next)
          return encodeAdapterState(next)
        },
      }
    },
  }
}

/** The planted `wrongAggregate` fault: one adapter value off by a little, as a bug or a shortcut would leave it. */
function perturb(state: AdapterState): void {
  const first = [...state.adapters.keys()].sort()[0] as string
  const values = state.adapters.get(first) as Float32Array
  values[0] = Math.fround((values[0] as number) + 0.01)
}

/** What one subnet's aggregation uses. */
export interface AggregationComponents {
  readonly aggregation: AggregateComputation
  readonly content: Pick<ContentFetcher, 'store'>
  readonly tx: Pick<TxSender, 'send'>
  readonly logger: Logger
  readonly misbehaviours: ReadonlySet<Misbehaviour>
}

export interface AggregationInput {
  readonly components: AggregationComponents
  readonly window: number
  readonly subnet: number
  /** The accepted submissions, in the chain's order (what the aggregate must name). */
  readonly claims: readonly Claim[]
  /** The adapter-state CID the subnet's pointer names (null: the initial state). */
  readonly pointer: string | null
  /** How long the gradients may take to arrive; those that do not are declared unavailable. */
  readonly fetchDeadlineMs: number
}

export interface AggregationResult {
  readonly window: number
  readonly subnet: number
  readonly outcome: 'submitted' | 'rejected' | 'failed'
  /** The new adapter state's CID, once stored. */
  readonly cid: string | null
  /** The chain's answer code, or what failed. */
  readonly reason: string
  /** The accepted submissions left out because their gradient was not served in time. */
  readonly unavailable: readonly string[]
}

export interface Contribution {
  readonly grads: Params
  readonly tokens: number
}

export interface FetchedInputs {
  readonly contributions: readonly Contribution[]
  /** A copy of the adapter state to step from (the cached one stays as it was). */
  readonly base: AdapterState
}

const copyParams = (p: Params): Params => new Map([...p].map(([k, v]) => [k, v.slice()]))

export function copyAdapterState(a: AdapterState): AdapterState {
  return {
    ...a,
    adapters: copyParams(a.adapters),
    momentum: copyParams(a.momentum),
  }
}

/** The accepted submissions of a window's subnet, in the chain's order. */
export function acceptedClaims(claims: readonly Claim[], subnet: number): Claim[] {
  return claims.filter((c) => c.kind === 'submission' && c.subnet === subnet && c.status === 'accepted')
}

/** Where an aggregate's inputs come from: its aggregator, and anyone who re-executes it. */
export interface AggregateSources {
  readonly content: Pick<ContentFetcher, 'fetch'>
  readonly model: Pick<ModelPieces, 'adapterState' | 'aggregatorOf'>
}

/**
 * The inputs of `subnet`'s aggregate over `claims` from the state `pointer` names: the
 * gradients (one per task: replicas carry the same bytes), each asked first of the miner that
 * stored it, and a copy of the base state.
 */
export async function fetchInputs(
  sources: AggregateSources,
  subnet: number,
  claims: readonly Claim[],
  pointer: string | null,
  signal?: AbortSignal,
): Promise<FetchedInputs> {
  const { content, model } = sources
  const seen = new Set<string>()
  const contributions: Contribution[] = []
  for (const c of claims) {
    if (c.taskId === null || seen.has(c.taskId)) continue
    seen.add(c.taskId)
    const g = decodeGradient(await content.fetch(c.cid, { signal, from: [c.owner] }))
    contributions.push({ grads: g.grads, tokens: g.tokens })
  }
  const state = await model.adapterState(subnet, pointer, pointer === null ? undefined : model.aggregatorOf(pointer))
  return { contributions, base: copyAdapterState(state) }
}

/**
 * How long the aggregator waits for the gradients: the aggregation deadline less two blocks
 * (to aggregate, store and submit), and never longer than any fetch. It derives from chain
 * parameters so that it scales with the block time (a testnet's 1 s blocks, the default 5 s)
 * and needs no setting of its own.
 */
export function aggregationFetchDeadlineMs(
  params: Pick<ChainParams, 'aggregationDeadlineBlocks' | 'blockTimeMs'>,
): number {
  const blocks = Math.max(1, params.aggregationDeadlineBlocks - 2)
  return Math.min(FETCH_DEADLINE_MS, blocks * params.blockTimeMs)
}

/** What the aggregator could fetch: the inputs of the claims it aggregates, and the claims it could not. */
export interface AvailableInputs {
  readonly inputs: FetchedInputs
  /** The claims aggregated, in the chain's order. */
  readonly included: readonly Claim[]
  /** The claims whose gradient nobody served in time, in the chain's order. */
  readonly unavailable: readonly Claim[]
}

/**
 * The aggregator's inputs: every task's gradient fetched at once (a withheld one must not eat
 * the others' time), each asked of all the miners that claimed it (replicas store the same
 * CID), within `deadlineMs`. A task whose gradient does not come, or does not decode, has all
 * its claims unavailable; a caller's abort fails the whole fetch.
 */
export async function fetchAvailableInputs(
  sources: AggregateSources,
  subnet: number,
  claims: readonly Claim[],
  pointer: string | null,
  options: { deadlineMs: number; signal?: AbortSignal },
): Promise<AvailableInputs> {
  const { content, model } = sources
  const byTask = new Map<string, Claim[]>()
  for (const c of claims) {
    if (c.taskId === null) continue
    byTask.set(c.taskId, [...(byTask.get(c.taskId) ?? []), c])
  }
  const fetched = await Promise.allSettled(
    [...byTask.values()].map(async (replicas) => {
      const first = replicas[0] as Claim
      const bytes = await fetchAvailable(
        content,
        first.cid,
        replicas.map((r) => r.owner),
        { deadlineMs: options.deadlineMs, ...(options.signal === undefined ? {} : { signal: options.signal }) },
      )
      return decodeGradient(bytes)
    }),
  )
  options.signal?.throwIfAborted()
  const contributions: Contribution[] = []
  const missing = new Set<string>()
  for (const [i, [taskId]] of [...byTask].entries()) {
    const result = fetched[i] as PromiseSettledResult<ReturnType<typeof decodeGradient>>
    if (result.status === 'fulfilled') contributions.push({ grads: result.value.grads, tokens: result.value.tokens })
    else missing.add(taskId)
  }
  const state = await model.adapterState(subnet, pointer, pointer === null ? undefined : model.aggregatorOf(pointer))
  return {
    inputs: { contributions, base: copyAdapterState(state) },
    included: claims.filter((c) => !missing.has(c.taskId ?? '')),
    unavailable: claims.filter((c) => missing.has(c.taskId ?? '')),
  }
}

/**
 * The new adapter state: `base` after one outer Nesterov step (the window's `outer` rates, its
 * momentum buffer carried in the state) on the token-weighted mean of the pseudo-gradients, in
 * the chain's order; `base` unchanged when there is nothing to aggregate (every
 * pseudo-gradient was unavailable). Every operation is a kernel of the contract, so any
 * backend gives the same bytes, and any node can recompute the aggregate to dispute it.
 */
export function aggregateState(kernels: Kernels, outer: NesterovConfig, inputs: FetchedInputs): AdapterState {
  const next = inputs.base
  if (inputs.contributions.length === 0) return next
  const delta = aggregateGradients(kernels, [...inputs.contributions])
  nesterovStep(kernels, next.adapters, next.momentum, delta, outer)
  return { ...next, step: next.step + 1 }
}

interface AggregationContext extends AggregationInput {
  fetched: FetchedAggregate | null
  /** The claims aggregated and those declared unavailable, once the gradients are fetched. */
  included: readonly Claim[]
  unavailable: readonly Claim[]
  /** The new adapter state's bytes, once computed. */
  next: Uint8Array | null
  cid: string | null
  outcome: AggregationResult['outcome']
  reason: string
}

const failureOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

export const aggregationMachine = setup({
  types: {
    input: {} as AggregationInput,
    context: {} as AggregationContext,
    output: {} as AggregationResult,
  },
  actors: {
    fetchGradients: fromPromise<FetchedAggregate, AggregationInput>(({ input, signal }) =>
      input.components.aggregation.fetch(input, { deadlineMs: input.fetchDeadlineMs, signal }),
    ),
    aggregate: fromPromise<Uint8Array, { fetched: FetchedAggregate; wrong: boolean }>(({ input }) =>
      input.fetched.compute({ wrong: input.wrong }),
    ),
    store: fromPromise<string, { content: AggregationComponents['content']; state: Uint8Array }>(({ input }) =>
      input.content.store(input.state),
    ),
    submit: fromPromise<
      TxResultInfo,
      {
        tx: AggregationComponents['tx']
        window: number
        subnet: number
        /** Every accepted submission, in the chain's order: what the bitmap's bits stand for. */
        accepted: readonly Claim[]
        claims: readonly Claim[]
        unavailable: readonly Claim[]
        cid: string
      }
    >(({ input }) =>
      input.tx.send({
        type: 'aggregate',
        window: input.window,
        subnet: input.subnet,
        claimsDigest: claimListDigest(input.claims.map((c) => c.id)),
        unavailable: unavailableBitmap(
          input.accepted.map((c) => c.id),
          input.unavailable.map((c) => c.id),
        ),
        adapterCid: input.cid,
      }),
    ),
  },
  actions: {
    logFailure: ({ context }) =>
      context.components.logger.warn(
        { window: context.window, subnet: context.subnet, reason: context.reason },
        'aggregation failed',
      ),
  },
}).createMachine({
  id: 'aggregation',
  context: ({ input }) => ({
    ...input,
    fetched: null,
    included: [],
    unavailable: [],
    next: null,
    cid: null,
    outcome: 'failed',
    reason: '',
  }),
  initial: 'fetchingGradients',
  states: {
    fetchingGradients: {
      entry: ({ context }) =>
        context.components.logger.debug(
          { window: context.window, subnet: context.subnet, claims: context.claims.length },
          'aggregating',
        ),
      invoke: {
        src: 'fetchGradients',
        input: ({ context }) => context,
        onDone: {
          target: 'aggregating',
          actions: [
            assign({
              fetched: ({ event }) => event.output,
              included: ({ event }) => event.output.included,
              unavailable: ({ event }) => event.output.unavailable,
            }),
            ({ context, event }) => {
              if (event.output.unavailable.length > 0)
                context.components.logger.warn(
                  {
                    window: context.window,
                    subnet: context.subnet,
                    unavailable: event.output.unavailable.map((c) => c.id),
                  },
                  'gradients not served in time: aggregating without them',
                )
            },
          ],
        },
        onError: { target: 'failed', actions: assign({ reason: ({ event }) => failureOf(event.error) }) },
      },
    },
    aggregating: {
      invoke: {
        src: 'aggregate',
        input: ({ context }) => ({
          fetched: context.fetched as FetchedAggregate,
          wrong: context.components.misbehaviours.has('wrongAggregate'),
        }),
        // The fetched gradients are not needed past this point: the context lets them go.
        onDone: { target: 'storing', actions: assign({ next: ({ event }) => event.output, fetched: null }) },
        onError: { target: 'failed', actions: assign({ reason: ({ event }) => failureOf(event.error) }) },
      },
    },
    storing: {
      invoke: {
        src: 'store',
        input: ({ context }) => ({ content: context.components.content, state: context.next as Uint8Array }),
        onDone: { target: 'submitting', actions: assign({ cid: ({ event }) => event.output, next: null }) },
        onError: { target: 'failed', actions: assign({ reason: ({ event }) => failureOf(event.error) }) },
      },
    },
    submitting: {
      entry: ({ context }) =>
        context.components.logger.debug({ window: context.window, subnet: context.subnet }, 'aggregate computed'),
      invoke: {
        src: 'submit',
        input: ({ context }) => ({
          tx: context.components.tx,
          window: context.window,
          subnet: context.subnet,
          accepted: context.claims,
          claims: context.included,
          unavailable: context.unavailable,
          cid: context.cid as string,
        }),
        onDone: [
          {
            guard: ({ event }) => event.output.code === 'OK',
            target: 'submitted',
            actions: assign({ outcome: 'submitted', reason: ({ event }) => event.output.code }),
          },
          {
            target: 'rejected',
            actions: [
              assign({ outcome: 'rejected', reason: ({ event }) => `${event.output.code}: ${event.output.log}` }),
              ({ context, event }) =>
                context.components.logger.warn(
                  { window: context.window, subnet: context.subnet, code: event.output.code, log: event.output.log },
                  'aggregate rejected',
                ),
            ],
          },
        ],
        onError: { target: 'failed', actions: assign({ reason: ({ event }) => failureOf(event.error) }) },
      },
    },
    submitted: {
      type: 'final',
      entry: ({ context }) =>
        context.components.logger.info(
          { window: context.window, subnet: context.subnet, cid: context.cid },
          'aggregated',
        ),
    },
    rejected: { type: 'final' },
    failed: { type: 'final', entry: 'logFailure' },
  },
  output: ({ context }) => ({
    window: context.window,
    subnet: context.subnet,
    outcome: context.outcome,
    cid: context.cid,
    reason: context.reason,
    unavailable: context.unavailable.map((c) => c.id),
  }),
})
