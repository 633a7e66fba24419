/**
 * The votes of one type for one (height, round), tallied by stake (CometBFT types/vote_set.go).
 * The first vote from a validator counts; a second one for a different value is equivocation:
 * it is not counted, and is returned so the caller can make evidence of it. Immutable: adding
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
  /** Votes by validator index. */
  readonly votes: readonly (Vote | undefined)[]
  /** Power per value key ('nil' or the block hash in hex). */
  readonly powerByValue: ReadonlyMap<string, number>
  /** Power of all validators that voted, whatever for. */
  readonly totalPower: number
}

export function emptyVoteSet(type: VoteType, height: number, round: number, size: number): VoteSet {
  return { type, height, round, votes: new Array(size).fill(undefined), powerByValue: new Map(), totalPower: 0 }
}

export type AddVoteResult =
  | { readonly kind: 'added'; readonly set: VoteSet }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'conflict'; readonly existing: Vote }

/** Add a vote whose signature the caller has already verified against `vals`. */
export function addVote(set: VoteSet, vals: ValidatorSet, vote: Vote): AddVoteResult {
  assert(
    vote.type === set.type && vote.height === set.height && vote.round === set.round,
    'vote added to the wrong vote set',
  )
  const val = vals.at(vote.validatorIndex)
  assert(val !== undefined, 'vote from an unknown validator index reached the vote set')
  const existing = set.votes[vote.validatorIndex]
  if (existing !== undefined) {
    return valueKey(existing.blockHash) === valueKey(vote.blockHash)
      ? { kind: 'duplicate' }
      : { kind: 'conflict', existing }
  }
  const votes = set.votes.slice()
  votes[vote.validatorIndex] = vote
  const powerByValue = new Map(set.powerByValue)
  const key = valueKey(vote.blockHash)
  powerByValue.set(key, (powerByValue.get(key) ?? 0) + val.power)
  return { kind: 'added', set: { ...set, votes, powerByValue, totalPower: set.totalPower + val.power } }
}

/** The value (key) with more than 2/3 of the power, if any: 'nil' or a block hash in hex. */
export function twoThirdsMajority(set: VoteSet, vals: ValidatorSet): string | undefined {
  for (const [key, power] of set.powerByValue) if (vals.hasTwoThirds(power)) return key
  return undefined
}

export function hasTwoThirdsAny(set: VoteSet, vals: ValidatorSet): boolean {
  return vals.hasTwoThirds(set.totalPower)
}

export function powerFor(set: VoteSet, key: string): number {
  return set.powerByValue.get(key) ?? 0
}
