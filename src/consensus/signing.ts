/**
 * What validators sign, and the checks anyone can run on votes, proposals, commits and
 * evidence. Sign bytes are domain-separated and carry the chain id, so a signature on one
 * chain or for one kind of message is never valid for another.
 */

import { bytesEqual, toHex } from '../codec/bytes.ts'
import { MAX_CONSENSUS_ROUND } from '../runtime/limits.ts'
import { encode } from './codec.ts'
import { InvalidConsensusDataError } from './errors.ts'
import { verifySignature } from './keys.ts'
import type { Commit, DuplicateVoteEvidence, Proposal, UnsignedProposal, UnsignedVote, Vote } from './types.ts'
import type { ValidatorSet } from './validator-set.ts'
import { voteTypeCode } from './wire.ts'

export function voteSignBytes(chainId: string, v: UnsignedVote): Uint8Array {
  return encode(['r3mes/vote/1', chainId, voteTypeCode(v.type), v.height, v.round, v.blockHash])
}

export function proposalSignBytes(chainId: string, p: UnsignedProposal): Uint8Array {
  return encode(['r3mes/proposal/1', chainId, p.height, p.round, p.polRound, p.blockHash])
}

/**
 * Votes whose signature was found valid, per vote object, with the chain id and key it was
 * checked under. A node checks each vote it receives twice (admission, then the core), and a
 * vote decoded once for many receivers is checked by each: a vote object is never changed, so
 * the verdict holds for as long as the object lives, without re-encoding its sign bytes.
 */
const verifiedVotes = new WeakMap<Vote, { readonly chainId: string; readonly publicKey: Uint8Array }>()

/** Proposals whose signature was found valid (or made by this node's privval), as `verifiedVotes`. */
const verifiedProposals = new WeakMap<Proposal, { readonly chainId: string; readonly publicKey: Uint8Array }>()

function knownValid(
  known: { readonly chainId: string; readonly publicKey: Uint8Array } | undefined,
  chainId: string,
  publicKey: Uint8Array,
): boolean {
  return (
    known !== undefined &&
    known.chainId === chainId &&
    (known.publicKey === publicKey || bytesEqual(known.publicKey, publicKey))
  )
}

export function verifyVote(chainId: string, vals: ValidatorSet, v: Vote): boolean {
  const val = vals.at(v.validatorIndex)
  if (val === undefined) return false
  if (knownValid(verifiedVotes.get(v), chainId, val.publicKey)) return true
  const valid = verifySignature(val.publicKey, voteSignBytes(chainId, v), v.signature)
  if (valid) verifiedVotes.set(v, { chainId, publicKey: val.publicKey })
  return valid
}

/**
 * A proposal is valid only when signed by the proposer of its round (`valsAtRoundZero` = the
 * height's set). A round beyond MAX_CONSENSUS_ROUND is refused before any work on it.
 */
export function verifyProposal(chainId: string, valsAtRoundZero: ValidatorSet, p: Proposal): boolean {
  if (!Number.isSafeInteger(p.round) || p.round < 0 || p.round > MAX_CONSENSUS_ROUND) return false
  if (p.polRound < -1 || p.polRound >= p.round) return false
  const proposer = valsAtRoundZero.proposerForRound(p.round)
  if (knownValid(verifiedProposals.get(p), chainId, proposer.publicKey)) return true
  const valid = verifySignature(proposer.publicKey, proposalSignBytes(chainId, p), p.signature)
  if (valid) verifiedProposals.set(p, { chainId, publicKey: proposer.publicKey })
  return valid
}

/**
 * A vote or proposal this node's privval has just signed with `publicKey` over its sign bytes
 * under `chainId`: its signature is valid by construction, so the node's own core takes it
 * without verifying what it signed a moment ago (two of the seven signatures a validator
 * checked per height).
 */
export function rememberOwnSigned(chainId: string, publicKey: Uint8Array, signed: Vote | Proposal): void {
  if ('type' in signed) verifiedVotes.set(signed, { chainId, publicKey })
  else verifiedProposals.set(signed, { chainId, publicKey })
}

/** A key naming the value a vote is for: the block hash in hex, or 'nil'. */
export function valueKey(blockHash: Uint8Array | null): string {
  return blockHash === null ? 'nil' : toHex(blockHash)
}

/**
 * Throws unless `commit` holds valid precommits from more than 2/3 of `vals` for `blockHash` at
 * `height`. `known` is a commit this node already holds for the same block and round (the one
 * it decided with): a signature found there, the same bytes from the same validator over the
 * same sign bytes, was checked when the node took it (or made by its own privval) and is not
 * verified again. A proposer's last commit mostly repeats the receiver's own, its own precommit
 * included.
 */
export function verifyCommit(
  chainId: string,
  vals: ValidatorSet,
  height: number,
  blockHash: Uint8Array,
  commit: Commit,
  known: Commit | null = null,
): void {
  if (commit.height !== height) throw new InvalidConsensusDataError('commit for another height', { height })
  if (!bytesEqual(commit.blockHash, blockHash))
    throw new InvalidConsensusDataError('commit for another block', { height })
  const knownSignatures = signaturesOf(known, height, commit.round, blockHash)
  const seen = new Set<number>()
  let power = 0
  for (const s of commit.signatures) {
    const val = vals.at(s.validatorIndex)
    if (val === undefined || seen.has(s.validatorIndex))
      throw new InvalidConsensusDataError('commit names an unknown or repeated validator', { height })
    seen.add(s.validatorIndex)
    const same = knownSignatures?.get(s.validatorIndex)
    if (same !== undefined && bytesEqual(same, s.signature)) {
      power += val.power
      continue
    }
    const vote: Vote = {
      type: 'precommit',
      height,
      round: commit.round,
      blockHash,
      validatorIndex: s.validatorIndex,
      signature: s.signature,
    }
    if (!verifyVote(chainId, vals, vote))
      throw new InvalidConsensusDataError('commit has a bad signature', { height, validatorIndex: s.validatorIndex })
    power += val.power
  }
  if (!vals.hasTwoThirds(power))
    throw new InvalidConsensusDataError('commit lacks more than 2/3 of voting power', { height, power })
}

/** `known`'s signatures by validator index when it commits `blockHash` at (`height`, `round`); else undefined. */
function signaturesOf(
  known: Commit | null,
  height: number,
  round: number,
  blockHash: Uint8Array,
): Map<number, Uint8Array> | undefined {
  if (known === null || known.height !== height || known.round !== round || !bytesEqual(known.blockHash, blockHash))
    return undefined
  return new Map(known.signatures.map((s) => [s.validatorIndex, s.signature]))
}

/** Canonical order of the two votes (by value key) so one equivocation has one encoding. */
export function makeEvidence(a: Vote, b: Vote): DuplicateVoteEvidence {
  return valueKey(a.blockHash) < valueKey(b.blockHash) ? { voteA: a, voteB: b } : { voteA: b, voteB: a }
}

/** A stable identity for one equivocation (validator, height, round, type): deduplicates evidence. */
export function evidenceKey(e: DuplicateVoteEvidence): string {
  const v = e.voteA
  return `${v.height}/${v.round}/${v.type}/${v.validatorIndex}`
}

/** Throws unless `e` proves that one validator signed two different values for one (type, height, round). */
export function verifyEvidence(chainId: string, vals: ValidatorSet, e: DuplicateVoteEvidence): void {
  const { voteA: a, voteB: b } = e
  if (a.type !== b.type || a.height !== b.height || a.round !== b.round || a.validatorIndex !== b.validatorIndex)
    throw new InvalidConsensusDataError('evidence votes are not for the same slot')
  if (valueKey(a.blockHash) >= valueKey(b.blockHash))
    throw new InvalidConsensusDataError('evidence votes are equal or not in canonical order')
  if (!verifyVote(chainId, vals, a) || !verifyVote(chainId, vals, b))
    throw new InvalidConsensusDataError('evidence has a bad signature')
}
