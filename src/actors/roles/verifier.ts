/**
 * The verifier role (L2): answer the challenges this node is selected for by re-executing the
 * disputed stage. A verifier learns whether it is selected for an L2 attempt only by
 * evaluating its VRF ticket over the attempt's input (src/chain/verifier-draw.ts); tickets are
 * computed once per attempt and remembered.
 *
 * On each block, first the claims, for every attempt this node is selected for: each selected
 * attempt becomes its own `verifierAttemptMachine` (verifier-attempt.ts), which claims the seat
 * at once. A claim phase lasts a couple of blocks, and a claim that waited on a re-execution of
 * another challenge (seconds on a busy machine) came too late: the attempt passed and the seat
 * went unclaimed. Then the re-executions: each selected attempt's claim goes to the
 * `reexecutorMachine` (reexecutor.ts), which runs them one at a time, those of seats it holds
 * first, then earliest deadline first, as soon as an attempt has fetched the claim's content
 * (content that never comes, withheld, would hold the queue up to its fetch's deadline); an
 * attempt that ends (the seat went to a better ticket, say) takes its re-execution with it
 * when no other attempt of this node needs the claim. A node takes no more seats than it can
 * answer in time (`canAnswerInTime`, from how long its re-executions take): under a burst of
 * challenges, a verifier that claimed every seat its ticket won was penalized for the answers it
 * could not give by their deadlines (found by the simulator, src/sim, with eight challenges in
 * one block); the seats it declines go to other verifiers or are drawn again. Verdicts are kept per claim: a re-execution is
 * deterministic, so a later attempt of the same challenge reuses it. A re-execution that throws
 * convicts nobody: the claim is queued again at the next block; one that throws because the
 * content was not served in time also tells the claim's attempts, which answer 'unavailable'.
 *
 *   watching (children: reexecutor, one verifierAttempt per selected open attempt)
 */
import { enqueueActions, setup } from 'xstate'
import type { KeyPair } from '../../chain/keys.ts'
import type { ChainReader, VerifierDraw } from '../../chain/reader.ts'
import type { Claim } from '../../chain/state.ts'
import { isVerifierSelected, type VerifierTicket, verifierTicket } from '../../chain/verifier-draw.ts'
import { ContentUnavailableError } from './availability.ts'
import type { BlockEvent } from './block-event.ts'
import { forgotten, remembered } from './bounded-memory.ts'
import { childIdOf } from './finished-child.ts'
import type { Recheck } from './reexecute.ts'
import { type ReexecutionResultEvent, type ReexecutorComponents, reexecutorMachine } from './reexecutor.ts'
import {
  type AttemptOutcome,
  type VerifierAttemptComponents,
  type VerifierAttemptOutput,
  verifierAttemptMachine,
} from './verifier-attempt.ts'

export interface VerifierComponents extends ReexecutorComponents, VerifierAttemptComponents {
  readonly chain: ReexecutorComponents['chain'] &
    VerifierAttemptComponents['chain'] &
    Pick<ChainReader, 'verifierDraws'>
  readonly key: Pick<KeyPair, 'address' | 'secretKey'>
}

interface VerifierContext {
  readonly components: VerifierComponents
  /**
   * Each open attempt's ticket (by `challenge/attempt`) once evaluated, so its VRF is computed
   * once: null when it does not select this verifier (no proof made).
   */
  readonly tickets: ReadonlyMap<string, VerifierTicket | null>
  /** Verdicts by claim. */
  readonly verdicts: ReadonlyMap<string, Recheck>
  /** Attempts under way by attempt key, with the claim each disputes. */
  readonly attempts: ReadonlyMap<string, string>
  /** Attempts finished, with how (never started again). */
  readonly finished: ReadonlyMap<string, AttemptOutcome>
  /** Claims whose content an attempt fetched: only those are re-executed. */
  readonly arrived: ReadonlyMap<string, true>
  /** How long a re-execution takes here (a running mean of those done), or null before the first. */
  readonly reexecutionMs: number | null
}

/** Blocks an answer takes to land once sent, on a network that keeps up. */
const ANSWER_LANDS_BLOCKS = 1

/** Weight of the newest re-execution in the running mean of their times. */
const REEXECUTION_MS_WEIGHT = 0.25

/**
 * Whether this node can take one more seat of an attempt due at `deadline`: its re-executions
 * still owed (`owed`, one at a time) and this one must be done a block before the deadline,
 * for the answer to land in the block after it goes out. (Not TX_INCLUSION_BLOCKS, the margin
 * of a busy network that the attempt keeps for answers it can give in any case: with the
 * chain's two-block claim phase and a deadline three blocks after it, that margin would leave
 * no time at all, every verifier would decline, and a wrong aggregate's short challenge period
 * ran out with nobody seated, as the simulator found.) A seat it cannot answer in time costs it the
 * chain's penalty, and would have gone to the next best ticket; declined, the attempt goes to
 * another verifier, or is drawn again later. Before its first re-execution a node does not
 * know its pace, and counts a block for each. (Taking one seat at a time then left a burst of
 * challenges at a run's start unseated through all their attempts: seed 15, every fault.)
 */
export function canAnswerInTime(
  reexecutionMs: number | null,
  owed: number,
  height: number,
  deadline: number,
  blockTimeMs: number,
): boolean {
  return (owed + 1) * (reexecutionMs ?? blockTimeMs) <= (deadline - ANSWER_LANDS_BLOCKS - height) * blockTimeMs
}

type AttemptDoneEvent = { type: `xstate.done.actor.${string}`; output: VerifierAttemptOutput }
/** An attempt fetched its claim's content. */
type ContentArrivedEvent = { type: 'contentArrived'; draw: VerifierDraw }

/** What the reexecutor needs for `draw`'s claim. */
const reexecuteRequest = (draw: VerifierDraw, address: string) =>
  ({
    type: 'reexecute',
    request: {
      claim: draw.claim as Claim,
      deadline: draw.deadline,
      dispute: draw.dispute,
      seated: draw.seat === address,
    },
  }) as const

const attemptKey = (challengeId: string, attempt: number): string => `${challengeId}/${attempt}`
/** The child actor id of an attempt. */
export const attemptActorId = (key: string): string => `attempt:${key}`

/**
 * The tickets of the draws still open: `fresh` added, closed ones gone. Bounded by the chain's
 * open attempts (consensus bounds those) rather than by a count: at a thousand open challenges
 * a count of the latest few evicted tickets still open, and every block evaluated their VRF
 * again. Unchanged (the same map) when nothing was added or closed.
 */
function ticketsOfOpen(
  tickets: ReadonlyMap<string, VerifierTicket | null>,
  fresh: readonly [string, VerifierTicket | null][],
  open: ReadonlySet<string>,
): ReadonlyMap<string, VerifierTicket | null> {
  let closed = false
  for (const id of tickets.keys())
    if (!open.has(id)) {
      closed = true
      break
    }
  if (!closed && fresh.length === 0) return tickets
  const next = new Map<string, VerifierTicket | null>()
  for (const [id, ticket] of tickets) if (open.has(id)) next.set(id, ticket)
  for (const [id, ticket] of fresh) next.set(id, ticket)
  return next
}

export const verifierMachine = setup({
  types: {
    input: {} as VerifierComponents,
    context: {} as VerifierContext,
    events: {} as BlockEvent | ReexecutionResultEvent | AttemptDoneEvent | ContentArrivedEvent,
  },
  actors: { reexecutor: reexecutorMachine, attempt: verifierAttemptMachine },
}).createMachine({
  id: 'verifier',
  context: ({ input }) => ({
    components: input,
    tickets: new Map(),
    verdicts: new Map(),
    attempts: new Map(),
    finished: new Map(),
    arrived: new Map(),
    reexecutionMs: null,
  }),
  initial: 'watching',
  entry: enqueueActions(({ context, enqueue }) =>
    enqueue.spawnChild('reexecutor', { id: 'reexecutor', input: context.components }),
  ),
  states: {
    watching: {
      on: {
        block: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { chain, key } = context.components
            const { height } = event
            let { attempts } = context
            const { tickets } = context
            const fresh: [string, VerifierTicket | null][] = []
            const selected: VerifierDraw[] = []
            const open = new Set<string>()
            const draws = chain.verifierDraws(key.address)
            // Claims owed: those of its open attempts whose seat it holds, or that no claim has
            // taken yet, with no verdict (each re-executed once). A seat a better ticket holds
            // owes nothing: counting every claim sent would decline seats it has time for.
            const owed = new Set(
              draws
                .filter(
                  (d) =>
                    attempts.has(attemptKey(d.challengeId, d.attempt)) &&
                    (d.seat === null || d.seat === key.address) &&
                    !context.verdicts.has(d.claimId),
                )
                .map((d) => d.claimId),
            )
            for (const draw of draws) {
              const id = attemptKey(draw.challengeId, draw.attempt)
              open.add(id)
              if (attempts.has(id)) {
                enqueue.sendTo(attemptActorId(id), { type: 'draw', height, draw })
                selected.push(draw)
                continue
              }
              if (height >= draw.deadline || context.finished.has(id)) continue
              // Past the claim phase only a seat this node holds is worth an attempt.
              if (height >= draw.claimUntil && draw.seat !== key.address) continue
              let ticket = tickets.get(id)
              if (ticket === undefined) {
                const stake = draw.stakes[key.address] ?? 0n
                const params = { verifierExpectedCount: draw.expectedCount }
                // The output decides; the proof (three times the work) only for a ticket that selects.
                ticket = isVerifierSelected(key.secretKey, draw, stake, draw.totalStake, params)
                  ? verifierTicket(key.secretKey, draw, stake, draw.totalStake, params)
                  : null
                fresh.push([id, ticket])
              }
              if (ticket === null || !ticket.selected) continue
              const known = context.verdicts.has(draw.claimId) || owed.has(draw.claimId)
              if (
                !known &&
                !canAnswerInTime(context.reexecutionMs, owed.size, height, draw.deadline, chain.params.blockTimeMs)
              )
                continue
              owed.add(draw.claimId)
              selected.push(draw)
              attempts = remembered(attempts, id, draw.claimId)
              enqueue.spawnChild('attempt', {
                id: attemptActorId(id),
                input: {
                  components: context.components,
                  draw,
                  ticket,
                  height,
                  verdict: context.verdicts.get(draw.claimId) ?? null,
                },
              })
            }
            // The attempts that left the chain's open attempts end here.
            for (const id of attempts.keys())
              if (!open.has(id)) enqueue.sendTo(attemptActorId(id), { type: 'closed' } as const)
            // Claims first (above), then the re-executions still needed, earliest deadline first,
            // of the claims whose content is here: one that may never come (withheld) does not
            // hold the one-at-a-time re-execution up to its fetch's deadline.
            selected.sort((a, b) => a.deadline - b.deadline)
            for (const draw of selected)
              if (draw.claim !== null && !context.verdicts.has(draw.claimId) && context.arrived.has(draw.claimId))
                enqueue.sendTo('reexecutor', reexecuteRequest(draw, key.address))
            enqueue.assign({ tickets: ticketsOfOpen(tickets, fresh, open), attempts })
          }),
        },
        contentArrived: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { draw } = event
            enqueue.assign({ arrived: remembered(context.arrived, draw.claimId, true) })
            if (draw.claim !== null && !context.verdicts.has(draw.claimId))
              enqueue.sendTo('reexecutor', reexecuteRequest(draw, context.components.key.address))
          }),
        },
        reexecuted: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const mean = context.reexecutionMs
            enqueue.assign({
              verdicts: remembered(context.verdicts, event.claimId, event.check),
              reexecutionMs: mean === null ? event.ms : mean + REEXECUTION_MS_WEIGHT * (event.ms - mean),
            })
            for (const [id, claimId] of context.attempts)
              if (claimId === event.claimId)
                enqueue.sendTo(attemptActorId(id), {
                  type: 'verdict',
                  claimId: event.claimId,
                  check: event.check,
                } as const)
          }),
        },
        reexecutionFailed: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            context.components.logger.warn({ err: event.error, claim: event.claimId }, 'could not re-execute a claim')
            // Content not served in time: the attempts of this claim answer 'unavailable'.
            if (!(event.error instanceof ContentUnavailableError)) return
            for (const [id, claimId] of context.attempts)
              if (claimId === event.claimId)
                enqueue.sendTo(attemptActorId(id), { type: 'contentUnavailable', claimId } as const)
          }),
        },
        'xstate.done.actor.*': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const id = attemptKey(event.output.challengeId, event.output.attempt)
            const claimId = context.attempts.get(id)
            const attempts = forgotten(context.attempts, id)
            enqueue.assign({ attempts, finished: remembered(context.finished, id, event.output.outcome) })
            // A re-execution no open attempt of this node waits for is dropped (reexecutor.ts).
            if (claimId !== undefined && ![...attempts.values()].includes(claimId))
              enqueue.sendTo('reexecutor', { type: 'forget', claimId } as const)
            enqueue.stopChild(childIdOf(event))
          }),
        },
      },
    },
  },
})
