/**
 * The votes of one type for one (height, round), tallied by stake (CometBFT types/vote_set.go).
 *
 * A second vote from a validator for a different value is equivocation: it is returned so the
 * caller can make evidence of it. It also counts for its value when the caller says that
 * value matters (nil, or a block this node holds), as in the paper, where a quorum is 2f+1
 * senders of a message for that value. Counting it is safe (two quorums for different values
 * would need more than 1/3 of the power to equivocate) and needed for liveness: a node must be
 * able to see a polka that others saw even if it first received an equivocator's twin. Twins
 * for values that do not matter are not stored, so a flood of random twins costs nothing.
 * CometBFT gets the same effect from peers' +2/3 claims (SetPeerMaj23). Immutable: adding
 * returns a new set.
 */
import { assert } from '../runtime/assert.ts'
import { valueKey } from './signing.ts'
import type { Vote, VoteType } from './types.ts'
import type { ValidatorSet } from './validator-set.ts'

export interface VoteSet {
  readonly type: VoteType
  readonly height: number
  readonly round: number
  /** First vote by validator index. */
  readonly votes: readonly (Vote | undefined)[]
  /** Further votes for other values that matter, keyed `${validatorIndex}/${valueKey}`. */
  readonly twins: ReadonlyMap<string, Vote>
  /** Power per value key ('nil' or the block hash in hex). */
  readonly powerByValue: ReadonlyMap<string, number>
  /** Power of all validators that voted, whatever for. */
  readonly totalPower: number
}

export function emptyVoteSet(type: VoteType, height: number, round: number, size: number): VoteSet {
  return {
    type,
    height,
    round,
    votes: new Array(size).fill(undefined),
    twins: new Map(),
    powerByValue: new Map(),
    totalPower: 0,
  }
}

export type AddVoteResult =
  | { readonly kind: 'added'; readonly set: VoteSet }
  | { readonly kind: 'duplicate' }
  /** `set` counts the twin when its value matters (otherwise it is the set unchanged). */
  | { readonly kind: 'conflict'; readonly existing: Vote; readonly set: VoteSet }

/**
 * Add a vote whose signature the caller has already verified against `vals`. `matters` says
 * whether a twin for this value should be counted (see above); first votes always count.
 */
export function addVote(set: VoteSet, vals: ValidatorSet, vote: Vote, matters: boolean): AddVoteResult {
  assert(
    vote.type === set.type && vote.height === set.height && vote.round === set.round,
    'vote added to the wrong vote set',
  )
  const val = vals.at(vote.validatorIndex)
  assert(val !== undefined, 'vote from an unknown validator index reached the vote set')
  const key = valueKey(vote.blockHash)
  const existing = set.votes[vote.validatorIndex]
  if (existing !== undefined) {
    if (valueKey(existing.blockHash) === key) return { kind: 'duplicate' }
    const twinKey = `${vote.validatorIndex}/${key}`
    if (set.twins.has(twinKey)) return { kind: 'duplicate' }
    if (!matters) return { kind: 'conflict', existing, set }
    const twins = new Map(set.twins)
    twins.set(twinKey, vote)
    const powerByValue = new Map(set.powerByValue)
    powerByValue.set(key, (powerByValue.get(key) ?? 0) + val.power)
    return { kind: 'conflict', existing, set: { ...set, twins, powerByValue } }
  }
  const votes = set.votes.slice()
  votes[vote.validatorIndex] = vote
  const powerByValue = new Map(set.powerByValue)
  powerByValue.set(key, (powerByValue.get(key) ?? 0) + val.power)
  return { kind: 'added', set: { ...set, votes, powerByValue, totalPower: set.totalPower + val.power } }
}

/** The vote of validator `index` for the value `key` in this set, if it cast one. */
export function voteFor(set: VoteSet, index: number, key: string): Vote | undefined {
  const first = set.votes[index]
  if (first !== undefined && valueKey(first.blockHash) === key) return first
  return set.twins.get(`${index}/${key}`)
}

/** The value (key) with more than 2/3 of the power, if any: 'nil' or a block hash in hex. */
export function twoThirdsMajority(set: VoteSet, vals: ValidatorSet): string | undefined {
  for (const [key, power] of set.powerByValue) if (vals.hasTwoThirds(power)) return key
  return undefined
}

export function hasTwoThirdsAny(set: VoteSet, vals: ValidatorSet): boolean {
  return vals.hasTwoThirds(set.totalPower)
}
