/**
 * The arbiter role (L3): for each panel seat this node holds, re-execute the disputed stage
 * on the CPU kernels (so the panel's verdict depends on no accelerator) and vote. Each seat
 * (challenge, round) is its own `arbiterSeatMachine`; a re-execution that throws (a fetch
 * timed out) convicts nobody and is tried again at the next block, while the seat's deadline
 * lasts.
 *
 *   arbiter: watching (children: one arbiterSeat per seat waiting for this node's vote)
 *   seat:    reexecuting → voting → voted
 *            reexecuting → retrying → (next block) reexecuting;  (any) → expired | closed
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate'
import { arbiterProof } from '../../chain/game.ts'
import type { KeyPair } from '../../chain/keys.ts'
import type { ArbiterDuty, ChainReader } from '../../chain/reader.ts'
import type { Claim } from '../../chain/state.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { NodeMetrics } from '../services/metrics.ts'
import type { TrainingSetup } from '../services/training-setup.ts'
import type { TxResultInfo, TxSender } from '../tx-sender.ts'
import type { BlockEvent } from './block-event.ts'
import { forgotten, remembered } from './bounded-memory.ts'
import { type Recheck, type ReexecuteComponents, reexecute } from './reexecute.ts'
import type { Dispute } from './reexecute-steps.ts'

export interface ArbiterComponents extends ReexecuteComponents {
  readonly chain: ReexecuteComponents['chain'] & Pick<ChainReader, 'arbiterDuties'>
  readonly training: Pick<TrainingSetup, 'protocol' | 'data' | 'cpuKernels'>
  readonly tx: Pick<TxSender, 'send'>
  readonly key: Pick<KeyPair, 'address' | 'secretKey'>
  readonly metrics: Pick<NodeMetrics, 'verdicts'>
  readonly logger: Logger
}

export interface ArbiterSeatInput {
  readonly components: ArbiterComponents
  readonly duty: ArbiterDuty
  readonly claim: Claim
}

export type SeatOutcome = 'voted' | 'expired' | 'closed'

export interface ArbiterSeatOutput {
  readonly challengeId: string
  readonly round: number
  readonly outcome: SeatOutcome
}

export type ArbiterSeatEvent = { type: 'block'; height: number } | { type: 'closed' }

interface SeatContext extends ArbiterSeatInput {
  check: Recheck | null
}

export const arbiterSeatMachine = setup({
  types: {
    input: {} as ArbiterSeatInput,
    context: {} as SeatContext,
    events: {} as ArbiterSeatEvent,
    output: {} as ArbiterSeatOutput,
  },
  actors: {
    reexecute: fromPromise<Recheck, { components: ArbiterComponents; claim: Claim; dispute: Dispute | null }>(
      ({ input, signal }) =>
        reexecute(input.components, input.claim, input.components.training.cpuKernels, signal, {
          dispute: input.dispute,
        }),
    ),
    vote: fromPromise<TxResultInfo, { components: ArbiterComponents; duty: ArbiterDuty; check: Recheck }>(({ input }) =>
      input.components.tx.send({
        type: 'arbiterVote',
        challengeId: input.duty.challengeId,
        verdict: input.check.honest ? 'no_fault' : 'fault',
        proof: arbiterProof(input.components.key.secretKey, input.duty.challengeId, input.duty.round),
      }),
    ),
  },
  guards: {
    pastDeadline: ({ context, event }) => event.type === 'block' && event.height > context.duty.deadline,
  },
}).createMachine({
  id: 'arbiterSeat',
  context: ({ input }) => ({ ...input, check: null }),
  initial: 'reexecuting',
  on: {
    block: { guard: 'pastDeadline', target: '.expired' },
    closed: '.closed',
  },
  states: {
    reexecuting: {
      invoke: {
        src: 'reexecute',
        input: ({ context }) => ({
          components: context.components,
          claim: context.claim,
          dispute: context.duty.dispute,
        }),
        onDone: { target: 'voting', actions: assign({ check: ({ event }) => event.output }) },
        onError: {
          target: 'retrying',
          actions: ({ context, event }) =>
            context.components.logger.warn(
              { err: event.error, challenge: context.duty.challengeId, round: context.duty.round },
              'could not re-execute a claim',
            ),
        },
      },
    },
    retrying: {
      on: {
        block: [{ guard: 'pastDeadline', target: 'expired' }, { target: 'reexecuting' }],
      },
    },
    voting: {
      // The vote's own block takes the seat off the duties: that is the vote landing, not a close.
      on: { closed: {} },
      invoke: {
        src: 'vote',
        input: ({ context }) => ({
          components: context.components,
          duty: context.duty,
          check: context.check as Recheck,
        }),
        onDone: {
          target: 'voted',
          actions: ({ context, event }) => {
            context.components.metrics.verdicts++
            const check = context.check as Recheck
            context.components.logger.info(
              {
                challenge: context.duty.challengeId,
                verdict: check.honest ? 'no_fault' : 'fault',
                reason: check.reason,
                code: event.output.code,
              },
              'arbiter voted',
            )
          },
        },
        // The vote did not go out: re-execution is cached nowhere, so start over at the next block.
        onError: { target: 'retrying' },
      },
    },
    voted: { type: 'final', output: 'voted' },
    expired: { type: 'final', output: 'expired' },
    closed: { type: 'final', output: 'closed' },
  },
  output: ({ context, event }) => ({
    challengeId: context.duty.challengeId,
    round: context.duty.round,
    outcome: (event as unknown as { output: SeatOutcome }).output,
  }),
})

interface ArbiterContext {
  readonly components: ArbiterComponents
  /** Seats under way, by `challenge/round`. */
  readonly seats: ReadonlyMap<string, true>
  /** Seats finished, with how (never started again). */
  readonly finished: ReadonlyMap<string, SeatOutcome>
}

type SeatDoneEvent = { type: `xstate.done.actor.${string}`; output: ArbiterSeatOutput }

const seatKey = (challengeId: string, round: number): string => `${challengeId}/${round}`
/** The child actor id of a seat. */
export const seatActorId = (key: string): string => `seat:${key}`

export const arbiterMachine = setup({
  types: {
    input: {} as ArbiterComponents,
    context: {} as ArbiterContext,
    events: {} as BlockEvent | SeatDoneEvent,
  },
  actors: { seat: arbiterSeatMachine },
}).createMachine({
  id: 'arbiter',
  context: ({ input }) => ({ components: input, seats: new Map(), finished: new Map() }),
  initial: 'watching',
  states: {
    watching: {
      on: {
        block: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { chain, key } = context.components
            let { seats } = context
            const open = new Set<string>()
            for (const duty of chain.arbiterDuties(key.address)) {
              const id = seatKey(duty.challengeId, duty.round)
              open.add(id)
              if (seats.has(id)) {
                enqueue.sendTo(seatActorId(id), { type: 'block', height: event.height } as const)
                continue
              }
              if (event.height > duty.deadline || duty.claim === null || context.finished.has(id)) continue
              seats = remembered(seats, id, true)
              enqueue.spawnChild('seat', {
                id: seatActorId(id),
                input: { components: context.components, duty, claim: duty.claim },
              })
            }
            // A seat no longer waiting for this node's vote (the vote landed, the challenge ended) ends here.
            for (const id of seats.keys())
              if (!open.has(id)) enqueue.sendTo(seatActorId(id), { type: 'closed' } as const)
            enqueue.assign({ seats })
          }),
        },
        'xstate.done.actor.*': {
          actions: assign(({ context, event }) => {
            const id = seatKey(event.output.challengeId, event.output.round)
            return {
              seats: forgotten(context.seats, id),
              finished: remembered(context.finished, id, event.output.outcome),
            }
          }),
        },
      },
    },
  },
})
