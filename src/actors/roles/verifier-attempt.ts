/**
 * One L2 attempt this node's VRF ticket selected it for. From the start it fetches the claim's
 * content (availability.ts: from the owner, then the replicas of its task), and claims the seat
 * once the content is here, or sooner if waiting longer would make the claim land after the
 * claim phase (with the default two-block phase, that is at once). It then waits for the
 * verdict of the claim's re-execution (run by the verifier's reexecutor, started as soon as the
 * node knew it was selected) and, once the claim phase is over and it holds the seat, answers
 * with it. When the content was not served (the fetch timed out, or a re-execution lacked
 * content) or has still not come when an answer must go out to land by the deadline, it answers
 * 'unavailable', which a panel then rules on: it is never silent, hence never penalized, for
 * content its owner withheld. Once seated it must answer by the deadline, or the chain
 * penalizes it.
 *
 *   fetchingContent → claimingSeat → reexecuting → awaitingClaimPhaseEnd → answering → answered
 *                                                  ↘ notSeated (another ticket won the seat) ↙
 *   (a better ticket's seat is lost as soon as this node's own claim has settled)
 *   (any state) → expired (the deadline passed) | closed (the attempt is no longer open)
 */
import { assign, fromPromise, not, sendParent, setup } from 'xstate'
import type { KeyPair } from '../../chain/keys.ts'
import type { ChainReader, VerifierDraw } from '../../chain/reader.ts'
import type { Claim, L2Verdict } from '../../chain/state.ts'
import type { VerifierTicket } from '../../chain/verifier-draw.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { ContentFetcher } from '../services/content-fetcher.ts'
import type { NodeMetrics } from '../services/metrics.ts'
import type { TxResultInfo, TxSender } from '../tx-sender.ts'
import { ContentUnavailableError, fetchClaimContent, TX_INCLUSION_BLOCKS } from './availability.ts'
import type { Recheck } from './reexecute.ts'

export interface VerifierAttemptComponents {
  readonly chain: Pick<ChainReader, 'tasks'>
  readonly content: Pick<ContentFetcher, 'fetch'>
  readonly tx: Pick<TxSender, 'send'>
  readonly key: Pick<KeyPair, 'address'>
  readonly metrics: Pick<NodeMetrics, 'verdicts'>
  readonly logger: Logger
}

export interface VerifierAttemptInput {
  readonly components: VerifierAttemptComponents
  readonly draw: VerifierDraw
  readonly ticket: VerifierTicket
  readonly height: number
  /** The claim's verdict, when an earlier attempt already re-executed it. */
  readonly verdict: Recheck | null
}

export type AttemptOutcome = 'answered' | 'notSeated' | 'expired' | 'closed'

export interface VerifierAttemptOutput {
  readonly challengeId: string
  readonly attempt: number
  readonly outcome: AttemptOutcome
}

export type VerifierAttemptEvent =
  /** A block: the attempt as the chain now has it. */
  | { type: 'draw'; height: number; draw: VerifierDraw }
  | { type: 'verdict'; claimId: string; check: Recheck }
  /** The claim's re-execution failed because its content was not served in time. */
  | { type: 'contentUnavailable'; claimId: string }
  /** The attempt left the chain's open attempts (answered by another, moved to L3, timed out). */
  | { type: 'closed' }

interface AttemptContext extends VerifierAttemptInput {
  /** The claim's content arrived. */
  readonly contentArrived: boolean
  /** The claim's content was not served in time (or has not come when the answer must go out). */
  readonly contentMissing: boolean
  /** This node's claim of the seat settled (applied or refused): the seat it shows is final for it. */
  readonly claimSettled: boolean
}

const claimPhaseOver = (c: AttemptContext): boolean => c.height >= c.draw.claimUntil
/** A claim sent later than this may land after the claim phase. */
const claimPhaseEnding = (c: AttemptContext): boolean => c.height >= c.draw.claimUntil - TX_INCLUSION_BLOCKS
/** Without content or verdict by now, the answer must go out as 'unavailable' to land by the deadline. */
const answerDue = (height: number, draw: VerifierDraw): boolean => height >= draw.deadline - TX_INCLUSION_BLOCKS
/** The answer: the re-execution's verdict when there is one, else 'unavailable'. */
export const answerOf = (c: Pick<AttemptContext, 'verdict'>): L2Verdict =>
  c.verdict === null ? 'unavailable' : c.verdict.honest ? 'owner' : 'challenger'
const seated = (c: AttemptContext): boolean => c.draw.seat === c.components.key.address

export const verifierAttemptMachine = setup({
  types: {
    input: {} as VerifierAttemptInput,
    context: {} as AttemptContext,
    events: {} as VerifierAttemptEvent,
    output: {} as VerifierAttemptOutput,
  },
  actors: {
    fetchContent: fromPromise<Uint8Array, { components: VerifierAttemptComponents; claim: Claim | null }>(
      async ({ input, signal }) => {
        if (input.claim === null) throw new Error('the claim is no longer on chain')
        return fetchClaimContent(input.components, input.claim, { signal })
      },
    ),
    claimSeat: fromPromise<TxResultInfo, { tx: VerifierAttemptComponents['tx']; challengeId: string; proof: string }>(
      ({ input }) => input.tx.send({ type: 'verifierClaim', challengeId: input.challengeId, proof: input.proof }),
    ),
    answer: fromPromise<
      TxResultInfo,
      { tx: VerifierAttemptComponents['tx']; challengeId: string; verdict: L2Verdict; proof: string }
    >(({ input }) =>
      input.tx.send({
        type: 'verifierResponse',
        challengeId: input.challengeId,
        verdict: input.verdict,
        proof: input.proof,
      }),
    ),
  },
  guards: {
    // The chain keeps the best ticket among the claims: claim unless seated already or too late.
    mayClaim: ({ context }) => !seated(context) && !claimPhaseOver(context),
    hasVerdict: ({ context }) => context.verdict !== null,
    claimPhaseEnding: ({ context }) => claimPhaseEnding(context),
    contentMissing: ({ context }) => context.contentMissing,
    contentKnown: ({ context }) => context.contentArrived || context.contentMissing || context.draw.claim === null,
    mayAnswer: ({ context }) => claimPhaseOver(context) && seated(context),
    // The chain keeps the best ticket: once this node's claim settled, a seat another holds is
    // lost for good (its ticket is better), and the re-execution need not go on.
    lostSeat: ({ context }) =>
      !seated(context) && (claimPhaseOver(context) || (context.claimSettled && context.draw.seat !== null)),
    pastDeadline: ({ event }) => event.type === 'draw' && event.height >= event.draw.deadline,
  },
}).createMachine({
  id: 'verifierAttempt',
  context: ({ input }) => ({ ...input, contentArrived: false, contentMissing: false, claimSettled: false }),
  initial: 'fetchingContent',
  // The fetch runs for the whole attempt: the seat may have to be claimed before it ends.
  invoke: {
    src: 'fetchContent',
    input: ({ context }) => ({ components: context.components, claim: context.draw.claim }),
    // The parent's re-execution waits for the content to be here (verifier.ts).
    onDone: {
      actions: [
        assign({ contentArrived: true }),
        sendParent(({ context }) => ({ type: 'contentArrived', draw: context.draw }) as const),
      ],
    },
    // Content that arrived corrupt is for the re-execution to judge (a fault); content that
    // was not served in time is unavailable.
    onError: {
      actions: assign({ contentMissing: ({ event }) => event.error instanceof ContentUnavailableError }),
    },
  },
  on: {
    draw: [
      { guard: 'pastDeadline', target: '.expired' },
      {
        actions: assign({
          height: ({ event }) => event.height,
          draw: ({ event }) => event.draw,
          contentMissing: ({ context, event }) =>
            context.contentMissing ||
            (answerDue(event.height, event.draw) && context.verdict === null && !context.contentArrived),
        }),
      },
    ],
    verdict: {
      guard: ({ context, event }) => event.claimId === context.draw.claimId,
      actions: assign({ verdict: ({ event }) => event.check }),
    },
    contentUnavailable: {
      guard: ({ context, event }) => event.claimId === context.draw.claimId,
      actions: assign({ contentMissing: true }),
    },
    closed: '.closed',
  },
  states: {
    fetchingContent: {
      always: [
        { guard: not('mayClaim'), target: 'reexecuting' },
        { guard: 'contentKnown', target: 'claimingSeat' },
        // Waiting longer would make the claim land too late: claim now, the fetch goes on.
        { guard: 'claimPhaseEnding', target: 'claimingSeat' },
      ],
    },
    claimingSeat: {
      always: { guard: not('mayClaim'), target: 'reexecuting' },
      invoke: {
        src: 'claimSeat',
        input: ({ context }) => ({
          tx: context.components.tx,
          challengeId: context.draw.challengeId,
          proof: context.ticket.proof,
        }),
        onDone: {
          target: 'reexecuting',
          actions: [
            assign({ claimSettled: true }),
            ({ context, event }) =>
              context.components.logger.info(
                { challenge: context.draw.challengeId, attempt: context.draw.attempt, code: event.output.code },
                'verifier claimed the seat',
              ),
          ],
        },
        onError: {
          target: 'reexecuting',
          actions: ({ context, event }) =>
            context.components.logger.warn(
              { err: event.error, challenge: context.draw.challengeId },
              'could not claim the verifier seat',
            ),
        },
      },
    },
    reexecuting: {
      always: [
        // Another ticket holds the seat: nothing to answer, and the verdict is not waited for.
        { guard: 'lostSeat', target: 'notSeated' },
        { guard: 'hasVerdict', target: 'awaitingClaimPhaseEnd' },
        { guard: 'contentMissing', target: 'awaitingClaimPhaseEnd' },
      ],
    },
    awaitingClaimPhaseEnd: {
      always: [
        { guard: 'mayAnswer', target: 'answering' },
        { guard: 'lostSeat', target: 'notSeated' },
      ],
    },
    answering: {
      // The answer's own block closes the attempt: that is the answer landing, not a close.
      on: { closed: {} },
      invoke: {
        src: 'answer',
        input: ({ context }) => ({
          tx: context.components.tx,
          challengeId: context.draw.challengeId,
          verdict: answerOf(context),
          proof: context.ticket.proof,
        }),
        onDone: {
          target: 'answered',
          actions: ({ context, event }) => {
            context.components.metrics.verdicts++
            context.components.logger.info(
              {
                challenge: context.draw.challengeId,
                verdict: answerOf(context),
                reason: context.verdict?.reason ?? 'the content was not served in time',
                code: event.output.code,
              },
              'verifier answered',
            )
          },
        },
        // The answer did not go out: try again at the next block, while the deadline allows.
        onError: { target: 'retryingAnswer' },
      },
    },
    retryingAnswer: {
      on: {
        draw: [
          { guard: 'pastDeadline', target: 'expired' },
          {
            target: 'answering',
            actions: assign({ height: ({ event }) => event.height, draw: ({ event }) => event.draw }),
          },
        ],
      },
    },
    answered: { type: 'final', output: 'answered' },
    notSeated: { type: 'final', output: 'notSeated' },
    expired: { type: 'final', output: 'expired' },
    closed: { type: 'final', output: 'closed' },
  },
  output: ({ context, event }) => ({
    challengeId: context.draw.challengeId,
    attempt: context.draw.attempt,
    outcome: (event as unknown as { output: AttemptOutcome }).output,
  }),
})
