/**
 * The challenger role: check every other node's accepted aggregate and a fraction of other
 * miners' accepted or L1-flagged submissions, and challenge (with the bond) those that do not
 * reproduce, naming a step trace of its re-execution (so the dispute bisects to one step). A
 * submission is spot-checked (spot-check.ts): its pseudo-gradient and `spotSteps` inner steps
 * drawn from the node's secret are re-executed, not the whole task, and a divergence is
 * published as the owner's trace with the challenger's leaf at that step. Aggregates are
 * always checked, and recomputed whole: one moves the whole subnet's model, and recomputing it
 * costs a few gradient fetches and one optimizer step.
 * Which other submissions a node checks is a hash of the claim and the node's address, so
 * different challengers cover different claims. A griefing challenger (a misbehaviour for tests)
 * challenges what it checks whatever the result; a withholding miner's accomplice
 * (`withholdAndChallenge`) looks at every submission and challenges, without re-executing,
 * those whose content it cannot fetch: its partners'.
 *
 * A verifier may answer 'owner' without re-executing: when one does so on a challenge this node
 * opened (it did so only because its own re-execution found a fault), the node appeals to an
 * arbiter panel with a second bond, once per challenge, within the chain's appeal window. The
 * chain's record of who challenged decides, so a restarted node still appeals. A griefing
 * challenger or an accomplice never appeals: it has no re-execution that says fault.
 *
 * On each block the role collects the claims now due and queues them: aggregates and suspects
 * first, then the claims whose challenge period ends soonest, and claims alike in both in an
 * order of the node's own (a hash of its address and the claim). Suspects are the claims no
 * replica confirms: a lone reveal, or the odd one out of an L1 disagreement (the replicas that
 * agree are drawn like accepted claims, and become suspects once the odd one is found right),
 * and those a challenge held and gave back. Every challenger checks every suspect, so in one
 * shared order they would all re-execute the same claim at once; in orders of their own, the
 * first to find a fault challenges it, and the others, reading the chain again before each
 * check starts, skip a claim already challenged. The queue holds no more drawn claims than the
 * node can check before their periods end (from how long its checks take): past that, the
 * other challengers' draws cover them. Two checks run
 * at a time: re-execution is mostly compute, and challenging each mismatch as soon as it is
 * found beats finding them all together, late. An aggregate may start in one more, reserved
 * slot: its challenge period is short, and it must not wait it out behind submissions. A check that throws is
 * forgotten and the claim collected again at a later block, while its challenge period lasts.
 *
 * Content that does not come within `CHECK_FETCH_BLOCKS` blocks ends the check as 'unavailable'.
 * Waiting longer would hand a withholding miner the node's check slots: two withheld claims
 * once held both for a minute each, again and again, while the wrong claims behind them ran out
 * their periods. Not being served is not a fault the node can prove (the owner may serve the
 * verifier and win the bond), so it does not challenge: it tries again `UNAVAILABLE_TRIES` times
 * in all, blocks apart (a partition heals), and then leaves the claim to the availability game,
 * whose aggregators cannot include what nobody serves.
 *
 *   challenger: scanning (children: at most `PARALLEL_CHECKS` + `RESERVED_AGGREGATE_CHECKS` claimCheck actors,
 *                        and one appeal actor per challenge appealed)
 *   check:      reexecuting (spot check or whole) → challenging → challenged
 *               reexecuting → cleared | failed (collected again later) | unavailable (tried again, a few times)
 */

import { assign, enqueueActions, fromPromise, setup, stopChild } from 'xstate'
import { TxCode } from '../../chain/errors.ts'
import { leastBond } from '../../chain/game.ts'
import type { KeyPair } from '../../chain/keys.ts'
import { type ChainReader, PrunedError } from '../../chain/reader.ts'
import type { Claim } from '../../chain/state.ts'
import { submissionId } from '../../chain/windows.ts'
import type { Clock } from '../../runtime/clock.ts'
import { MAX_COLLECTED_CLAIMS, MAX_QUEUED_CHECKS } from '../../runtime/limits.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { Misbehaviour } from '../../topology/roles.ts'
import type { ContentFetcher } from '../services/content-fetcher.ts'
import type { NodeMetrics } from '../services/metrics.ts'
import { storeStepTrace } from '../training/step-trace.ts'
import type { TxResultInfo, TxSender } from '../tx-sender.ts'
import { type AvailabilityComponents, ContentUnavailableError, fetchClaimContent } from './availability.ts'
import type { BlockEvent } from './block-event.ts'
import { BoundedSet, forgotten, remembered, rememberedAll } from './bounded-memory.ts'
import { childIdOf } from './finished-child.ts'
import type { Recheck } from './reexecute.ts'
import { type ChallengerRecheck, type ClaimCheck, type Divergence, storeDivergentTrace } from './spot-check.ts'

/** Checks under way at once. */
export const PARALLEL_CHECKS = 2
/**
 * Checks of aggregates that may run beside `PARALLEL_CHECKS` full ones. An aggregate's
 * challenge period (`aggregateChallengeBlocks`) is short and a wrong one moves the whole
 * subnet's model, so it must not wait out its period behind submissions being re-executed.
 */
export const RESERVED_AGGREGATE_CHECKS = 1
/**
 * Blocks a check waits for a claim's content before it ends as 'unavailable': as long as an
 * accomplice's probe waits (served content comes within a block).
 */
export const CHECK_FETCH_BLOCKS = 2
/** Checks of a claim whose content did not come, blocks apart, before the node leaves it to the availability game. */
export const UNAVAILABLE_TRIES = 3

export interface ChallengerComponents extends AvailabilityComponents {
  /** Fetches what an accomplice probes; stores the step trace a challenge names. */
  readonly content: AvailabilityComponents['content'] & Pick<ContentFetcher, 'store'>
  readonly chain: AvailabilityComponents['chain'] &
    Pick<
      ChainReader,
      | 'currentWindow'
      | 'claims'
      | 'claimsWrittenSince'
      | 'claim'
      | 'task'
      | 'openAggregations'
      | 'params'
      | 'appealable'
    >
  /**
   * The node's check of a claim (spot-check.ts): a submission's pseudo-gradient and some inner
   * steps drawn from the node's secret re-executed, an aggregate recomputed whole.
   */
  readonly claimCheck: ClaimCheck
  readonly tx: Pick<TxSender, 'send'>
  readonly key: Pick<KeyPair, 'address'>
  readonly metrics: Pick<NodeMetrics, 'challengesMade'>
  readonly logger: Logger
  /** Times checks, so the queue holds no more than the node can check before their periods end. */
  readonly clock: Pick<Clock, 'monotonicMs'>
  readonly misbehaviours: ReadonlySet<Misbehaviour>
  /** Share of other miners' submissions this node re-executes (those no replica confirms always). */
  readonly challengeFraction: number
  /**
   * Tells a subnet's nodes this node holds `cids` (its step trace), so the verifier and the
   * arbiters find a challenger that has no stake, and so no peer id the chain can name.
   */
  readonly holdings?: { announceHeld(subnet: number, cids: readonly string[]): Promise<void> }
}

/**
 * Whether this node checks `claimId`: a stable per-node draw, so challengers cover different
 * claims. Everything it hashes is public (anyone can compute any node's draw), so a keyed
 * digest would hide nothing: FNV-1a with MurmurHash3's finalizer spreads the bits well enough
 * at a tenth of SHA-256's cost, which every challenger pays for every claim it sees.
 */
export function sampled(address: string, claimId: string, fraction: number): boolean {
  return mixed(fnv1a(['r3mes/check/1\0', address, '\0', claimId])) / 2 ** 32 < fraction
}

/**
 * The claims of the last windows that are newly due for a check at `height` (the role queues
 * them by `checkOrder`). With `changed`, the claims that may have changed since the block the
 * role last read (written by the blocks since, or released from `collected`), only those are
 * read: a claim not collected and open to a challenge is collected the first time it is read,
 * so one that did not change cannot have become due. Without, every claim of the windows is.
 */
export function claimsDue(
  components: ChallengerComponents,
  height: number,
  collected: { has(claimId: string): boolean },
  suspects: ReadonlyMap<string, true> = new Map(),
  changed?: readonly Claim[],
): { due: Claim[]; seen: string[]; unconfirmed: string[] } {
  const { chain, key, challengeFraction } = components
  const current = chain.currentWindow()
  if (current === null) return { due: [], seen: [], unconfirmed: [] }
  const due: Claim[] = []
  const seen: string[] = []
  const unconfirmed: string[] = []
  const consider = (claim: Claim): void => {
    // The field reads first: most claims of the windows read are not open to a challenge (the
    // newest not yet compared, the oldest past their period), and a lookup costs more.
    if (height > claim.challengeUntil || !challengeable(claim) || claim.owner === key.address) return
    if (collected.has(claim.id)) return
    seen.push(claim.id)
    const lone = unconfirmedClaim(chain, claim)
    if (lone) unconfirmed.push(claim.id)
    // Aggregates, unconfirmed and suspect claims are always worth a look; the rest by the
    // per-node draw. An accomplice looks at every submission, for its partners'.
    if (
      firstChecked(claim) ||
      lone ||
      suspects.has(claim.id) ||
      sampled(key.address, claim.id, challengeFraction) ||
      components.misbehaviours.has('withholdAndChallenge')
    )
      due.push(claim)
  }
  const oldest = Math.max(0, current.id - 2)
  if (changed === undefined)
    for (let id = oldest; id <= current.id; id++) for (const claim of chain.claims(id)) consider(claim)
  else {
    // A claim written by two blocks, or written and released, comes more than once.
    const read = new Set<string>()
    for (const claim of changed) {
      if (claim.window < oldest || claim.window > current.id || read.has(claim.id)) continue
      read.add(claim.id)
      consider(claim)
    }
  }
  // An aggregate lands windows after its own (it waits for settled work and a final pointer):
  // every one still in its challenge period is checked, whatever its window.
  for (const a of chain.openAggregations()) {
    if (a.stage !== 'submitted' || a.window >= oldest || a.claimId === null) continue
    const claim = chain.claim(a.claimId)
    if (claim !== null) consider(claim)
  }
  return { due, seen, unconfirmed }
}

/**
 * Queued claims as the chain has them now: a challenge that ended undecided while one waited
 * moved its period on (chain/game.ts), and its old end must not drop it. Gone ones are left out.
 */
function asNow(chain: Pick<ChainReader, 'claim'>, queue: readonly Claim[]): Claim[] {
  const out: Claim[] = []
  for (const queued of queue) {
    const claim = chain.claim(queued.id)
    if (claim !== null) out.push(claim)
  }
  return out
}

/**
 * Whether `claim` is an accepted or L1-flagged submission no replica confirmed: no other
 * replica of its task, not a copy, revealed the same CID and stands. Such a claim was never
 * compared (a lone reveal, its replicas copies or silent; a disagreement a challenge gave
 * back), or it is the odd one out of a disagreement: checked first, by every challenger. The
 * replicas of a disagreement that agree with each other are drawn like accepted claims: a cheat
 * among three replicas leaves one claim for every challenger to check, not three, and one
 * that two colluders tie (the honest replica the odd one out) makes the colluders suspects of
 * whoever clears it (`disputedBy`). Read claim by claim (a task's few replicas), not window
 * by window.
 */
function unconfirmedClaim(chain: Pick<ChainReader, 'task' | 'claim'>, claim: Claim): boolean {
  if (claim.kind !== 'submission' || claim.taskId === null || !challengeable(claim)) return false
  const task = chain.task(claim.taskId)
  if (task === null) return false
  return !task.miners.some((miner) => {
    if (miner === claim.owner) return false
    const r = chain.claim(submissionId(claim.taskId as string, miner))
    return r !== null && r.cid === claim.cid && r.flag !== 'copied' && r.status !== 'slashed' && r.status !== 'revealed'
  })
}

/** Whether a challenge of `claim` may be opened: accepted, or flagged by an L1 disagreement (not as a copy). */
const challengeable = (claim: Claim): boolean =>
  claim.status === 'accepted' || (claim.status === 'flagged' && claim.flag === 'mismatch')

/** Aggregates (they move the whole model): always checked, first, beside suspects. */
const firstChecked = (claim: Claim): boolean => claim.kind === 'aggregate'

/**
 * The other replicas of `cleared`'s task that are open to a challenge and revealed another
 * CID: a check found `cleared` right, so they are wrong, whatever they agree on among
 * themselves.
 */
export function disputedBy(chain: Pick<ChainReader, 'task' | 'claim'>, cleared: Claim): string[] {
  if (cleared.kind !== 'submission' || cleared.taskId === null) return []
  const task = chain.task(cleared.taskId)
  if (task === null) return []
  const out: string[] = []
  for (const miner of task.miners) {
    if (miner === cleared.owner) continue
    const replica = chain.claim(submissionId(cleared.taskId, miner))
    if (replica !== null && replica.cid !== cleared.cid && challengeable(replica)) out.push(replica.id)
  }
  return out
}

/**
 * `queue` (in check order) less the claims drawn by the per-node draw that this node could not
 * start before their challenge periods end: each check takes about `checkMs`, `PARALLEL_CHECKS`
 * at a time, and the challenge must land a block before the end. Aggregates and suspects are
 * kept whatever their place: the game's safety rests on them. Claims left out stay collected:
 * the other challengers, each in an order of its own, check them. Without this a challenger
 * with a thousand miners' claims drawn held a queue of thousands it could never reach, read
 * and sorted again at every block. All kept while no check has been timed.
 */
export function withinCapacity(
  queue: readonly Claim[],
  suspects: ReadonlyMap<string, true>,
  height: number,
  blockTimeMs: number,
  checkMs: number | null,
): Claim[] {
  if (checkMs === null) return [...queue]
  const out: Claim[] = []
  for (const claim of queue) {
    const startsInMs = Math.floor(out.length / PARALLEL_CHECKS) * checkMs
    const leftMs = (claim.challengeUntil - height) * blockTimeMs
    if (firstChecked(claim) || suspects.has(claim.id) || startsInMs + checkMs + blockTimeMs <= leftMs) out.push(claim)
  }
  return out
}

/**
 * `address`'s own rank for `claimId` among claims alike (FNV-1a over both): an order, not a
 * secret, and computed for every queued claim at every block, so cheaper than SHA-256.
 */
function ownRank(address: string, claimId: string): number {
  return fnv1a([address, '\0', claimId])
}

/** 32-bit FNV-1a over the UTF-16 code units of `texts`, one after another. */
function fnv1a(texts: readonly string[]): number {
  let h = 0x811c9dc5
  for (const text of texts) for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** MurmurHash3's 32-bit finalizer: every input bit moves every output bit. */
function mixed(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/**
 * `claims` in the order `address` checks them: aggregates, L1 disagreements and `suspects`
 * first, then the claims whose challenge period ends soonest, then the node's own rank.
 */
export function inCheckOrder(
  claims: readonly Claim[],
  address: string,
  suspects: ReadonlyMap<string, true> = new Map(),
): Claim[] {
  return claims
    .map((claim) => ({ claim, first: firstChecked(claim) || suspects.has(claim.id), rank: ownRank(address, claim.id) }))
    .sort(
      (a, b) => Number(b.first) - Number(a.first) || a.claim.challengeUntil - b.claim.challengeUntil || a.rank - b.rank,
    )
    .map((r) => r.claim)
}

// ---- one claim's check ----------------------------------------------------------------------

/**
 * The accomplice's "check": no re-execution, only whether a submission's content can be had
 * within two blocks. What cannot is its withholding partners', and it challenges those, to get
 * the verifiers that cannot fetch them penalized (they answer 'unavailable' instead).
 */
async function accompliceCheck(components: ChallengerComponents, claim: Claim, signal: AbortSignal): Promise<Recheck> {
  if (claim.kind !== 'submission') return { honest: true, reason: 'not a partner’s claim' }
  try {
    await fetchClaimContent(components, claim, { signal, deadlineMs: 2 * components.chain.params.blockTimeMs })
    return { honest: true, reason: 'served: not a partner’s claim' }
  } catch (error) {
    if (error instanceof ContentUnavailableError) return { honest: false, reason: 'withheld by a partner' }
    throw error
  }
}

export interface ClaimCheckInput {
  readonly components: ChallengerComponents
  readonly claim: Claim
}

/**
 * How a check ended: 'refused' when it found a fault but the chain refused the challenge
 * (another node's challenge held the claim): the claim is a suspect, checked again whatever
 * the draw once it is open to challenges again; 'unavailable' when the claim's content did not
 * come within `CHECK_FETCH_BLOCKS` blocks.
 */
export type CheckOutcome = 'challenged' | 'cleared' | 'failed' | 'refused' | 'unavailable'

/** How long a check waits for a claim's content. */
export const checkFetchMs = (params: { readonly blockTimeMs: number }): number =>
  CHECK_FETCH_BLOCKS * params.blockTimeMs

export interface ClaimCheckOutput {
  readonly claimId: string
  readonly outcome: CheckOutcome
  readonly reason: string
}

interface CheckContext extends ClaimCheckInput {
  reason: string
  /** The re-execution's step bytes, published with the challenge so the dispute can bisect. */
  steps: readonly Uint8Array[] | null
  /** Or the one leaf a spot check found diverging, published spliced into the owner's trace. */
  divergence: Divergence | null
}

export interface ChallengeInput extends ClaimCheckInput {
  readonly steps: readonly Uint8Array[] | null
  readonly divergence: Divergence | null
}

export const claimCheckMachine = setup({
  types: {
    input: {} as ClaimCheckInput,
    context: {} as CheckContext,
    output: {} as ClaimCheckOutput,
  },
  actors: {
    reexecute: fromPromise<ChallengerRecheck, ClaimCheckInput>(({ input, signal }) => {
      const { components, claim } = input
      if (components.misbehaviours.has('griefingChallenger'))
        return Promise.resolve({ honest: false, reason: 'griefing' })
      if (components.misbehaviours.has('withholdAndChallenge')) return accompliceCheck(components, claim, signal)
      return components.claimCheck.check(claim, { signal, fetchDeadlineMs: checkFetchMs(components.chain.params) })
    }),
    challenge: fromPromise<TxResultInfo, ChallengeInput>(async ({ input }) => {
      const { components: c, claim, steps, divergence } = input
      const params = c.chain.params
      const bond = leastBond(params)
      // A spot check's divergence is published as the owner's trace with the challenger's leaf
      // at that step: the bisection lands on it and re-executes that one step.
      if (divergence !== null && claim.taskId !== null) {
        const stored = await storeDivergentTrace((bytes) => c.content.store(bytes), divergence)
        await c.holdings?.announceHeld(claim.subnet, stored.held)
        return c.tx.send({ type: 'challenge', claimId: claim.id, bond, trace: stored.index })
      }
      // A submission's re-execution is published as a step trace: verifier and arbiters then
      // bisect the two traces and re-execute one step instead of the stage.
      if (steps === null || claim.taskId === null) return c.tx.send({ type: 'challenge', claimId: claim.id, bond })
      const stored = await storeStepTrace((bytes) => c.content.store(bytes), claim.taskId, steps)
      await c.holdings?.announceHeld(claim.subnet, [stored.index, ...stored.tensors])
      return c.tx.send({ type: 'challenge', claimId: claim.id, bond, trace: stored.index })
    }),
  },
}).createMachine({
  id: 'claimCheck',
  context: ({ input }) => ({ ...input, reason: '', steps: null, divergence: null }),
  initial: 'reexecuting',
  states: {
    reexecuting: {
      invoke: {
        src: 'reexecute',
        input: ({ context }) => context,
        onDone: [
          { guard: ({ event }) => event.output.honest, target: 'cleared' },
          {
            target: 'challenging',
            actions: assign({
              reason: ({ event }) => event.output.reason,
              steps: ({ event }) => event.output.steps ?? null,
              divergence: ({ event }) => event.output.divergence ?? null,
            }),
          },
        ],
        onError: [
          {
            guard: ({ event }) => event.error instanceof ContentUnavailableError,
            target: 'unavailable',
            actions: ({ context }) =>
              context.components.logger.info({ claim: context.claim.id }, 'the claim’s content was not served in time'),
          },
          {
            target: 'failed',
            actions: ({ context, event }) =>
              context.components.logger.warn(
                { err: event.error, claim: context.claim.id },
                'could not re-execute a claim',
              ),
          },
        ],
      },
    },
    challenging: {
      invoke: {
        src: 'challenge',
        input: ({ context }) => context,
        onDone: [
          {
            guard: ({ event }) => event.output.code === TxCode.ok,
            target: 'challenged',
            actions: ({ context }) => {
              context.components.metrics.challengesMade++
              context.components.logger.info({ claim: context.claim.id, reason: context.reason }, 'challenged')
            },
          },
          {
            // Refused (another node's challenge got there first, say): collected again at a
            // later block, and challenged then if it is open to challenges again.
            target: 'refused',
            actions: ({ context, event }) =>
              context.components.logger.info(
                { claim: context.claim.id, code: event.output.code, log: event.output.log },
                'challenge refused',
              ),
          },
        ],
        // The challenge did not go out: check the claim again later, while its period lasts.
        onError: { target: 'failed' },
      },
    },
    challenged: { type: 'final', output: 'challenged' },
    cleared: { type: 'final', output: 'cleared' },
    failed: { type: 'final', output: 'failed' },
    refused: { type: 'final', output: 'refused' },
    unavailable: { type: 'final', output: 'unavailable' },
  },
  output: ({ context, event }) => ({
    claimId: context.claim.id,
    outcome: (event as unknown as { output: CheckOutcome }).output,
    reason: context.reason,
  }),
})

// ---- an appeal -------------------------------------------------------------------------------

export interface AppealInput {
  readonly components: ChallengerComponents
  readonly challengeId: string
}

export interface AppealOutput {
  readonly challengeId: string
  /** The chain's code for the appeal, or why it did not go out. */
  readonly code: string
  readonly log: string
}

/** The child actor id of a challenge's appeal. */
export const appealActorId = (challengeId: string): string => `appeal:${challengeId}`

/** Appeal the verifier's 'owner' on `challengeId` with the chain's least bond; never throws. */
const appealActor = fromPromise<AppealOutput, AppealInput>(async ({ input }) => {
  const { components: c, challengeId } = input
  const params = c.chain.params
  try {
    const r = await c.tx.send({ type: 'appeal', challengeId, bond: leastBond(params) })
    return { challengeId, code: r.code, log: r.log }
  } catch (error) {
    return { challengeId, code: 'NOT_SENT', log: error instanceof Error ? error.message : String(error) }
  }
})

/** Whether this node appeals a verifier's 'owner': only a node whose own re-execution opened the challenge. */
const appeals = (c: ChallengerComponents): boolean =>
  !c.misbehaviours.has('griefingChallenger') && !c.misbehaviours.has('withholdAndChallenge')

// ---- the role -------------------------------------------------------------------------------

/**
 * The claims that may have changed since the role last read the chain at `scannedAt`: those
 * the blocks since wrote, and those released from `collected` (null: too many to list). Or
 * undefined when the chain cannot tell (first read, or further behind than its write log
 * reaches), and every claim of the windows is read again.
 */
function changedSince(
  chain: ChallengerComponents['chain'],
  scannedAt: number | null,
  released: readonly string[] | null,
): readonly Claim[] | undefined {
  if (scannedAt === null || released === null) return undefined
  const written = chain.claimsWrittenSince(scannedAt)
  if (written === undefined || released.length === 0) return written
  const out = [...written]
  for (const id of released) {
    try {
      const claim = chain.claim(id)
      if (claim !== null) out.push(claim)
    } catch (error) {
      // Released as its window was pruned: nothing left to check.
      if (!(error instanceof PrunedError)) throw error
    }
  }
  return out
}

/**
 * `unavailable` with the claims due to be tried again at `height` released: forgotten by
 * `collected`, so this block collects them again. Their tries are kept, and counted on.
 */
function retried(
  unavailable: ReadonlyMap<string, UnavailableClaim>,
  collected: BoundedSet<string>,
  height: number,
): ReadonlyMap<string, UnavailableClaim> {
  let out = unavailable
  for (const [claimId, u] of unavailable) {
    if (u.retryAt > height) continue
    collected.deleteAll([claimId])
    out = remembered(out, claimId, { ...u, retryAt: Number.POSITIVE_INFINITY })
  }
  return out
}

interface ChallengerContext {
  readonly components: ChallengerComponents
  readonly height: number
  /** The height whose claims were last read for checks (null: none yet). */
  readonly scannedAt: number | null
  /**
   * Claims collected (queued, checked, under way, or left to others past this node's
   * capacity): not collected again unless their check failed. Changed in place (BoundedSet).
   */
  readonly collected: BoundedSet<string>
  /**
   * Claims checked whatever the draw, and first: accepted submissions no replica confirmed
   * (`claimsDue`), and those this node would have challenged but could not, another node's
   * challenge holding them (its own refused, or skipped as its check would start), once that
   * challenge ends undecided and gives them back (chain/game.ts). A check that ends otherwise
   * takes a claim off.
   */
  readonly suspects: ReadonlyMap<string, true>
  /** Claims waiting for a check, in check order. */
  readonly queue: readonly Claim[]
  /** Checks under way: the kind of each claim, and when its check started (monotonic ms). */
  readonly running: ReadonlyMap<string, RunningCheck>
  /** How long a check takes here, a moving mean (null until one ended). */
  readonly checkMs: number | null
  /** Claims challenged, with the reason. */
  readonly challenged: ReadonlyMap<string, string>
  /** Challenges appealed (each once). */
  readonly appealed: ReadonlyMap<string, true>
  /** Claims whose content did not come: the checks tried, and the height to try again (none after the last). */
  readonly unavailable: ReadonlyMap<string, UnavailableClaim>
}

interface UnavailableClaim {
  readonly tries: number
  readonly retryAt: number
}

interface RunningCheck {
  readonly kind: Claim['kind']
  readonly startedMs: number
}

/** Weight of the newest check in `checkMs`'s moving mean. */
const CHECK_MS_WEIGHT = 0.25

type CheckDoneEvent = { type: `xstate.done.actor.${string}`; output: ClaimCheckOutput }
type AppealDoneEvent = { type: `xstate.done.actor.appeal:${string}`; output: AppealOutput }

const isAppealDone = (event: { type: string }): event is AppealDoneEvent =>
  event.type.startsWith(`xstate.done.actor.${appealActorId('')}`)

/** The child actor id of a claim's check. */
export const checkActorId = (claimId: string): string => `check:${claimId}`

export const challengerMachine = setup({
  types: {
    input: {} as ChallengerComponents,
    context: {} as ChallengerContext,
    events: {} as BlockEvent | CheckDoneEvent | AppealDoneEvent,
  },
  actors: { check: claimCheckMachine, appeal: appealActor },
  actions: {
    /** Appeal each verifier's 'owner' on a challenge this node opened, once, while the window is open. */
    appealOwnerVerdicts: enqueueActions(({ context, enqueue }) => {
      const c = context.components
      if (!appeals(c)) return
      let appealed = context.appealed
      for (const ch of c.chain.appealable(c.key.address)) {
        if (appealed.has(ch.id) || context.height > ch.deadline) continue
        appealed = remembered(appealed, ch.id, true)
        enqueue.spawnChild('appeal', { id: appealActorId(ch.id), input: { components: c, challengeId: ch.id } })
      }
      if (appealed !== context.appealed) enqueue.assign({ appealed })
    }),
    /** Start checks from the head of the queue while fewer than `PARALLEL_CHECKS` run (an aggregate also in a reserved slot). */
    startChecks: enqueueActions(({ context, enqueue }) => {
      const chain = context.components.chain
      // Claims whose challenge period ended while they waited are dropped, and forgotten: one
      // that a challenge held past its end gets the blocks back when that challenge ends
      // undecided (chain/game.ts), and is collected again then.
      const now = asNow(chain, context.queue)
      const queue = now.filter((c) => context.height <= c.challengeUntil)
      const ended = now.filter((c) => context.height > c.challengeUntil).map((c) => c.id)
      const running = new Map(context.running)
      const aggregates = (): number => [...running.values()].filter((r) => r.kind === 'aggregate').length
      // The queue holds aggregates first: they take free slots first, and one more beyond them.
      const mayStart = (claim: Claim): boolean =>
        running.size < PARALLEL_CHECKS || (claim.kind === 'aggregate' && aggregates() < RESERVED_AGGREGATE_CHECKS)
      const waiting: Claim[] = []
      const { collected } = context
      collected.deleteAll(ended)
      let suspects = context.suspects
      for (const queued of queue) {
        if (!mayStart(queued)) {
          waiting.push(queued)
          continue
        }
        // As the chain has it now (`asNow`): another node may have challenged it (or a panel
        // settled it) while it waited, and a check that can lead to no challenge is wasted. It
        // is forgotten, not dropped for good: a challenge that ends undecided gives the claim
        // back to every challenger, with the blocks it held it (chain/game.ts).
        const claim = queued
        if (!challengeable(claim)) {
          collected.deleteAll([claim.id])
          if (claim.status === 'challenged') suspects = rememberedAll(suspects, [claim.id], true, MAX_COLLECTED_CLAIMS)
          continue
        }
        running.set(claim.id, { kind: claim.kind, startedMs: context.components.clock.monotonicMs() })
        enqueue.spawnChild('check', { id: checkActorId(claim.id), input: { components: context.components, claim } })
      }
      enqueue.assign({ queue: waiting, running, suspects })
    }),
  },
}).createMachine({
  id: 'challenger',
  context: ({ input }) => ({
    components: input,
    height: 0,
    scannedAt: null,
    collected: new BoundedSet(MAX_COLLECTED_CLAIMS),
    suspects: new Map(),
    queue: [],
    running: new Map(),
    checkMs: null,
    challenged: new Map(),
    appealed: new Map(),
    unavailable: new Map(),
  }),
  initial: 'scanning',
  states: {
    scanning: {
      on: {
        block: {
          actions: [
            assign(({ context, event }) => {
              const { chain } = context.components
              const { collected } = context
              const unavailable = retried(context.unavailable, collected, event.height)
              const changed = changedSince(chain, context.scannedAt, collected.takeReleased())
              const found = claimsDue(context.components, event.height, collected, context.suspects, changed)
              const { due, seen } = found
              const queued = asNow(chain, context.queue)
              // A queued claim a challenge gave back with no replica agreeing is a suspect too.
              const returned = queued.filter((c) => !context.suspects.has(c.id) && unconfirmedClaim(chain, c))
              const suspects = rememberedAll(
                context.suspects,
                [...found.unconfirmed, ...returned.map((c) => c.id)],
                true,
                MAX_COLLECTED_CLAIMS,
              )
              const ordered = inCheckOrder([...queued, ...due], context.components.key.address, suspects)
              const queue = withinCapacity(ordered, suspects, event.height, chain.params.blockTimeMs, context.checkMs)
              collected.addAll(seen)
              // Past the bound, the claims due last wait outside and are collected at a later block.
              collected.deleteAll(queue.slice(MAX_QUEUED_CHECKS).map((c) => c.id))
              return {
                height: event.height,
                scannedAt: event.height,
                queue: queue.slice(0, MAX_QUEUED_CHECKS),
                suspects,
                unavailable,
              }
            }),
            'startChecks',
            'appealOwnerVerdicts',
          ],
        },
        'xstate.done.actor.*': [
          {
            guard: ({ event }) => isAppealDone(event),
            actions: [
              ({ context, event }) => {
                const { challengeId, code, log } = (event as AppealDoneEvent).output
                context.components.logger.info({ challenge: challengeId, code, log }, "appealed the verifier's 'owner'")
              },
              stopChild(({ event }) => childIdOf(event)),
            ],
          },
          {
            actions: [
              assign(({ context, event }) => {
                const c = context.components
                const { claimId, outcome, reason } = (event as CheckDoneEvent).output
                const started = context.running.get(claimId)
                const ms = started === undefined ? null : c.clock.monotonicMs() - started.startedMs
                const mean = context.checkMs
                // A check that failed, or whose challenge was refused, is forgotten: the claim
                // is collected again at a later block.
                if (outcome === 'failed' || outcome === 'refused') context.collected.deleteAll([claimId])
                // One whose content did not come stays collected until it is tried again.
                const tried = context.unavailable.get(claimId)?.tries ?? 0
                const unavailable =
                  outcome === 'unavailable'
                    ? remembered(context.unavailable, claimId, {
                        tries: tried + 1,
                        retryAt:
                          tried + 1 < UNAVAILABLE_TRIES
                            ? context.height + CHECK_FETCH_BLOCKS
                            : Number.POSITIVE_INFINITY,
                      })
                    : context.unavailable
                // A claim found right convicts the replicas of its task that revealed otherwise:
                // suspects, collected again (at the next block) and checked first.
                const cleared = outcome === 'cleared' ? c.chain.claim(claimId) : null
                const convicted = cleared === null ? [] : disputedBy(c.chain, cleared)
                context.collected.deleteAll(convicted)
                const suspects = forgotten(context.suspects, claimId)
                return {
                  running: forgotten(context.running, claimId),
                  checkMs:
                    ms === null || outcome === 'failed'
                      ? mean
                      : mean === null
                        ? ms
                        : mean + CHECK_MS_WEIGHT * (ms - mean),
                  suspects:
                    outcome === 'refused'
                      ? rememberedAll(context.suspects, [claimId], true, MAX_COLLECTED_CLAIMS)
                      : rememberedAll(suspects, convicted, true, MAX_COLLECTED_CLAIMS),
                  challenged:
                    outcome === 'challenged' ? remembered(context.challenged, claimId, reason) : context.challenged,
                  unavailable,
                }
              }),
              stopChild(({ event }) => childIdOf(event)),
              'startChecks',
            ],
          },
        ],
      },
    },
  },
})
