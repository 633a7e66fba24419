/**
 * Which peer inputs the core could use, decided before they are written to the WAL: a peer
 * must not be able to fill the disk or the replay with inputs the core would ignore. Pure:
 * reads the core's state, changes nothing.
 *
 * Admitted: votes and proposals for the height being decided or the next one (the core
 * buffers those), at a round no higher than MAX_CONSENSUS_ROUND nor further ahead than the
 * core looks, signed by a validator of that height (the proposer of that round, for a
 * proposal), not already held; a proposal's block within the block size bound; a decided
 * block for the height being decided, with a valid commit, while none is decided yet.
 */

import { bytesEqual } from '../codec/bytes.ts'
import { MAX_CONSENSUS_ROUND, MAX_NEXT_HEIGHT_INPUTS } from '../runtime/limits.ts'
import { blockSizeBytes, hashBlock } from './block.ts'
import type { ConsensusInput, ConsensusState } from './core-types.ts'
import { InvalidConsensusDataError } from './errors.ts'
import { valueKey, verifyCommit, verifyProposal, verifyVote } from './signing.ts'
import type { Proposal, Vote } from './types.ts'
import type { ValidatorSet } from './validator-set.ts'
import { voteFor } from './vote-set.ts'

/** Why a peer input is not admitted; 'admit' when the core could use it. */
export type Admission = 'admit' | 'stale' | 'future' | 'duplicate' | 'invalid'

type PeerInput = Extract<ConsensusInput, { type: 'vote' | 'proposal' | 'decided' }>

export function admitPeerInput(state: ConsensusState, input: PeerInput): Admission {
  switch (input.type) {
    case 'vote':
      return admitVote(state, input.vote)
    case 'proposal':
      return admitProposal(state, input)
    case 'decided':
      return admitDecided(state, input)
  }
}

/** The validators of `height` (the one being decided or the next), or the verdict that it is neither. */
function validatorsAt(state: ConsensusState, height: number): ValidatorSet | 'stale' | 'future' {
  if (height === state.tip.height) return state.tip.validators
  if (height === state.tip.height + 1) return state.tip.nextValidators
  return height < state.tip.height ? 'stale' : 'future'
}

/** Rounds the core takes at `height`: up to its look-ahead from the current round, never past MAX_CONSENSUS_ROUND. */
function roundInWindow(state: ConsensusState, height: number, round: number): boolean {
  const current = height === state.tip.height ? state.round : 0
  return (
    Number.isSafeInteger(round) &&
    round >= 0 &&
    round <= MAX_CONSENSUS_ROUND &&
    round <= current + state.config.maxRoundsAhead
  )
}

function nextHeightFull(state: ConsensusState, height: number): boolean {
  return height === state.tip.height + 1 && state.nextHeightInputs.length >= MAX_NEXT_HEIGHT_INPUTS
}

function admitVote(state: ConsensusState, vote: Vote): Admission {
  const vals = validatorsAt(state, vote.height)
  if (typeof vals === 'string') return vals
  if (!roundInWindow(state, vote.height, vote.round)) return 'future'
  if (vals.at(vote.validatorIndex) === undefined) return 'invalid'
  if (nextHeightFull(state, vote.height)) return 'future'
  if (vote.height === state.tip.height) {
    const set = (vote.type === 'prevote' ? state.prevotes : state.precommits).get(vote.round)
    if (set !== undefined && voteFor(set, vote.validatorIndex, valueKey(vote.blockHash)) !== undefined)
      return 'duplicate'
  }
  return verifyVote(state.config.chainId, vals, vote) ? 'admit' : 'invalid'
}

function admitProposal(
  state: ConsensusState,
  input: { proposal: Proposal; block: Parameters<typeof hashBlock>[0] },
): Admission {
  const { proposal, block } = input
  const vals = validatorsAt(state, proposal.height)
  if (typeof vals === 'string') return vals
  if (!roundInWindow(state, proposal.height, proposal.round)) return 'future'
  if (nextHeightFull(state, proposal.height)) return 'future'
  // The core keeps the first proposal of a round and ignores any other.
  if (proposal.height === state.tip.height && state.proposals.has(proposal.round)) return 'duplicate'
  if (block.header.height !== proposal.height || blockSizeBytes(block) > state.config.maxBlockBytes) return 'invalid'
  if (!verifyProposal(state.config.chainId, vals, proposal)) return 'invalid'
  return bytesEqual(hashBlock(block), proposal.blockHash) ? 'admit' : 'invalid'
}

function admitDecided(state: ConsensusState, input: Extract<ConsensusInput, { type: 'decided' }>): Admission {
  const height = input.block.header.height
  if (height < state.tip.height) return 'stale'
  if (height > state.tip.height) return 'future'
  if (state.decision !== null) return 'duplicate'
  try {
    verifyCommit(state.config.chainId, state.tip.validators, height, hashBlock(input.block), input.commit)
  } catch (error) {
    if (error instanceof InvalidConsensusDataError) return 'invalid'
    throw error
  }
  return 'admit'
}
