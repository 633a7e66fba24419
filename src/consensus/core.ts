/**
 * The Tendermint algorithm (Buchman, Kwon, Milosevic 2018, Algorithm 1) as a pure function:
 * `step(state, input) → { state, effects }`. Line numbers in comments refer to the paper.
 *
 * `step` never mutates its argument: it works on a shallow draft whose maps and sets are
 * replaced, never changed in place. After each input the "upon" rules are evaluated until
 * none fires, so one input may move the node through several steps.
 */

import { bytesEqual, toHex } from '../codec/bytes.ts'
import { assert, unreachable } from '../runtime/assert.ts'
import {
  MAX_BLOCK_TIME_DRIFT_MS,
  MAX_BLOCK_TIME_STEP_MS,
  MAX_CONSENSUS_ROUND,
  MAX_NEXT_HEIGHT_INPUTS,
} from '../runtime/limits.ts'
import { beaconFromProof } from './beacon.ts'
import { bodyMatchesHeader, hashBlock, makeBlock, validateBlock } from './block.ts'
import type {
  ConsensusConfig,
  ConsensusEffect,
  ConsensusInput,
  ConsensusState,
  ProposalEntry,
  StepResult,
  TimeoutKind,
  Tip,
} from './core-types.ts'
import { stepIndex } from './core-types.ts'
import { InvalidConsensusDataError } from './errors.ts'
import { evidenceKey, makeEvidence, verifyCommit, verifyEvidence, verifyProposal, verifyVote } from './signing.ts'
import type { Block, Commit, CommitSig, DuplicateVoteEvidence, Vote, VoteType } from './types.ts'
import type { ValidatorSet, ValidatorUpdate } from './validator-set.ts'
import { addVote, emptyVoteSet, hasTwoThirdsAny, twoThirdsMajority, type VoteSet, voteFor } from './vote-set.ts'

type Draft = { -readonly [K in keyof ConsensusState]: ConsensusState[K] }

/** One step's working state and the effects it has asked for so far. */
interface Ctx {
  state: Draft
  effects: ConsensusEffect[]
}

export function initialState(config: ConsensusConfig, tip: Tip): ConsensusState {
  return freshHeight(config, tip)
}

function freshHeight(config: ConsensusConfig, tip: Tip): ConsensusState {
  return {
    config,
    tip,
    myIndex: config.myAddress === null ? -1 : tip.validators.indexOf(config.myAddress),
    round: 0,
    step: 'newHeight',
    lockedRound: -1,
    lockedBlock: null,
    validRound: -1,
    validBlock: null,
    proposals: new Map(),
    blocks: new Map(),
    validity: new Map(),
    prevotes: new Map(),
    precommits: new Map(),
    prevoteTimeoutRounds: new Set(),
    precommitTimeoutRounds: new Set(),
    polkaRounds: new Set(),
    pendingOwnProposal: null,
    pendingOwnVote: null,
    awaitingContent: false,
    decision: null,
    reportedEvidence: new Set(),
    nextHeightInputs: [],
  }
}

export function step(state: ConsensusState, input: ConsensusInput): StepResult {
  const ctx: Ctx = { state: { ...state }, effects: [] }
  apply(ctx, input)
  runRules(ctx)
  return { state: ctx.state, effects: ctx.effects }
}

function apply(ctx: Ctx, input: ConsensusInput): void {
  const s = ctx.state
  switch (input.type) {
    case 'start':
      if (s.step === 'newHeight') startRound(ctx, 0)
      return
    case 'resume':
      resume(ctx)
      return
    case 'proposal':
      if (!roundInRange(input.proposal.round)) return
      if (input.proposal.height === s.tip.height + 1) bufferNextHeight(ctx, input)
      else onProposal(ctx, input.proposal, input.block, input.receivedMs)
      return
    case 'vote':
      if (!roundInRange(input.vote.round)) return
      if (input.vote.height === s.tip.height + 1) bufferNextHeight(ctx, input)
      else onVote(ctx, input.vote)
      return
    case 'timeout':
      onTimeout(ctx, input.kind, input.height, input.round)
      return
    case 'proposalContent':
      onProposalContent(ctx, input)
      return
    case 'decided':
      onDecided(ctx, input.block, input.commit)
      return
    case 'blockApplied':
      onBlockApplied(ctx, input.height, input.appHash, input.validatorUpdates)
      return
    default:
      unreachable(input, 'consensus input')
  }
}

// ---- helpers -------------------------------------------------------------------------------

function vals(s: Draft): ValidatorSet {
  return s.tip.validators
}

function isProposer(s: Draft, round: number): boolean {
  if (s.myIndex < 0) return false
  const me = vals(s).at(s.myIndex)
  return me !== undefined && bytesEqual(vals(s).proposerForRound(round).address, me.address)
}

function timeoutMs(s: Draft, kind: TimeoutKind, round: number): number {
  const t = s.config.timeouts
  switch (kind) {
    case 'propose':
      return t.proposeMs + round * t.proposeDeltaMs
    case 'prevote':
      return t.prevoteMs + round * t.prevoteDeltaMs
    case 'precommit':
      return t.precommitMs + round * t.precommitDeltaMs
    case 'commit':
      return t.commitMs
    default:
      return unreachable(kind, 'timeout kind')
  }
}

function schedule(ctx: Ctx, kind: TimeoutKind, round: number): void {
  ctx.effects.push({
    type: 'scheduleTimeout',
    kind,
    height: ctx.state.tip.height,
    round,
    durationMs: timeoutMs(ctx.state, kind, round),
  })
}

/**
 * enterPrevote(height, round): entered from propose only; stale (a no-op) for another height
 * or round, or when this round's prevote step has been passed.
 */
function enterPrevote(ctx: Ctx, height: number, round: number, blockHash: Uint8Array | null): void {
  const s = ctx.state
  if (height !== s.tip.height || round !== s.round || s.step !== 'propose') return
  signOwnVote(ctx, 'prevote', blockHash)
}

/** enterPrecommit(height, round): entered from prevote only; stale otherwise. */
function enterPrecommit(ctx: Ctx, height: number, round: number, blockHash: Uint8Array | null): void {
  const s = ctx.state
  if (height !== s.tip.height || round !== s.round || s.step !== 'prevote') return
  signOwnVote(ctx, 'precommit', blockHash)
}

function signOwnVote(ctx: Ctx, type: VoteType, blockHash: Uint8Array | null): void {
  const s = ctx.state
  s.step = type
  if (s.myIndex < 0) return
  const vote = { type, height: s.tip.height, round: s.round, blockHash, validatorIndex: s.myIndex }
  s.pendingOwnVote = vote
  ctx.effects.push({ type: 'signVote', vote })
}

/**
 * Whether `block` may be voted for or decided, remembered by block hash. The hash is the
 * header's, so a verdict is remembered only for a body the header commits to: a wrong body
 * is refused without a verdict on the block its header names. Only the expected validation
 * error means "invalid"; anything else is a bug and propagates.
 */
function isValid(ctx: Ctx, block: Block): boolean {
  const s = ctx.state
  if (!bodyMatchesHeader(block)) return false
  const key = toHex(hashBlock(block))
  const known = s.validity.get(key)
  if (known !== undefined) return known
  let ok = true
  try {
    validateBlock(chainTip(s), block)
  } catch (error) {
    if (!(error instanceof InvalidConsensusDataError)) throw error
    ok = false
  }
  const validity = new Map(s.validity)
  validity.set(key, ok)
  s.validity = validity
  return ok
}

function chainTip(s: Draft) {
  return {
    chainId: s.config.chainId,
    height: s.tip.height,
    previousBlockHash: s.tip.lastBlockHash,
    previousTimeMs: s.tip.lastBlockTimeMs,
    previousBeacon: s.tip.lastBeacon,
    appHash: s.tip.appHash,
    validators: s.tip.validators,
    lastValidators: s.tip.lastValidators,
    lastCommit: s.tip.lastCommit,
    committedEvidence: new Set(s.tip.committedEvidence.keys()),
    maxBlockBytes: s.config.maxBlockBytes,
    maxEvidenceAgeHeights: s.config.maxEvidenceAgeHeights,
  }
}

function voteSet(s: Draft, type: VoteType, round: number): VoteSet | undefined {
  return (type === 'prevote' ? s.prevotes : s.precommits).get(round)
}

/**
 * Rounds a message may name: no peer can make this node work for a round past
 * MAX_CONSENSUS_ROUND (proposer selection, vote sets and timeouts all grow with it), at this
 * height or the next. Checked first, before the message is buffered or verified.
 */
function roundInRange(round: number): boolean {
  return Number.isSafeInteger(round) && round >= 0 && round <= MAX_CONSENSUS_ROUND
}

function roundTooFar(s: Draft, round: number): boolean {
  return round > s.round + s.config.maxRoundsAhead
}

/**
 * Keep a message for the next height (a peer that decided first is already there). Only
 * correctly signed ones take a slot of the bounded buffer: the next height's validators are
 * known already (updates take effect two heights after the block that made them), so votes
 * and proposals verify against that set and its proposer order.
 */
function bufferNextHeight(ctx: Ctx, input: ConsensusInput): void {
  const s = ctx.state
  if (s.nextHeightInputs.length >= MAX_NEXT_HEIGHT_INPUTS) return
  // The next height starts at round 0: the same look-ahead as for this height's messages.
  const round = input.type === 'vote' ? input.vote.round : input.type === 'proposal' ? input.proposal.round : 0
  if (round > s.config.maxRoundsAhead) return
  const next = s.tip.nextValidators
  if (input.type === 'vote' && !verifyVote(s.config.chainId, next, input.vote)) return
  if (input.type === 'proposal' && !verifyProposal(s.config.chainId, next, input.proposal)) return
  s.nextHeightInputs = [...s.nextHeightInputs, input]
}

// ---- entering rounds and steps -------------------------------------------------------------

/** enterNewRound(height, round): StartRound, lines 11-21. Stale when the round has already started or the height is decided. */
function startRound(ctx: Ctx, round: number, height = ctx.state.tip.height): void {
  const s = ctx.state
  if (height !== s.tip.height || s.step === 'commit') return
  if (round < s.round || (round === s.round && s.step !== 'newHeight')) return
  s.round = round
  s.step = 'propose'
  s.awaitingContent = false
  s.pendingOwnProposal = null
  s.pendingOwnVote = null
  if (isProposer(s, round)) {
    if (s.validBlock !== null) {
      proposeBlock(ctx, s.validBlock, s.validRound)
    } else {
      s.awaitingContent = true
      ctx.effects.push({
        type: 'requestProposalContent',
        height: s.tip.height,
        round,
        maxBytes: s.config.maxBlockBytes,
        previousBeacon: s.tip.lastBeacon,
      })
    }
  }
  // The paper schedules this only for non-proposers; a proposer that cannot produce its block
  // in time must not stall the round either.
  schedule(ctx, 'propose', round)
}

function proposeBlock(ctx: Ctx, block: Block, polRound: number): void {
  const s = ctx.state
  const proposal = { height: s.tip.height, round: s.round, polRound, blockHash: hashBlock(block) }
  s.pendingOwnProposal = { proposal, block }
  ctx.effects.push({ type: 'signProposal', proposal, block })
}

function onProposalContent(ctx: Ctx, input: Extract<ConsensusInput, { type: 'proposalContent' }>): void {
  const s = ctx.state
  if (input.height !== s.tip.height || input.round !== s.round || s.step !== 'propose' || !s.awaitingContent) return
  s.awaitingContent = false
  const me = vals(s).at(s.myIndex)
  assert(me !== undefined, 'a non-validator was asked to propose')
  const beacon = beaconFromProof(s.tip.lastBeacon, input.vrfProof)
  // The proof comes from this node's own privval (through its WAL), never from a peer.
  assert(beacon !== undefined, 'own VRF proof does not decode')
  const block = makeBlock({
    chainId: s.config.chainId,
    height: s.tip.height,
    // Block time must move forward even when this node's clock lags the previous proposer's,
    // and by at most a step even when it runs far ahead (or the chain stood still for long).
    timeMs: Math.min(Math.max(input.timeMs, s.tip.lastBlockTimeMs + 1), s.tip.lastBlockTimeMs + MAX_BLOCK_TIME_STEP_MS),
    previousBlockHash: s.tip.lastBlockHash,
    appHash: s.tip.appHash,
    proposer: me.address,
    vrfProof: input.vrfProof,
    beacon,
    txs: input.txs,
    evidence: usableEvidence(s, input.evidence),
    lastCommit: s.tip.lastCommit,
  })
  proposeBlock(ctx, block, -1)
}

/** The evidence a block at this height may carry: valid, fresh, not yet committed, each once. */
function usableEvidence(s: Draft, evidence: readonly DuplicateVoteEvidence[]): DuplicateVoteEvidence[] {
  const out: DuplicateVoteEvidence[] = []
  const keys = new Set<string>()
  for (const e of evidence) {
    const key = evidenceKey(e)
    const h = e.voteA.height
    if (keys.has(key) || s.tip.committedEvidence.has(key)) continue
    if (h >= s.tip.height || h + s.config.maxEvidenceAgeHeights < s.tip.height) continue
    try {
      verifyEvidence(s.config.chainId, vals(s), e)
    } catch (error) {
      if (!(error instanceof InvalidConsensusDataError)) throw error
      continue
    }
    keys.add(key)
    out.push(e)
  }
  return out
}

// ---- messages ------------------------------------------------------------------------------

function onProposal(ctx: Ctx, proposal: ProposalEntry['proposal'], block: Block, receivedMs: number | undefined): void {
  const s = ctx.state
  if (proposal.height !== s.tip.height || roundTooFar(s, proposal.round)) return
  if (s.proposals.has(proposal.round)) return
  if (!verifyProposal(s.config.chainId, vals(s), proposal)) return
  // The signature covers the header's hash only: a relay may have swapped the body, and the
  // round's one slot must not go to a body that is not the proposer's block.
  if (!bytesEqual(hashBlock(block), proposal.blockHash) || !bodyMatchesHeader(block)) return
  const proposals = new Map(s.proposals)
  proposals.set(proposal.round, receivedMs === undefined ? { proposal, block } : { proposal, block, receivedMs })
  s.proposals = proposals
  const blocks = new Map(s.blocks)
  blocks.set(toHex(proposal.blockHash), block)
  s.blocks = blocks
  if (s.pendingOwnProposal !== null && s.pendingOwnProposal.proposal.round === proposal.round) {
    s.pendingOwnProposal = null
  }
}

function onVote(ctx: Ctx, vote: Vote): void {
  const s = ctx.state
  if (vote.height !== s.tip.height || roundTooFar(s, vote.round)) return
  if (!verifyVote(s.config.chainId, vals(s), vote)) return
  const existing = voteSet(s, vote.type, vote.round) ?? emptyVoteSet(vote.type, vote.height, vote.round, vals(s).size)
  const matters = vote.blockHash === null || s.blocks.has(toHex(vote.blockHash))
  const result = addVote(existing, vals(s), vote, matters)
  if (result.kind === 'duplicate') return
  if (result.kind === 'conflict') {
    const evidence = makeEvidence(result.existing, vote)
    const key = evidenceKey(evidence)
    if (!s.reportedEvidence.has(key)) {
      const reported = new Set(s.reportedEvidence)
      reported.add(key)
      s.reportedEvidence = reported
      ctx.effects.push({ type: 'evidence', evidence })
    }
  }
  const pending = s.pendingOwnVote
  if (
    pending !== null &&
    vote.validatorIndex === s.myIndex &&
    vote.type === pending.type &&
    vote.round === pending.round
  )
    s.pendingOwnVote = null
  const sets = new Map(vote.type === 'prevote' ? s.prevotes : s.precommits)
  sets.set(vote.round, result.set)
  if (vote.type === 'prevote') s.prevotes = sets
  else s.precommits = sets
}

function onTimeout(ctx: Ctx, kind: TimeoutKind, height: number, round: number): void {
  const s = ctx.state
  if (height !== s.tip.height) return
  switch (kind) {
    case 'propose': // lines 57-60
      enterPrevote(ctx, height, round, null)
      return
    case 'prevote': // lines 61-64
      enterPrecommit(ctx, height, round, null)
      return
    case 'precommit': // lines 65-67
      // Past the last round no peer would take this node's messages: it waits for a decided block.
      if (round === s.round && round < MAX_CONSENSUS_ROUND) startRound(ctx, round + 1, height)
      return
    case 'commit':
      if (s.step === 'newHeight') startRound(ctx, 0)
      return
    default:
      unreachable(kind, 'timeout kind')
  }
}

// ---- deciding ------------------------------------------------------------------------------

function decide(ctx: Ctx, block: Block, commit: Commit): void {
  const s = ctx.state
  assert(s.decision === null, 'a height is decided once')
  s.step = 'commit'
  s.decision = { block, commit }
  ctx.effects.push({ type: 'commitBlock', block, commit })
}

function commitFromVotes(set: VoteSet, blockHash: Uint8Array): Commit {
  const key = toHex(blockHash)
  const signatures: CommitSig[] = []
  for (let i = 0; i < set.votes.length; i++) {
    const v = voteFor(set, i, key)
    if (v !== undefined) signatures.push({ validatorIndex: i, signature: v.signature })
  }
  return { height: set.height, round: set.round, blockHash, signatures }
}

function onDecided(ctx: Ctx, block: Block, commit: Commit): void {
  const s = ctx.state
  if (s.decision !== null || block.header.height !== s.tip.height) return
  // The commit first: a block nobody decided gets no verdict, not even a remembered one.
  try {
    verifyCommit(s.config.chainId, vals(s), s.tip.height, hashBlock(block), commit)
  } catch (error) {
    if (!(error instanceof InvalidConsensusDataError)) throw error
    return
  }
  if (!isValid(ctx, block)) return
  decide(ctx, block, commit)
}

function onBlockApplied(
  ctx: Ctx,
  height: number,
  appHash: Uint8Array,
  validatorUpdates: readonly ValidatorUpdate[],
): void {
  const s = ctx.state
  if (s.step !== 'commit' || s.decision === null || height !== s.tip.height) return
  const tip = nextTip(s.config, s.tip, s.decision.block, s.decision.commit, appHash, validatorUpdates)
  const buffered = s.nextHeightInputs
  ctx.state = { ...freshHeight(s.config, tip) }
  ctx.effects.push({ type: 'newHeight', tip })
  schedule(ctx, 'commit', 0)
  for (const input of buffered) apply(ctx, input)
}

/**
 * The tip after `block` (decided by `commit`, executed to `appHash` with `validatorUpdates`):
 * where the next height starts. Sets move down one place (next → current → last) and the
 * updates shape the set of the height after next, as CometBFT's state transition does.
 */
export function nextTip(
  config: ConsensusConfig,
  tip: Tip,
  block: Block,
  commit: Commit,
  appHash: Uint8Array,
  validatorUpdates: readonly ValidatorUpdate[],
): Tip {
  assert(block.header.height === tip.height, 'next tip from a block of another height')
  const committedEvidence = new Map<string, number>()
  for (const [key, h] of tip.committedEvidence)
    if (h + config.maxEvidenceAgeHeights >= tip.height) committedEvidence.set(key, h)
  for (const e of block.evidence) committedEvidence.set(evidenceKey(e), e.voteA.height)
  return {
    height: tip.height + 1,
    validators: tip.nextValidators,
    nextValidators: tip.nextValidators.applyUpdates(validatorUpdates).incrementProposerPriority(1),
    lastValidators: tip.validators,
    lastBlockHash: hashBlock(block),
    lastBlockTimeMs: block.header.timeMs,
    lastBeacon: block.header.beacon,
    appHash,
    lastCommit: commit,
    committedEvidence,
  }
}

// ---- restart -------------------------------------------------------------------------------

/** After WAL replay: re-issue what the node owes. Signing again is safe: the signer returns the same signature for the same vote. */
function resume(ctx: Ctx): void {
  const s = ctx.state
  switch (s.step) {
    case 'newHeight':
      schedule(ctx, 'commit', 0)
      return
    case 'commit':
      if (s.decision !== null) ctx.effects.push({ type: 'commitBlock', ...s.decision })
      return
    case 'propose':
      if (s.awaitingContent)
        ctx.effects.push({
          type: 'requestProposalContent',
          height: s.tip.height,
          round: s.round,
          maxBytes: s.config.maxBlockBytes,
          previousBeacon: s.tip.lastBeacon,
        })
      if (s.pendingOwnProposal !== null) ctx.effects.push({ type: 'signProposal', ...s.pendingOwnProposal })
      schedule(ctx, 'propose', s.round)
      return
    case 'prevote':
    case 'precommit':
      if (s.pendingOwnVote !== null) ctx.effects.push({ type: 'signVote', vote: s.pendingOwnVote })
      if (s.step === 'prevote' && s.prevoteTimeoutRounds.has(s.round)) schedule(ctx, 'prevote', s.round)
      if (s.precommitTimeoutRounds.has(s.round)) schedule(ctx, 'precommit', s.round)
      return
    default:
      unreachable(s.step, 'step')
  }
}

// ---- the upon rules ------------------------------------------------------------------------

/** Every rule that fires changes the step, a once-only flag or the round, so a few firings settle an input. */
export const MAX_RULE_FIRINGS_PER_INPUT = 64

function runRules(ctx: Ctx): void {
  for (let i = 0; i < MAX_RULE_FIRINGS_PER_INPUT; i++) if (!fireOne(ctx)) return
  assert(false, 'consensus rules did not settle')
}

function fireOne(ctx: Ctx): boolean {
  const s = ctx.state
  if (s.step === 'newHeight') return false
  if (ruleCommit(ctx)) return true
  if (s.step === 'commit') return false
  if (ruleRoundSkip(ctx)) return true
  const r = s.round
  const prop = s.proposals.get(r)
  const prevotes = s.prevotes.get(r)
  const precommits = s.precommits.get(r)
  // Lines 22-27 and 28-33: prevote on the round's proposal.
  if (s.step === 'propose' && prop !== undefined) {
    const { proposal, block } = prop
    const key = toHex(proposal.blockHash)
    if (proposal.polRound === -1) {
      const ok = isTimely(prop) && isValid(ctx, block) && (s.lockedRound === -1 || sameBlock(s.lockedBlock, key))
      enterPrevote(ctx, s.tip.height, r, ok ? proposal.blockHash : null)
      return true
    }
    const pol = s.prevotes.get(proposal.polRound)
    if (proposal.polRound < r && pol !== undefined && twoThirdsMajority(pol, vals(s)) === key) {
      const ok = isValid(ctx, block) && (s.lockedRound <= proposal.polRound || sameBlock(s.lockedBlock, key))
      enterPrevote(ctx, s.tip.height, r, ok ? proposal.blockHash : null)
      return true
    }
  }
  // Lines 34-35: +2/3 prevotes of any kind: start the prevote timeout, once.
  if (
    s.step === 'prevote' &&
    prevotes !== undefined &&
    !s.prevoteTimeoutRounds.has(r) &&
    hasTwoThirdsAny(prevotes, vals(s))
  ) {
    s.prevoteTimeoutRounds = withItem(s.prevoteTimeoutRounds, r)
    schedule(ctx, 'prevote', r)
    return true
  }
  // Lines 36-43: a polka for the proposal: lock (if still prevoting) and remember it as valid, once.
  if (
    prop !== undefined &&
    prevotes !== undefined &&
    stepIndex(s.step) >= stepIndex('prevote') &&
    !s.polkaRounds.has(r)
  ) {
    const key = toHex(prop.proposal.blockHash)
    if (twoThirdsMajority(prevotes, vals(s)) === key && isValid(ctx, prop.block)) {
      s.polkaRounds = withItem(s.polkaRounds, r)
      if (s.step === 'prevote') {
        s.lockedBlock = prop.block
        s.lockedRound = r
        enterPrecommit(ctx, s.tip.height, r, prop.proposal.blockHash)
      }
      s.validBlock = prop.block
      s.validRound = r
      return true
    }
  }
  // Lines 44-46: a polka for nil.
  if (s.step === 'prevote' && prevotes !== undefined && twoThirdsMajority(prevotes, vals(s)) === 'nil') {
    enterPrecommit(ctx, s.tip.height, r, null)
    return true
  }
  // Lines 47-48: +2/3 precommits of any kind: start the precommit timeout, once.
  if (precommits !== undefined && !s.precommitTimeoutRounds.has(r) && hasTwoThirdsAny(precommits, vals(s))) {
    s.precommitTimeoutRounds = withItem(s.precommitTimeoutRounds, r)
    schedule(ctx, 'precommit', r)
    return true
  }
  return false
}

/** Lines 49-54: +2/3 precommits for a block in any round, and we hold that block: decide. */
function ruleCommit(ctx: Ctx): boolean {
  const s = ctx.state
  if (s.decision !== null) return false
  for (const [, set] of s.precommits) {
    const key = twoThirdsMajority(set, vals(s))
    if (key === undefined || key === 'nil') continue
    const block = s.blocks.get(key)
    if (block === undefined || !isValid(ctx, block)) continue
    decide(ctx, block, commitFromVotes(set, hashBlock(block)))
    return true
  }
  return false
}

/** Lines 55-56: messages from more than 1/3 of the power in a later round: jump to it. */
function ruleRoundSkip(ctx: Ctx): boolean {
  const s = ctx.state
  const rounds = new Set<number>()
  for (const r of s.prevotes.keys()) if (r > s.round) rounds.add(r)
  for (const r of s.precommits.keys()) if (r > s.round) rounds.add(r)
  for (const r of [...rounds].sort((a, b) => b - a)) {
    const seen = new Set<number>()
    let power = 0
    for (const set of [s.prevotes.get(r), s.precommits.get(r)]) {
      if (set === undefined) continue
      set.votes.forEach((v, i) => {
        if (v !== undefined && !seen.has(i)) {
          seen.add(i)
          power += vals(s).at(i)?.power ?? 0
        }
      })
    }
    if (vals(s).hasOneThird(power)) {
      startRound(ctx, r)
      return true
    }
  }
  return false
}

/**
 * Proposer-based timestamps' timeliness, for a fresh proposal in the live round only: its
 * block time is not further ahead of this node's clock (at arrival) than the drift bound.
 * Re-proposals (a polka already vouches for them) and decided blocks are checked by the
 * deterministic rule in validateBlock alone, as in CometBFT's PBTS.
 */
function isTimely(entry: ProposalEntry): boolean {
  return entry.receivedMs === undefined || entry.block.header.timeMs <= entry.receivedMs + MAX_BLOCK_TIME_DRIFT_MS
}

function sameBlock(block: Block | null, key: string): boolean {
  return block !== null && toHex(hashBlock(block)) === key
}

function withItem(set: ReadonlySet<number>, item: number): ReadonlySet<number> {
  const next = new Set(set)
  next.add(item)
  return next
}

/** How many of the latest rounds' own votes `gossipMessages` re-sends. */
export const GOSSIP_ROUNDS = 32

/**
 * The round of this height whose proposal the node lacks and needs, if any: first a round
 * whose +2/3 precommits name a block it has not seen (it cannot decide without it), else the
 * current round while its proposal has not arrived. What a node asks its peers for when it
 * makes no progress (`status.proposalRound`).
 */
export function missingProposalRound(state: ConsensusState): number | undefined {
  if (state.decision !== null || state.step === 'newHeight') return undefined
  for (const [r, set] of [...state.precommits].sort(([a], [b]) => a - b)) {
    const key = twoThirdsMajority(set, state.tip.validators)
    if (key !== undefined && key !== 'nil' && !state.blocks.has(key)) return r
  }
  return state.proposals.has(state.round) ? undefined : state.round
}

/**
 * Messages this node re-sends so that peers that missed them (drops, partitions) catch up:
 * the proposals it holds for the current and valid rounds, and its own votes of this height.
 * Old rounds matter: a re-proposal with polRound vr is accepted only by a peer that holds
 * +2/3 prevotes of round vr, so every node keeps re-sending its own prevotes of past rounds.
 */
export function gossipMessages(state: ConsensusState): { proposals: ProposalEntry[]; votes: Vote[] } {
  const proposals: ProposalEntry[] = []
  for (const r of new Set([state.round, state.validRound])) {
    const p = state.proposals.get(r)
    if (p !== undefined) proposals.push(p)
  }
  const votes: Vote[] = []
  const me = state.myIndex
  if (me >= 0) {
    for (const sets of [state.prevotes, state.precommits])
      for (const [r, set] of sets) {
        if (r < state.round - GOSSIP_ROUNDS) continue
        const v = set.votes[me]
        if (v !== undefined) votes.push(v)
      }
  }
  // Relay the polka behind our valid block: peers need it to accept its re-proposal (line 28).
  const pol = state.validRound >= 0 ? state.prevotes.get(state.validRound) : undefined
  if (pol !== undefined) {
    const key = state.validBlock === null ? '' : toHex(hashBlock(state.validBlock))
    for (let i = 0; i < pol.votes.length; i++) {
      const v = i === me ? undefined : voteFor(pol, i, key)
      if (v !== undefined) votes.push(v)
    }
  }
  return { proposals, votes }
}
