/**
 * The verifier's re-executions, one at a time, earliest deadline first: a re-execution is
 * mostly compute, so two side by side would only both finish later, and the attempt whose
 * answer is due first must not wait behind one due later. Requests for a claim already queued
 * or running are folded into it (a verdict is per claim, whatever the attempt). The queue is
 * bounded (`MAX_QUEUED_REEXECUTIONS`): past it the latest deadline waits outside, and its
 * attempt asks again at a later block.
 *
 *   idle ⇄ running (each result goes to the parent: `reexecuted` or `reexecutionFailed`)
 */
import { assign, fromPromise, sendParent, setup } from 'xstate'
import type { ChainReader } from '../../chain/reader.ts'
import type { Claim } from '../../chain/state.ts'
import { MAX_QUEUED_REEXECUTIONS } from '../../runtime/limits.ts'
import type { Misbehaviour } from '../../topology/roles.ts'
import type { ClaimReexecution, Recheck } from './reexecute.ts'
import type { Dispute } from './reexecute-steps.ts'

/** What the verifier's re-executions use: the node's re-execution (its own kernels), and its misbehaviours. */
export interface ReexecutorComponents {
  readonly chain: Pick<ChainReader, 'params'>
  readonly reexecution: ClaimReexecution
  readonly misbehaviours: ReadonlySet<Misbehaviour>
}

export interface ReexecutionRequest {
  readonly claim: Claim
  /** The height by which the verdict is needed (the attempt's deadline). */
  readonly deadline: number
  /** The challenger's step trace, when it published one: the claim is settled by bisection. */
  readonly dispute?: Dispute | null
}

export type ReexecutorEvent = { type: 'reexecute'; request: ReexecutionRequest }

/** What the reexecutor tells its parent. */
export type ReexecutionResultEvent =
  | { type: 'reexecuted'; claimId: string; check: Recheck }
  | { type: 'reexecutionFailed'; claimId: string; error: unknown }

interface ReexecutorContext {
  readonly components: ReexecutorComponents
  readonly queue: readonly ReexecutionRequest[]
  readonly current: ReexecutionRequest | null
}

/** `queue` with `request` in deadline order, unless its claim is queued or running already; bounded. */
export function enqueued(
  queue: readonly ReexecutionRequest[],
  current: ReexecutionRequest | null,
  request: ReexecutionRequest,
): readonly ReexecutionRequest[] {
  const claimId = request.claim.id
  if (current?.claim.id === claimId || queue.some((r) => r.claim.id === claimId)) return queue
  const next = [...queue, request].sort((a, b) => a.deadline - b.deadline)
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
  },
}).createMachine({
  id: 'reexecutor',
  context: ({ input }) => ({ components: input, queue: [], current: null }),
  initial: 'idle',
  on: {
    reexecute: {
      actions: assign({ queue: ({ context, event }) => enqueued(context.queue, context.current, event.request) }),
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
        }),
      },
    },
    running: {
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
