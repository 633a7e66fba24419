/**
 * The verifier's re-executions, one at a time: a re-execution is mostly compute, so two side by
 * side would only both finish later. Those of attempts whose seat this node holds go first (it
 * is penalized for a seat it does not answer), then by deadline (the answer due first must not
 * wait behind one due later). A node's ticket may select it for many attempts at once, of which
 * it wins some seats: the re-executions no open attempt of its own needs any more (the seat went
 * to a better ticket, the attempt closed) are dropped, and one running is stopped, so the seats
 * it won are not answered late behind the work for those it lost (a simulated burst of eight
 * challenges had every verifier re-executing all eight, and the one seated on them late).
 * Requests for a claim already queued or running are folded into it (a verdict is per claim,
 * whatever the attempt), taking the request's newer seat and deadline. The queue is bounded
 * (`MAX_QUEUED_REEXECUTIONS`): past it the last in order waits outside, and its attempt asks
 * again at a later block.
 *
 *   idle ⇄ running (each result goes to the parent: `reexecuted` or `reexecutionFailed`)
 *   running → (forget its claim) idle
 */
import { assign, fromPromise, sendParent, setup } from 'xstate'
import type { ChainReader } from '../../chain/reader.ts'
import type { Claim } from '../../chain/state.ts'
import type { Clock } from '../../runtime/clock.ts'
import { MAX_QUEUED_REEXECUTIONS } from '../../runtime/limits.ts'
import type { Misbehaviour } from '../../topology/roles.ts'
import type { ClaimReexecution, Recheck } from './reexecute.ts'
import type { Dispute } from './reexecute-steps.ts'

/** What the verifier's re-executions use: the node's re-execution (its own kernels), and its misbehaviours. */
export interface ReexecutorComponents {
  readonly chain: Pick<ChainReader, 'params'>
  /** Times each re-execution, so the verifier knows how many seats it can answer in time. */
  readonly clock: Pick<Clock, 'monotonicMs'>
  readonly reexecution: ClaimReexecution
  readonly misbehaviours: ReadonlySet<Misbehaviour>
}

export interface ReexecutionRequest {
  readonly claim: Claim
  /** The height by which the verdict is needed (the attempt's deadline). */
  readonly deadline: number
  /** The challenger's step trace, when it published one: the claim is settled by bisection. */
  readonly dispute?: Dispute | null
  /** This node holds the seat of an attempt that needs the verdict. @default false */
  readonly seated?: boolean
}

export type ReexecutorEvent =
  | { type: 'reexecute'; request: ReexecutionRequest }
  /** No open attempt of this node needs the claim's verdict any more. */
  | { type: 'forget'; claimId: string }

/** What the reexecutor tells its parent. */
export type ReexecutionResultEvent =
  /** `ms`: how long the re-execution took, on the node's clock. */
  | { type: 'reexecuted'; claimId: string; check: Recheck; ms: number }
  | { type: 'reexecutionFailed'; claimId: string; error: unknown }

interface ReexecutorContext {
  readonly components: ReexecutorComponents
  readonly queue: readonly ReexecutionRequest[]
  readonly current: ReexecutionRequest | null
  /** When the current re-execution started (monotonic ms). */
  readonly startedMs: number
}

/** Seated first, then the earliest deadline. */
const reexecutionOrder = (a: ReexecutionRequest, b: ReexecutionRequest): number =>
  Number(b.seated === true) - Number(a.seated === true) || a.deadline - b.deadline

/**
 * `queue` with `request` in order (`reexecutionOrder`), unless its claim is running already; a
 * claim queued already takes the request's newer seat and deadline. Bounded.
 */
export function enqueued(
  queue: readonly ReexecutionRequest[],
  current: ReexecutionRequest | null,
  request: ReexecutionRequest,
): readonly ReexecutionRequest[] {
  const claimId = request.claim.id
  if (current?.claim.id === claimId) return queue
  const next = [...queue.filter((r) => r.claim.id !== claimId), request].sort(reexecutionOrder)
  return next.slice(0, MAX_QUEUED_REEXECUTIONS)
}

export const reexecutorMachine = setup({
  types: {
    input: {} as ReexecutorComponents,
    context: {} as ReexecutorContext,
    events: {} as ReexecutorEvent,
  },
  actors: {
    reexecute: fromPromise<Recheck, { components: ReexecutorComponents; claim: Claim; dispute: Dispute | null }>(
      async ({ input, signal }) => {
        const { components, claim } = input
        // A lazy verifier sides with the miner without looking.
        if (components.misbehaviours.has('lazyVerifier')) return { honest: true, reason: 'not checked' }
        // Content that has not come within an L2 deadline's time will not come in time for the
        // answer: fail as unavailable then, instead of holding up the queue behind it.
        const { l2DeadlineBlocks, blockTimeMs } = components.chain.params
        return components.reexecution.check(claim, {
          signal,
          dispute: input.dispute,
          fetchDeadlineMs: l2DeadlineBlocks * blockTimeMs,
        })
      },
    ),
  },
  guards: {
    hasQueued: ({ context }) => context.queue.length > 0,
    forgetsCurrent: ({ context, event }) => event.type === 'forget' && context.current?.claim.id === event.claimId,
  },
}).createMachine({
  id: 'reexecutor',
  context: ({ input }) => ({ components: input, queue: [], current: null, startedMs: 0 }),
  initial: 'idle',
  on: {
    reexecute: {
      actions: assign({ queue: ({ context, event }) => enqueued(context.queue, context.current, event.request) }),
    },
    forget: {
      actions: assign({ queue: ({ context, event }) => context.queue.filter((r) => r.claim.id !== event.claimId) }),
    },
  },
  states: {
    idle: {
      always: {
        guard: 'hasQueued',
        target: 'running',
        actions: assign({
          current: ({ context }) => context.queue[0] ?? null,
          queue: ({ context }) => context.queue.slice(1),
          startedMs: ({ context }) => context.components.clock.monotonicMs(),
        }),
      },
    },
    running: {
      // Leaving the state stops the re-execution (its signal aborts).
      on: { forget: { guard: 'forgetsCurrent', target: 'idle', actions: assign({ current: null }) } },
      invoke: {
        src: 'reexecute',
        input: ({ context }) => ({
          components: context.components,
          claim: (context.current as ReexecutionRequest).claim,
          dispute: (context.current as ReexecutionRequest).dispute ?? null,
        }),
        onDone: {
          target: 'idle',
          actions: [
            sendParent(({ context, event }) => ({
              type: 'reexecuted',
              claimId: (context.current as ReexecutionRequest).claim.id,
              check: event.output,
              ms: context.components.clock.monotonicMs() - context.startedMs,
            })),
            assign({ current: null }),
          ],
        },
        onError: {
          target: 'idle',
          actions: [
            sendParent(({ context, event }) => ({
              type: 'reexecutionFailed',
              claimId: (context.current as ReexecutionRequest).claim.id,
              error: event.error,
            })),
            assign({ current: null }),
          ],
        },
      },
    },
  },
})
