/**
 * The arbiter role (L3): for each panel seat this node holds, rule on the disputed claim and
 * vote. Each seat (challenge, round) is its own `arbiterSeatMachine`. It first fetches the
 * claim's content (availability.ts: from the owner, then the replicas of its task). An
 * availability dispute asks nothing more: 'no_fault' if the content came, 'unavailable' if it
 * was not served within `availabilityFetchDeadlineMs` (half the round) or has not come when the
 * vote must go out to land by the round's deadline. A fault challenge then re-executes the
 * stage on the CPU kernels (so the panel's verdict depends on no accelerator); a re-execution that throws
 * convicts nobody and is tried again at the next block, and one that still lacks content when
 * the vote must go out votes 'unavailable'. So an arbiter is never silent (hence never
 * penalized) for content its owner withheld.
 *
 *   arbiter: watching (children: one arbiterSeat per seat waiting for this node's vote)
 *   seat:    fetching → (availability) voting → voted
 *            fetching → reexecuting → voting → voted
 *            fetching → (not served within the fetch's deadline) voting 'unavailable'
 *            reexecuting → retrying → (next block) reexecuting
 *            (fetching, retrying with content missing) → (vote due: deadline − TX_INCLUSION_BLOCKS) voting 'unavailable'
 *            voting → retryingVote → (next block) voting
 *            (any) → expired | closed
 */
import { assign, enqueueActions, fromPromise, setup, stopChild } from 'xstate'
import { arbiterProof } from '../../chain/game.ts'
import type { KeyPair } from '../../chain/keys.ts'
import type { Params as ChainParams } from '../../chain/params.ts'
import type { ArbiterDuty, ChainReader } from '../../chain/reader.ts'
import type { Claim, Verdict } from '../../chain/state.ts'
import type { Logger } from '../../runtime/logger.ts'
import { FETCH_DEADLINE_MS } from '../services/content-fetcher.ts'
import type { NodeMetrics } from '../services/metrics.ts'
import type { TxResultInfo, TxSender } from '../tx-sender.ts'
import {
  type AvailabilityComponents,
  ContentUnavailableError,
  fetchClaimContent,
  TX_INCLUSION_BLOCKS,
} from './availability.ts'
import type { BlockEvent } from './block-event.ts'
import { forgotten, remembered } from './bounded-memory.ts'
import { childIdOf } from './finished-child.ts'
import type { ClaimReexecution, Recheck } from './reexecute.ts'
import type { Dispute } from './reexecute-steps.ts'

export interface ArbiterComponents extends AvailabilityComponents {
  readonly chain: AvailabilityComponents['chain'] & Pick<ChainReader, 'arbiterDuties' | 'params'>
  /** The node's re-execution on its CPU kernels, so the panel's verdict depends on no accelerator. */
  readonly reexecution: ClaimReexecution
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

/** What the seat votes, and why. */
export interface SeatVote {
  readonly verdict: Verdict
  readonly reason: string
}

interface SeatContext extends ArbiterSeatInput {
  vote: SeatVote | null
  /** The last re-execution failed because content did not arrive in time. */
  contentMissing: boolean
}

/**
 * How long a seat waits for the claim's content: half the round's time before its vote is due.
 * Every vote of one node goes out one transaction at a time (tx-sender.ts), and an aggregate
 * opens its availability disputes together, so votes decided at the last moment would not all
 * land by the deadline; decided at mid-round, they do.
 */
export function availabilityFetchDeadlineMs(params: Pick<ChainParams, 'l3DeadlineBlocks' | 'blockTimeMs'>): number {
  const blocks = Math.max(1, Math.floor((params.l3DeadlineBlocks - TX_INCLUSION_BLOCKS) / 2))
  return Math.min(FETCH_DEADLINE_MS, blocks * params.blockTimeMs)
}

const voteOf = (check: Recheck): SeatVote => ({ verdict: check.honest ? 'no_fault' : 'fault', reason: check.reason })
const UNAVAILABLE: SeatVote = { verdict: 'unavailable', reason: 'the content was not served in time' }

export const arbiterSeatMachine = setup({
  types: {
    input: {} as ArbiterSeatInput,
    context: {} as SeatContext,
    events: {} as ArbiterSeatEvent,
    output: {} as ArbiterSeatOutput,
  },
  actors: {
    fetchContent: fromPromise<Uint8Array, { components: ArbiterComponents; claim: Claim }>(({ input, signal }) =>
      fetchClaimContent(input.components, input.claim, {
        signal,
        deadlineMs: availabilityFetchDeadlineMs(input.components.chain.params),
      }),
    ),
    reexecute: fromPromise<Recheck, { components: ArbiterComponents; claim: Claim; dispute: Dispute | null }>(
      ({ input, signal }) =>
        input.components.reexecution.check(input.claim, {
          signal,
          dispute: input.dispute,
          // Bounded like the first fetch: content still missing comes back as unavailable in
          // time for the round's last vote, instead of keeping the seat silent to its deadline.
          fetchDeadlineMs: availabilityFetchDeadlineMs(input.components.chain.params),
        }),
    ),
    vote: fromPromise<TxResultInfo, { components: ArbiterComponents; duty: ArbiterDuty; vote: SeatVote }>(({ input }) =>
      input.components.tx.send({
        type: 'arbiterVote',
        challengeId: input.duty.challengeId,
        verdict: input.vote.verdict,
        proof: arbiterProof(input.components.key.secretKey, input.duty.challengeId, input.duty.round),
      }),
    ),
  },
  guards: {
    pastDeadline: ({ context, event }) => event.type === 'block' && event.height > context.duty.deadline,
    // The last moment a vote surely lands by the round's deadline; later it would be refused
    // and the seat penalized.
    lastBlock: ({ context, event }) =>
      event.type === 'block' && event.height >= context.duty.deadline - TX_INCLUSION_BLOCKS,
    availabilityOnly: ({ context }) => context.duty.kind === 'availability',
    contentMissing: ({ context }) => context.contentMissing,
  },
}).createMachine({
  id: 'arbiterSeat',
  context: ({ input }) => ({ ...input, vote: null, contentMissing: false }),
  initial: 'fetching',
  on: {
    block: { guard: 'pastDeadline', target: '.expired' },
    closed: '.closed',
  },
  states: {
    fetching: {
      on: {
        block: [
          { guard: 'pastDeadline', target: 'expired' },
          { guard: 'lastBlock', target: 'voting', actions: assign({ vote: UNAVAILABLE }) },
        ],
      },
      invoke: {
        src: 'fetchContent',
        input: ({ context }) => ({ components: context.components, claim: context.claim }),
        onDone: [
          {
            guard: 'availabilityOnly',
            target: 'voting',
            actions: assign({ vote: { verdict: 'no_fault', reason: 'the content was served' } }),
          },
          { target: 'reexecuting' },
        ],
        onError: [
          // Bytes that arrived corrupt: the re-execution rules on them (a fault); an availability
          // dispute only asks whether the content can be had, and corrupt bytes are not it.
          { guard: ({ event }) => !(event.error instanceof ContentUnavailableError), target: 'fetchFailed' },
          // Not served within the fetch's deadline: vote now, while the vote surely lands.
          { target: 'voting', actions: assign({ vote: UNAVAILABLE }) },
        ],
      },
    },
    fetchFailed: {
      always: [
        { guard: 'availabilityOnly', target: 'voting', actions: assign({ vote: UNAVAILABLE }) },
        { target: 'reexecuting' },
      ],
    },
    reexecuting: {
      invoke: {
        src: 'reexecute',
        input: ({ context }) => ({
          components: context.components,
          claim: context.claim,
          dispute: context.duty.dispute,
        }),
        onDone: { target: 'voting', actions: assign({ vote: ({ event }) => voteOf(event.output) }) },
        onError: {
          target: 'retrying',
          actions: [
            assign({ contentMissing: ({ event }) => event.error instanceof ContentUnavailableError }),
            ({ context, event }) =>
              context.components.logger.warn(
                { err: event.error, challenge: context.duty.challengeId, round: context.duty.round },
                'could not re-execute a claim',
              ),
          ],
        },
      },
    },
    retrying: {
      on: {
        block: [
          { guard: 'pastDeadline', target: 'expired' },
          {
            guard: ({ context, event }) =>
              context.contentMissing &&
              event.type === 'block' &&
              event.height >= context.duty.deadline - TX_INCLUSION_BLOCKS,
            target: 'voting',
            actions: assign({ vote: UNAVAILABLE }),
          },
          { target: 'reexecuting' },
        ],
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
          vote: context.vote as SeatVote,
        }),
        onDone: {
          target: 'voted',
          actions: ({ context, event }) => {
            context.components.metrics.verdicts++
            const vote = context.vote as SeatVote
            context.components.logger.info(
              {
                challenge: context.duty.challengeId,
                verdict: vote.verdict,
                reason: vote.reason,
                code: event.output.code,
              },
              'arbiter voted',
            )
          },
        },
        // The vote did not go out: send it again at the next block, while the round lasts.
        onError: { target: 'retryingVote' },
      },
    },
    retryingVote: {
      on: { block: [{ guard: 'pastDeadline', target: 'expired' }, { target: 'voting' }] },
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
          actions: [
            assign(({ context, event }) => {
              const id = seatKey(event.output.challengeId, event.output.round)
              return {
                seats: forgotten(context.seats, id),
                finished: remembered(context.finished, id, event.output.outcome),
              }
            }),
            stopChild(({ event }) => childIdOf(event)),
          ],
        },
      },
    },
  },
})
