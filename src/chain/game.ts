/**
 * The verification game: L2 challenge → VRF-selected verifier → L3 arbiter panel.
 *
 * L2, private sortition (verifier-draw.ts): each attempt fixes a VRF input (challenge seed, id,
 * attempt) and snapshots the eligible verifiers' stakes. A verifier whose VRF output selects it
 * claims the attempt's seat with its proof during the first `verifierClaimBlocks` blocks; the
 * best ticket claimed holds the seat. After the claim phase the seated verifier answers, its
 * answer carrying the same proof, by the L2 deadline. The chain cannot know who was selected
 * until a proof is shown, so only a verifier that claimed can be held to it: a seated verifier
 * that does not answer is penalized (verifierPenaltyBps of its bonded tokens) and excluded, and
 * the next attempt draws afresh; an attempt whose claim phase ends with no claim moves on at
 * once. After `maxVerifierAttempts` the challenge lapses and the bond returns. A verifier that
 * could not fetch the claim's content answers 'unavailable' (paid like any answer), which
 * escalates like a verdict for the challenger: the panel rules on availability too.
 *
 * Appeal: a verifier's 'owner' does not settle the challenge at once, since a verifier could
 * answer it without re-executing. The challenge waits `appealBlocks` in stage 'appealable', and
 * the challenger alone may `appeal` with a second bond (≥ the least challenge bond), which
 * opens the L3 panel exactly as an escalation does. No appeal by the deadline → the owner wins.
 * That settles nothing for anyone else: the claim's challenge period gets back the blocks the
 * challenge held it (as it does when a challenge lapses), since nobody else could challenge it
 * meanwhile. Otherwise a friendly challenge (a cheat's accomplice's, or a griefer's that
 * happened on a wrong claim), answered 'owner' by a lazy verifier and never appealed, would run
 * out the period of a wrong claim with every honest challenger locked out.
 *
 * L3, a public draw from unsteerable randomness: the panel is drawn by stake from SHA-256 of
 * the answering verifier's VRF output and the beacon of the block that escalated or appealed, so nobody (the
 * verifier included) can predict or pick it before the L2 verdict is on chain, and every node
 * knows exactly who sits on it: that is what lets the chain count 2 of 3 and penalize an absent
 * arbiter. Each arbiter's vote carries its VRF proof over (challenge id, round), binding the
 * vote to the arbiter's key and round.
 *
 * Money: the bond (≥ bondMultiple × baseReward) is escrowed in the challenge. Verifier or panel
 * sides with the claim's owner → the bond is split between the owner and the block proposer
 * (the "validator" of the seed). The panel confirms a fault (2 of 3) → the owner is slashed
 * (slashFractionBps of its stake), its pending reward revoked, an aggregate's model pointer
 * restored, and the challenger gets the bond back plus a bounty (minted): bountyMultiple ×
 * baseReward, but never more than bountyShareBps of what the owner lost (`bountyFor`).
 * A quorum of 'unavailable' (the content could not be fetched) convicts the owner the same
 * way, the claim flagged 'unavailable'; a panel whose every seat voted without a quorum lapses.
 * After an appeal both bonds go together (back with the bounty, split, or back on a lapse), and
 * a panel that finds a fault overturns the verifier's 'owner': the verifier is slashed
 * (overturnedVerifierSlashBps), its signed verdict proven false by bit-exact re-execution.
 * Nothing is slashed for a fault before L3. Verifiers that answer and arbiters on the deciding
 * side are paid (minted). An arbiter that misses a round's deadline is penalized
 * (arbiterPenaltyBps of its stake) and replaced by a fresh draw; a vote after its seat was
 * replaced is refused. Penalties go through `slash`, so supply stays accounted for.
 *
 * Availability disputes: an aggregate that could not fetch an accepted submission's gradient
 * lists it as unavailable, and each such claim is disputed straight at L3 (no bond, the
 * aggregator as challenger, no bounty); its arbiters only fetch. Unavailable → the owner is
 * slashed as above; available → the claim is paid and the aggregator penalized
 * (verifierPenaltyBps) for leaving out work it could have had; a lapse → the claim is paid.
 */

import { fromHex, toHex } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'
import { vrfProve, vrfVerify } from '../codec/vrf.ts'
import type { BlockContext } from './context.ts'
import { reject, TxCode } from './errors.ts'
import type { Params } from './params.ts'
import { isWindowPruned, windowOfClaim } from './pruning.ts'
import { sortition } from './sortition.ts'
import type { ChainState, Challenge, Claim, Verdict } from './state.ts'
import type { Msg, SignedTx } from './tx.ts'
import { betaBytes, betterTicket, isSelected, type VerifierDraw, verifierAlpha } from './verifier-draw.ts'
import { creditClaim } from './windows.ts'

type MsgOf<T extends Msg['type']> = Extract<Msg, { type: T }>

export const PANEL_SIZE = 3

/** The least bond a challenge or an appeal takes: bondMultiple × baseReward. */
export function leastBond(p: Pick<Params, 'baseReward' | 'bondMultiple'>): bigint {
  return p.baseReward * BigInt(p.bondMultiple)
}

export function arbiterAlpha(challengeId: string, round: number): Uint8Array {
  return new TextEncoder().encode(`r3mes/arbiter/1\0${challengeId}\0${round}`)
}

/** The hex VRF proof an arbiter's vote carries for a panel round. */
export function arbiterProof(secretKey: Uint8Array, challengeId: string, round: number): string {
  return toHex(vrfProve(secretKey, arbiterAlpha(challengeId, round)))
}

/** The VRF input of a challenge's current L2 attempt. */
export function drawOf(c: Challenge): VerifierDraw {
  return { challengeId: c.id, seed: c.seed, attempt: c.attempt }
}

function drawSeed(...parts: (string | Uint8Array)[]): Uint8Array {
  return sha256(...parts.flatMap((part) => [part, '\0']))
}

function bpsOf(amount: bigint, bps: number): bigint {
  return (amount * BigInt(bps)) / 10_000n
}

/**
 * Open L2 attempt `attempt` at `height`: snapshot the eligible verifiers (not the owner, not the
 * challenger, none that already failed to answer here) and their stakes, and clear the seat.
 * Undefined when no verifier is eligible.
 */
function openAttempt(
  state: ChainState,
  c: Challenge,
  owner: string,
  height: number,
  attempt: number,
): Challenge | undefined {
  const p = state.params
  const excluded = new Set([owner, c.challenger, ...c.tried])
  const eligible: Record<string, bigint> = {}
  let eligibleStake = 0n
  for (const v of state.withRole('verifier')) {
    if (excluded.has(v.address)) continue
    eligible[v.address] = v.weight
    eligibleStake += v.weight
  }
  if (eligibleStake === 0n) return undefined
  return {
    ...c,
    attempt,
    claimUntil: height + p.verifierClaimBlocks,
    deadline: height + p.l2DeadlineBlocks,
    eligible,
    eligibleStake,
    verifier: null,
    verifierBeta: null,
    verifierVerdict: null,
  }
}

/** `count` arbiters for a panel round, excluding parties and everyone already seated. */
function drawArbiters(state: ChainState, c: Challenge, owner: string, round: number, count: number): string[] {
  const excluded = new Set([owner, c.challenger, c.verifier ?? '', ...c.panel, ...c.penalized])
  const candidates = state.withRole('arbiter').filter((a) => !excluded.has(a.address))
  return sortition(
    drawSeed('r3mes/panel-draw/2', fromHex(c.panelSeed ?? '') as Uint8Array, String(round)),
    candidates,
    count,
  )
}

export function challenge(state: ChainState, ctx: BlockContext, tx: SignedTx, msg: MsgOf<'challenge'>): void {
  const p = state.params
  const claim = state.claims.get(msg.claimId)
  if (claim === undefined) {
    const pruned = isWindowPruned(state, windowOfClaim(msg.claimId))
    reject(TxCode.unknownClaim, pruned ? `claim ${msg.claimId} was pruned with its window` : `no claim ${msg.claimId}`)
  }
  if (claim.owner === tx.sender) reject(TxCode.selfChallenge, 'a claim’s owner cannot challenge it')
  if (ctx.height > claim.challengeUntil)
    reject(TxCode.challengeClosed, `claim ${msg.claimId} could be challenged until height ${claim.challengeUntil}`)
  if (
    claim.status === 'challenged' ||
    claim.status === 'slashed' ||
    claim.status === 'revealed' ||
    claim.flag === 'copied'
  )
    reject(TxCode.notChallengeable, `claim ${msg.claimId} is ${claim.flag ?? claim.status}`)
  const minBond = leastBond(p)
  if (msg.bond < minBond)
    reject(TxCode.bondTooSmall, `bond ${msg.bond} is below ${minBond} (${p.bondMultiple}× base reward)`)
  state.debit(tx.sender, msg.bond)
  const id = `ch-${state.globals.nextChallenge}`
  const draft: Challenge = {
    ...draftChallenge(id, 'fault', claim, tx.sender, msg.bond, ctx),
    challengerTrace: msg.trace ?? null,
  }
  const c = openAttempt(state, draft, claim.owner, ctx.height, 0)
  if (c === undefined) reject(TxCode.notSelected, 'no verifier is eligible to answer a challenge of this claim')
  state.setMeta({ nextChallenge: state.globals.nextChallenge + 1 })
  state.challenges.set(id, c)
  state.claims.set(claim.id, { ...claim, status: 'challenged' })
}

function liveChallenge(
  state: ChainState,
  id: string,
  stage: 'l2' | 'appealable' | 'l3',
): { c: Challenge; claim: Claim } {
  const c = state.challenges.get(id)
  if (c === undefined) reject(TxCode.unknownChallenge, `no challenge ${id}`)
  if (c.stage !== stage) reject(TxCode.wrongStage, `challenge ${id} is at stage ${c.stage}`)
  return { c, claim: state.claims.get(c.claimId) as Claim }
}

/** A selected verifier takes the seat of the current attempt, or takes it over with a better ticket. */
export function verifierClaim(state: ChainState, ctx: BlockContext, tx: SignedTx, msg: MsgOf<'verifierClaim'>): void {
  const { c } = liveChallenge(state, msg.challengeId, 'l2')
  if (ctx.height > c.claimUntil)
    reject(TxCode.deadlinePassed, `claims for attempt ${c.attempt} of ${c.id} closed at height ${c.claimUntil}`)
  if (!Object.hasOwn(c.eligible, tx.sender))
    reject(TxCode.notSelected, `${tx.sender} is not an eligible verifier of ${c.id} (attempt ${c.attempt})`)
  const stake = c.eligible[tx.sender] as bigint
  const beta = vrfVerify(tx.pubKey, verifierAlpha(drawOf(c)), fromHex(msg.proof) as Uint8Array)
  if (beta === undefined)
    reject(TxCode.badVrfProof, `the VRF proof does not verify for attempt ${c.attempt} of ${c.id}`)
  if (!isSelected(beta, stake, c.eligibleStake, state.params.verifierExpectedCount))
    reject(TxCode.notSelected, `the VRF ticket does not select ${tx.sender} for attempt ${c.attempt} of ${c.id}`)
  if (c.verifier === tx.sender) reject(TxCode.duplicate, `${tx.sender} already holds the seat of ${c.id}`)
  if (c.verifier !== null) {
    const seat = {
      beta: betaBytes(c.verifierBeta as string),
      stake: c.eligible[c.verifier] as bigint,
      address: c.verifier,
    }
    if (!betterTicket({ beta, stake, address: tx.sender }, seat))
      reject(TxCode.notSelected, `${c.verifier} holds the seat of ${c.id} with a better ticket`)
  }
  state.challenges.set(c.id, { ...c, verifier: tx.sender, verifierBeta: toHex(beta) })
}

export function verifierResponse(
  state: ChainState,
  ctx: BlockContext,
  tx: SignedTx,
  msg: MsgOf<'verifierResponse'>,
): void {
  const { c, claim } = liveChallenge(state, msg.challengeId, 'l2')
  if (c.verifier === null)
    reject(
      TxCode.notSelected,
      `no verifier holds the seat of ${c.id} (attempt ${c.attempt}): a selected one claims it first`,
    )
  if (tx.sender !== c.verifier) reject(TxCode.notSelected, `${c.verifier} holds the seat of ${c.id}`)
  if (ctx.height <= c.claimUntil)
    reject(
      TxCode.wrongStage,
      `claims for ${c.id} are open until height ${c.claimUntil}; the seated verifier answers after`,
    )
  if (ctx.height > c.deadline) reject(TxCode.deadlinePassed, `the verifier deadline was height ${c.deadline}`)
  const beta = vrfVerify(tx.pubKey, verifierAlpha(drawOf(c)), fromHex(msg.proof) as Uint8Array)
  if (beta === undefined || toHex(beta) !== c.verifierBeta)
    reject(TxCode.badVrfProof, `the VRF proof does not verify for attempt ${c.attempt} of ${c.id}`)
  // Any answer is paid, 'unavailable' included: a verifier that could not fetch withheld
  // content must have an answer that costs it nothing.
  state.mint(tx.sender, state.params.verifierReward)
  const answered: Challenge = { ...c, verifierVerdict: msg.verdict }
  if (msg.verdict === 'owner') {
    // Not final: a verifier could answer 'owner' without re-executing, and only the challenger
    // (who re-executed) knows better. It may appeal to a panel until the window ends.
    state.challenges.set(c.id, {
      ...answered,
      stage: 'appealable',
      deadline: ctx.height + state.params.appealBlocks,
    })
    return
  }
  // The verifier sides with the challenger, or could not fetch the content: escalate to an L3
  // panel drawn from its VRF output and this block's beacon (neither the verifier nor this
  // block's proposer can choose either; the panel rules on both).
  openPanel(state, ctx, answered, claim, beta)
}

/**
 * The challenger appeals the verifier's 'owner' with a second bond (at least the least
 * challenge bond), escrowed beside the first: the challenge goes to an L3 panel exactly as an
 * escalation does, drawn from the verifier's VRF output and this block's beacon.
 */
export function appeal(state: ChainState, ctx: BlockContext, tx: SignedTx, msg: MsgOf<'appeal'>): void {
  const p = state.params
  const { c, claim } = liveChallenge(state, msg.challengeId, 'appealable')
  if (tx.sender !== c.challenger)
    reject(TxCode.notChallenger, `only the challenger of ${c.id} (${c.challenger}) may appeal its verdict`)
  if (ctx.height > c.deadline) reject(TxCode.deadlinePassed, `the appeal deadline of ${c.id} was height ${c.deadline}`)
  const minBond = leastBond(p)
  if (msg.bond < minBond)
    reject(TxCode.bondTooSmall, `appeal bond ${msg.bond} is below ${minBond} (${p.bondMultiple}× base reward)`)
  state.debit(tx.sender, msg.bond)
  openPanel(state, ctx, { ...c, appealBond: msg.bond }, claim, fromHex(c.verifierBeta ?? '') as Uint8Array)
}

/**
 * Move a challenge to L3 and seat its first panel, drawn from `entropy` and this block's
 * beacon: nobody can predict the panel before the block that opens it. Lapses when no arbiter
 * is left.
 */
function openPanel(state: ChainState, ctx: BlockContext, c: Challenge, claim: Claim, entropy: Uint8Array): void {
  const escalated: Challenge = {
    ...c,
    stage: 'l3',
    panelSeed: toHex(drawSeed('r3mes/panel-seed/1', entropy, fromHex(ctx.beacon) as Uint8Array)),
    deadline: ctx.height + state.params.l3DeadlineBlocks,
    panelRound: 0,
  }
  const panel = drawArbiters(state, escalated, claim.owner, 0, PANEL_SIZE)
  if (panel.length === 0) {
    lapse(state, ctx, escalated, claim)
    return
  }
  state.challenges.set(c.id, { ...escalated, panel })
}

/**
 * An aggregate left these accepted submissions out because it could not fetch their gradients:
 * each gets an availability dispute, straight at L3 (there is nothing for a verifier to
 * re-execute without the content), with the aggregator as challenger and no bond. Its panel
 * is drawn as an escalated challenge's, from the claim id in place of a verifier's VRF output
 * (the beacon keeps it unpredictable). The caller checked that every id is an accepted
 * submission of the aggregate's window and subnet.
 */
export function openAvailabilityDisputes(
  state: ChainState,
  ctx: BlockContext,
  aggregator: string,
  claimIds: readonly string[],
): void {
  for (const claimId of claimIds) {
    const claim = state.claims.get(claimId) as Claim
    const id = `ch-${state.globals.nextChallenge}`
    state.setMeta({ nextChallenge: state.globals.nextChallenge + 1 })
    const draft: Challenge = {
      ...draftChallenge(id, 'availability', claim, aggregator, 0n, ctx),
      stage: 'l3',
    }
    state.claims.set(claim.id, { ...claim, status: 'challenged' })
    openPanel(state, ctx, draft, claim, sha256('r3mes/availability/1\0', claim.id))
  }
}

/** A challenge as it opens, before its first L2 attempt or L3 panel. */
function draftChallenge(
  id: string,
  kind: Challenge['kind'],
  claim: Claim,
  challenger: string,
  bond: bigint,
  ctx: BlockContext,
): Challenge {
  return {
    id,
    kind,
    claimId: claim.id,
    challenger,
    bond,
    challengerTrace: null,
    openedHeight: ctx.height,
    seed: ctx.beacon,
    stage: 'l2',
    attempt: 0,
    claimUntil: ctx.height,
    eligible: {},
    eligibleStake: 0n,
    verifier: null,
    tried: [],
    deadline: ctx.height,
    verifierBeta: null,
    verifierVerdict: null,
    appealBond: 0n,
    panelSeed: null,
    panel: [],
    panelRound: 0,
    votes: {},
    penalized: [],
    priorStatus: claim.status,
    outcome: null,
    settledHeight: null,
  }
}

/** Votes needed to decide: 2 of a full panel of 3 (a majority of a smaller panel when arbiters are scarce). */
function quorum(c: Challenge): number {
  return Math.floor(c.panel.length / 2) + 1
}

export function arbiterVote(state: ChainState, ctx: BlockContext, tx: SignedTx, msg: MsgOf<'arbiterVote'>): void {
  const { c, claim } = liveChallenge(state, msg.challengeId, 'l3')
  if (!c.panel.includes(tx.sender)) reject(TxCode.notSelected, `${tx.sender} holds no seat on the panel of ${c.id}`)
  if (ctx.height > c.deadline) reject(TxCode.deadlinePassed, `the panel deadline was height ${c.deadline}`)
  if (c.votes[tx.sender] !== undefined) reject(TxCode.duplicate, 'this arbiter has already voted')
  if (c.kind === 'availability' && msg.verdict === 'fault')
    reject(TxCode.invalidField, `${c.id} is an availability dispute: its verdicts are no_fault and unavailable`, {
      field: 'msg.verdict',
    })
  if (vrfVerify(tx.pubKey, arbiterAlpha(c.id, c.panelRound), fromHex(msg.proof) as Uint8Array) === undefined)
    reject(TxCode.badVrfProof, 'the VRF proof does not verify for this panel round')
  const votes = { ...c.votes, [tx.sender]: msg.verdict }
  const voted = { ...c, votes }
  state.challenges.set(c.id, voted)
  const tally = (v: Verdict): number => Object.values(votes).filter((x) => x === v).length
  if (tally('fault') >= quorum(c)) resolve(state, ctx, voted, claim, 'challenger')
  else if (tally('unavailable') >= quorum(c)) resolve(state, ctx, voted, claim, 'unavailable')
  else if (tally('no_fault') >= quorum(c)) resolve(state, ctx, voted, claim, 'owner')
  // Every seat answered and no verdict has a quorum (one of each): nothing is decided.
  else if (c.panel.every((a) => votes[a] !== undefined)) lapse(state, ctx, voted, claim)
}

/** The vote that sides with each outcome. */
const VOTE_OF: Record<'owner' | 'challenger' | 'unavailable', Verdict> = {
  owner: 'no_fault',
  challenger: 'fault',
  unavailable: 'unavailable',
}

function resolve(
  state: ChainState,
  ctx: BlockContext,
  c: Challenge,
  claim: Claim,
  winner: 'owner' | 'challenger' | 'unavailable',
): void {
  const p = state.params
  if (c.stage === 'l3') {
    const side = VOTE_OF[winner]
    for (const a of Object.keys(c.votes).sort()) if (c.votes[a] === side) state.mint(a, p.arbiterReward)
  }
  // An appeal the panel rejected loses its bond with the first one.
  const bonds = c.bond + c.appealBond
  if (winner === 'owner') {
    const toOwner = bonds / 2n
    state.credit(claim.owner, toOwner)
    state.payOrPool(ctx.proposer, bonds - toOwner)
    // A panel's 'owner' is final; a verifier's unappealed one binds only its challenger.
    const period = c.stage === 'l3' ? claim : withHeldBlocksBack(claim, c, ctx.height)
    state.claims.set(claim.id, { ...period, status: 'accepted', flag: null })
    creditClaim(state, claim.id)
    // The content was there: the aggregator left out work it could have had. Penalized like a
    // silent verifier, so excluding honest work is never free.
    if (c.kind === 'availability') state.slash(c.challenger, bpsOf(state.bondedOf(c.challenger), p.verifierPenaltyBps))
  } else {
    // Only here, after the panel, does anyone lose stake. Withheld content costs what a fault
    // costs: were it cheaper, a cheat would withhold whenever challenged.
    // A fraction of everything bonded, unbonding included: unstaking after a fault does not escape it.
    const slashed = state.slash(claim.owner, bpsOf(state.bondedOf(claim.owner), p.slashFractionBps))
    state.credits.delete(claim.id)
    state.claims.set(claim.id, {
      ...claim,
      status: 'slashed',
      flag: winner === 'unavailable' ? 'unavailable' : claim.flag,
    })
    if (claim.kind === 'aggregate') {
      if (claim.previousCid === null) state.adapters.delete(String(claim.subnet))
      else state.adapters.set(String(claim.subnet), claim.previousCid)
    }
    state.credit(c.challenger, bonds)
    // No bounty for an availability dispute: an aggregator could otherwise mint bounties by
    // excluding an accomplice that withholds on purpose.
    if (c.kind === 'fault') state.mint(c.challenger, bountyFor(p, slashed))
    // The verifier answered 'owner' and the panel's bit-exact re-execution found the fault: it
    // signed a false verdict, so answering without re-executing costs stake. Not for
    // 'unavailable': an owner could serve the verifier and withhold from the panel after.
    if (winner === 'challenger' && c.verifierVerdict === 'owner' && c.verifier !== null)
      state.slash(c.verifier, bpsOf(state.bondedOf(c.verifier), p.overturnedVerifierSlashBps))
  }
  state.challenges.set(c.id, { ...c, stage: 'resolved', outcome: winner, settledHeight: ctx.height })
}

/**
 * The challenger's bounty: `bountyMultiple` × base reward, but at most `bountyShareBps` of what
 * the owner lost, so convicting oneself through an accomplice always costs the pair the rest.
 */
export function bountyFor(p: Params, slashed: bigint): bigint {
  const cap = p.baseReward * BigInt(p.bountyMultiple)
  const share = bpsOf(slashed, p.bountyShareBps)
  return share < cap ? share : cap
}

/** No verdict could be reached: the bonds go back and the claim returns to where it was. */
function lapse(state: ChainState, ctx: BlockContext, c: Challenge, claim: Claim): void {
  state.credit(c.challenger, c.bond + c.appealBond)
  state.claims.set(claim.id, { ...withHeldBlocksBack(claim, c, ctx.height), status: c.priorStatus })
  state.challenges.set(c.id, { ...c, stage: 'lapsed', outcome: 'lapsed', settledHeight: ctx.height })
}

/**
 * `claim` with the blocks challenge `c` held it (from its opening to `height`) added to its
 * challenge period: a challenge that ends without a panel's verdict decided nothing, and while
 * it was open nobody else could challenge the claim (see the file comment). An availability
 * dispute opens after the period and holds nothing.
 */
function withHeldBlocksBack(claim: Claim, c: Challenge, height: number): Claim {
  if (c.kind !== 'fault') return claim
  return { ...claim, challengeUntil: claim.challengeUntil + (height - c.openedHeight) }
}

/** The next L2 attempt, or a lapse when attempts are spent or no verifier is left. */
function nextAttempt(state: ChainState, ctx: BlockContext, c: Challenge, claim: Claim): void {
  const attempt = c.attempt + 1
  const next =
    attempt < state.params.maxVerifierAttempts ? openAttempt(state, c, claim.owner, ctx.height, attempt) : undefined
  if (next === undefined) lapse(state, ctx, { ...c, attempt, verifier: null, verifierBeta: null }, claim)
  else state.challenges.set(c.id, next)
}

/** End of block: move every challenge whose claim phase or deadline ends at this height. */
export function runDeadlines(state: ChainState, ctx: BlockContext): void {
  const p = state.params
  for (const [, c] of state.challenges.entries()) {
    if (c.stage === 'l2') {
      const claim = state.claims.get(c.claimId) as Claim
      if (c.verifier === null && c.claimUntil === ctx.height) {
        // Nobody selected claimed the seat (the chain cannot know who was selected): draw again now.
        nextAttempt(state, ctx, c, claim)
      } else if (c.verifier !== null && c.deadline === ctx.height) {
        // The seated verifier did not answer: penalize it, exclude it, draw again.
        const silent = c.verifier
        state.slash(silent, bpsOf(state.bondedOf(silent), p.verifierPenaltyBps))
        nextAttempt(state, ctx, { ...c, tried: [...c.tried, silent] }, claim)
      }
      continue
    }
    if (c.stage === 'appealable') {
      // Nobody appealed the verifier's 'owner': it stands.
      if (c.deadline === ctx.height) resolve(state, ctx, c, state.claims.get(c.claimId) as Claim, 'owner')
      continue
    }
    if (c.stage !== 'l3' || c.deadline !== ctx.height) continue
    const claim = state.claims.get(c.claimId) as Claim
    // L3 round over without a decision: penalize and replace the arbiters that did not vote.
    const missing = c.panel.filter((a) => c.votes[a] === undefined)
    for (const a of missing) state.slash(a, bpsOf(state.bondedOf(a), p.arbiterPenaltyBps))
    const round = c.panelRound + 1
    const kept = c.panel.filter((a) => c.votes[a] !== undefined)
    const base: Challenge = { ...c, panel: kept, penalized: [...c.penalized, ...missing], panelRound: round }
    const fresh = round < p.maxPanelRounds ? drawArbiters(state, base, claim.owner, round, missing.length) : []
    if (fresh.length === 0) lapse(state, ctx, base, claim)
    else state.challenges.set(c.id, { ...base, panel: [...kept, ...fresh], deadline: ctx.height + p.l3DeadlineBlocks })
  }
}
