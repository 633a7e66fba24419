/**
 * The verification game: L2 challenge → VRF-selected verifier → L3 arbiter panel.
 *
 * Selection is stake-weighted sortition (vrf.ts) over randomness nobody can steer:
 * - the verifier of attempt a is drawn from SHA-256(block hash of the challenge ‖ id ‖ a), a
 *   public draw, so every node knows who must answer and when "no answer" has happened;
 * - the verifier's answer carries its VRF proof over (challenge id, attempt); its output beta,
 *   unique to its key and unknown until it answers, seeds the L3 panel draw, so no one (the
 *   verifier included) can predict or pick the panel before the L2 verdict is on chain;
 * - each arbiter's vote carries its VRF proof over (challenge id, round), binding the vote to
 *   the arbiter's key and round.
 *
 * Money: the bond (≥ bondMultiple × baseReward) is escrowed in the challenge. Verifier or panel
 * sides with the claim's owner → the bond is split between the owner and the block proposer
 * (the "validator" of the seed). The panel confirms a fault (2 of 3) → the owner is slashed
 * (slashFractionBps of its stake), its pending reward revoked, an aggregate's model pointer
 * restored, and the challenger gets the bond back plus bountyMultiple × baseReward (minted).
 * Nothing is slashed before L3. Verifiers that answer and arbiters on the deciding side are
 * paid (minted). An arbiter that misses a round's deadline is penalized (arbiterPenaltyBps of
 * its stake) and replaced by a fresh draw; a vote after its seat was replaced is refused.
 */
import { createHash } from 'node:crypto'
import type { BlockContext } from './context.ts'
import { reject, TxCode } from './errors.ts'
import { fromHex, toHex } from './keys.ts'
import type { ChainState, Challenge, Claim, Verdict } from './state.ts'
import type { Msg, SignedTx } from './tx.ts'
import { sortition, vrfVerify } from './vrf.ts'
import { creditClaim } from './windows.ts'

type MsgOf<T extends Msg['type']> = Extract<Msg, { type: T }>

export const PANEL_SIZE = 3

export function verifierAlpha(challengeId: string, attempt: number): Uint8Array {
  return new TextEncoder().encode(`r3mes/verifier/1\0${challengeId}\0${attempt}`)
}

export function arbiterAlpha(challengeId: string, round: number): Uint8Array {
  return new TextEncoder().encode(`r3mes/arbiter/1\0${challengeId}\0${round}`)
}

function drawSeed(...parts: (string | Uint8Array)[]): Uint8Array {
  const h = createHash('sha256')
  for (const p of parts) h.update(p).update('\0')
  return new Uint8Array(h.digest())
}

function bpsOf(amount: bigint, bps: number): bigint {
  return (amount * BigInt(bps)) / 10_000n
}

/** The verifier for the challenge's current attempt, excluding owner, challenger and those tried. */
function drawVerifier(state: ChainState, c: Challenge, owner: string, attempt: number): string | undefined {
  const excluded = new Set([owner, c.challenger, ...c.tried])
  const candidates = state.withRole('verifier').filter((v) => !excluded.has(v.address))
  return sortition(
    drawSeed('r3mes/verifier-draw/1', fromHex(c.seed) as Uint8Array, c.id, String(attempt)),
    candidates,
    1,
  )[0]
}

/** `count` arbiters for a panel round, excluding parties and everyone already seated. */
function drawArbiters(state: ChainState, c: Challenge, owner: string, round: number, count: number): string[] {
  const excluded = new Set([owner, c.challenger, c.verifier ?? '', ...c.panel, ...c.penalized])
  const candidates = state.withRole('arbiter').filter((a) => !excluded.has(a.address))
  return sortition(
    drawSeed('r3mes/panel-draw/1', fromHex(c.verifierBeta ?? '') as Uint8Array, String(round)),
    candidates,
    count,
  )
}

export function challenge(state: ChainState, ctx: BlockContext, tx: SignedTx, msg: MsgOf<'challenge'>): void {
  const p = state.params
  const claim = state.claims.get(msg.claimId)
  if (claim === undefined) reject(TxCode.unknownClaim, `no claim ${msg.claimId}`)
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
  const minBond = p.baseReward * BigInt(p.bondMultiple)
  if (msg.bond < minBond)
    reject(TxCode.bondTooSmall, `bond ${msg.bond} is below ${minBond} (${p.bondMultiple}× base reward)`)
  state.debit(tx.sender, msg.bond)
  const id = `ch-${state.m.nextChallenge}`
  state.setMeta({ nextChallenge: state.m.nextChallenge + 1 })
  const c: Challenge = {
    id,
    claimId: claim.id,
    challenger: tx.sender,
    bond: msg.bond,
    openedHeight: ctx.height,
    seed: ctx.hash,
    stage: 'l2',
    attempt: 0,
    verifier: null,
    tried: [],
    deadline: ctx.height + p.l2DeadlineBlocks,
    verifierBeta: null,
    panel: [],
    panelRound: 0,
    votes: {},
    penalized: [],
    priorStatus: claim.status,
    outcome: null,
  }
  const verifier = drawVerifier(state, c, claim.owner, 0)
  if (verifier === undefined) reject(TxCode.notSelected, 'no verifier is available to answer a challenge')
  state.challenges.set(id, { ...c, verifier: verifier as string })
  state.claims.set(claim.id, { ...claim, status: 'challenged' })
}

function liveChallenge(state: ChainState, id: string, stage: 'l2' | 'l3'): { c: Challenge; claim: Claim } {
  const c = state.challenges.get(id)
  if (c === undefined) reject(TxCode.unknownChallenge, `no challenge ${id}`)
  if (c.stage !== stage) reject(TxCode.wrongStage, `challenge ${id} is at stage ${c.stage}`)
  return { c, claim: state.claims.get(c.claimId) as Claim }
}

export function verifierResponse(
  state: ChainState,
  ctx: BlockContext,
  tx: SignedTx,
  msg: MsgOf<'verifierResponse'>,
): void {
  const { c, claim } = liveChallenge(state, msg.challengeId, 'l2')
  if (tx.sender !== c.verifier) reject(TxCode.notSelected, `${c.verifier} is the selected verifier of ${c.id}`)
  if (ctx.height > c.deadline) reject(TxCode.deadlinePassed, `the verifier deadline was height ${c.deadline}`)
  const beta = vrfVerify(tx.pubKey, verifierAlpha(c.id, c.attempt), fromHex(msg.proof) as Uint8Array)
  if (beta === undefined) reject(TxCode.badVrfProof, 'the VRF proof does not verify for this challenge')
  state.mint(tx.sender, state.params.verifierReward)
  if (msg.verdict === 'owner') {
    resolve(state, ctx, c, claim, 'owner')
    return
  }
  // The verifier sides with the challenger: escalate to an L3 panel drawn from its VRF output.
  const escalated: Challenge = {
    ...c,
    stage: 'l3',
    verifierBeta: toHex(beta),
    deadline: ctx.height + state.params.l3DeadlineBlocks,
    panelRound: 0,
  }
  const panel = drawArbiters(state, escalated, claim.owner, 0, PANEL_SIZE)
  if (panel.length === 0) {
    lapse(state, escalated, claim)
    return
  }
  state.challenges.set(c.id, { ...escalated, panel })
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
  if (vrfVerify(tx.pubKey, arbiterAlpha(c.id, c.panelRound), fromHex(msg.proof) as Uint8Array) === undefined)
    reject(TxCode.badVrfProof, 'the VRF proof does not verify for this panel round')
  const votes = { ...c.votes, [tx.sender]: msg.verdict }
  const voted = { ...c, votes }
  state.challenges.set(c.id, voted)
  const tally = (v: Verdict): number => Object.values(votes).filter((x) => x === v).length
  if (tally('fault') >= quorum(c)) resolve(state, ctx, voted, claim, 'challenger')
  else if (tally('no_fault') >= quorum(c)) resolve(state, ctx, voted, claim, 'owner')
}

function resolve(
  state: ChainState,
  ctx: BlockContext,
  c: Challenge,
  claim: Claim,
  winner: 'owner' | 'challenger',
): void {
  const p = state.params
  if (c.stage === 'l3') {
    const side: Verdict = winner === 'challenger' ? 'fault' : 'no_fault'
    for (const a of Object.keys(c.votes).sort()) if (c.votes[a] === side) state.mint(a, p.arbiterReward)
  }
  if (winner === 'owner') {
    const toOwner = c.bond / 2n
    state.credit(claim.owner, toOwner)
    state.payOrPool(ctx.proposer, c.bond - toOwner)
    state.claims.set(claim.id, { ...claim, status: 'accepted', flag: null })
    creditClaim(state, claim.id)
  } else {
    // Only here, after the panel, does anyone lose stake.
    // A fraction of everything bonded, unbonding included: unstaking after a fault does not escape it.
    state.slash(claim.owner, bpsOf(state.bondedOf(claim.owner), p.slashFractionBps))
    state.credits.delete(claim.id)
    state.claims.set(claim.id, { ...claim, status: 'slashed' })
    if (claim.kind === 'aggregate') {
      if (claim.previousCid === null) state.adapters.delete(String(claim.subnet))
      else state.adapters.set(String(claim.subnet), claim.previousCid)
    }
    state.credit(c.challenger, c.bond)
    state.mint(c.challenger, p.baseReward * BigInt(p.bountyMultiple))
  }
  state.challenges.set(c.id, { ...c, stage: 'resolved', outcome: winner })
}

/** No verdict could be reached: the bond goes back and the claim returns to where it was. */
function lapse(state: ChainState, c: Challenge, claim: Claim): void {
  state.credit(c.challenger, c.bond)
  state.claims.set(claim.id, { ...claim, status: c.priorStatus })
  state.challenges.set(c.id, { ...c, stage: 'lapsed', outcome: 'lapsed' })
}

/** End of block: move every challenge whose deadline is this height. */
export function runDeadlines(state: ChainState, ctx: BlockContext): void {
  const p = state.params
  for (const [, c] of state.challenges.entries()) {
    if ((c.stage !== 'l2' && c.stage !== 'l3') || c.deadline !== ctx.height) continue
    const claim = state.claims.get(c.claimId) as Claim
    if (c.stage === 'l2') {
      // No answer: the next verifier, drawn afresh; the silent one is passed over.
      const tried = [...c.tried, c.verifier as string]
      const attempt = c.attempt + 1
      const next: Challenge = { ...c, tried, attempt, deadline: ctx.height + p.l2DeadlineBlocks }
      const verifier = attempt < p.maxVerifierAttempts ? drawVerifier(state, next, claim.owner, attempt) : undefined
      if (verifier === undefined) lapse(state, next, claim)
      else state.challenges.set(c.id, { ...next, verifier })
      continue
    }
    // L3 round over without a decision: penalize and replace the arbiters that did not vote.
    const missing = c.panel.filter((a) => c.votes[a] === undefined)
    for (const a of missing) state.slash(a, bpsOf(state.bondedOf(a), p.arbiterPenaltyBps))
    const round = c.panelRound + 1
    const kept = c.panel.filter((a) => c.votes[a] !== undefined)
    const base: Challenge = { ...c, panel: kept, penalized: [...c.penalized, ...missing], panelRound: round }
    const fresh = round < p.maxPanelRounds ? drawArbiters(state, base, claim.owner, round, missing.length) : []
    if (fresh.length === 0) lapse(state, base, claim)
    else state.challenges.set(c.id, { ...base, panel: [...kept, ...fresh], deadline: ctx.height + p.l3DeadlineBlocks })
  }
}
