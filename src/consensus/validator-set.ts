/**
 * The validator set and stake-weighted proposer rotation, CometBFT's priority algorithm
 * (types/validator_set.go): on every step each validator's priority grows by its power, the
 * one with the highest priority (ties: lowest address) proposes and drops by the total power.
 * Priorities are rescaled to a window of 2 × total power and centred on their average, so
 * they stay bounded. The set is immutable; incrementing and updating return a new one.
 *
 * Membership changes come from the application (`applyUpdates`, CometBFT's
 * `UpdateWithChangeSet`): power 0 removes a validator, a new key joins with a priority of
 * −1.125 × the new total power (so it does not propose at once, and cannot jump the queue by
 * leaving and joining again), a changed power keeps the validator's priority.
 */

import { compareBytes, toHex } from '../codec/bytes.ts'
import { assert } from '../runtime/assert.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import { MAX_CONSENSUS_ROUND } from '../runtime/limits.ts'
import { addressOf } from './keys.ts'

export interface Validator {
  readonly address: Uint8Array
  readonly publicKey: Uint8Array
  readonly power: number
  readonly priority: number
}

export interface GenesisValidator {
  readonly publicKey: Uint8Array
  readonly power: number
}

/** A change of membership from the application: power 0 removes the validator with this key. */
export interface ValidatorUpdate {
  readonly publicKey: Uint8Array
  readonly power: number
}

/** Bound on total power keeps every priority sum far inside the safe-integer range. */
export const MAX_TOTAL_POWER = 2 ** 40
const PRIORITY_WINDOW_FACTOR = 2

export class ValidatorSet {
  readonly validators: readonly Validator[]
  readonly totalPower: number
  readonly #indexByAddress: ReadonlyMap<string, number>
  /** Chosen by the last increment (it has already paid the total power back). */
  readonly #proposerIndex: number
  /**
   * Proposer index of each round of a height that starts with this set (index = round), and
   * the priorities after the last of them: filled one round at a time on demand, so a proposal
   * for round r costs O(validators) amortised instead of O(r × validators) every time.
   */
  readonly #roundProposers: number[]
  #roundPrios: number[] | undefined

  private constructor(validators: readonly Validator[], proposerIndex: number) {
    this.validators = validators
    this.#proposerIndex = proposerIndex
    this.#roundProposers = [proposerIndex]
    this.totalPower = validators.reduce((s, v) => s + v.power, 0)
    this.#indexByAddress = new Map(validators.map((v, i) => [toHex(v.address), i]))
  }

  /**
   * A new set, ordered by power (descending) then address (ascending) as CometBFT does, its
   * priorities initialised and incremented once so that `proposer` names the first proposer.
   */
  static create(genesis: readonly GenesisValidator[]): ValidatorSet {
    if (genesis.length === 0) throw new InvalidArgumentError('validator set must not be empty')
    const vals = genesis.map((g): Validator => {
      if (!Number.isSafeInteger(g.power) || g.power <= 0)
        throw new InvalidArgumentError('validator power must be a positive integer', { power: g.power })
      return { address: addressOf(g.publicKey), publicKey: g.publicKey, power: g.power, priority: 0 }
    })
    return ValidatorSet.fromValidators(vals).incrementProposerPriority(1)
  }

  /** A set with the given validators and priorities as they are (for tests and restarts). */
  static fromValidators(validators: readonly Validator[]): ValidatorSet {
    const sorted = validators.slice().sort((a, b) => b.power - a.power || compareBytes(a.address, b.address))
    const total = sorted.reduce((s, v) => s + v.power, 0)
    if (total > MAX_TOTAL_POWER) throw new InvalidArgumentError('total voting power too large', { total })
    const seen = new Set<string>()
    for (const v of sorted) {
      const id = toHex(v.address)
      if (seen.has(id)) throw new InvalidArgumentError('duplicate validator', { address: id })
      seen.add(id)
    }
    return new ValidatorSet(sorted, highestPriority(sorted))
  }

  /** A set as persisted: validators with their priorities, and who the last increment chose. */
  static restore(validators: readonly Validator[], proposerAddress: Uint8Array): ValidatorSet {
    const set = ValidatorSet.fromValidators(validators)
    const index = set.indexOf(proposerAddress)
    if (index < 0) throw new InvalidArgumentError('restored proposer is not in the validator set')
    return new ValidatorSet(set.validators, index)
  }

  get size(): number {
    return this.validators.length
  }

  /**
   * The proposer: the validator the last increment chose (CometBFT's `vals.Proposer`); for a
   * set built from priorities alone, the highest priority, ties to the lowest address.
   */
  get proposer(): Validator {
    return this.validators[this.#proposerIndex] as Validator
  }

  indexOf(address: Uint8Array): number {
    return this.#indexByAddress.get(toHex(address)) ?? -1
  }

  at(index: number): Validator | undefined {
    return this.validators[index]
  }

  /** Strictly more than 2/3 of the total power. */
  hasTwoThirds(power: number): boolean {
    return power * 3 > this.totalPower * 2
  }

  /** Strictly more than 1/3 of the total power: at least one honest validator among them. */
  hasOneThird(power: number): boolean {
    return power * 3 > this.totalPower
  }

  incrementProposerPriority(times: number): ValidatorSet {
    assert(Number.isSafeInteger(times) && times > 0, 'incrementProposerPriority needs a positive count')
    const prios = this.#centredPriorities()
    let best = 0
    for (let t = 0; t < times; t++) best = this.#incrementOnce(prios)
    return new ValidatorSet(
      this.validators.map((v, i) => ({ ...v, priority: prios[i] as number })),
      best,
    )
  }

  /**
   * The proposer of round `round` of a height that starts with this set: the same validator
   * as `forRound(round).proposer`, memoised round by round. Throws InvalidArgumentError for a
   * round outside [0, MAX_CONSENSUS_ROUND]: callers refuse such messages before asking.
   */
  proposerForRound(round: number): Validator {
    if (!Number.isSafeInteger(round) || round < 0 || round > MAX_CONSENSUS_ROUND)
      throw new InvalidArgumentError('round out of range', { round, max: MAX_CONSENSUS_ROUND })
    const known = this.#roundProposers
    if (round >= known.length) {
      const prios = this.#roundPrios ?? this.#centredPriorities()
      while (known.length <= round) known.push(this.#incrementOnce(prios))
      this.#roundPrios = prios
    }
    return this.validators[known[round] as number] as Validator
  }

  /** Priorities rescaled and centred, as every increment starts (CometBFT's IncrementProposerPriority). */
  #centredPriorities(): number[] {
    return shiftByAverage(
      rescale(
        this.validators.map((v) => v.priority),
        PRIORITY_WINDOW_FACTOR * this.totalPower,
      ),
    )
  }

  /** One step of the rotation on `prios` (in place): everyone gains their power, the chosen one pays the total. */
  #incrementOnce(prios: number[]): number {
    let best = 0
    for (let i = 0; i < prios.length; i++) prios[i] = (prios[i] as number) + (this.validators[i] as Validator).power
    for (let i = 1; i < prios.length; i++) {
      const p = prios[i] as number
      const bp = prios[best] as number
      if (
        p > bp ||
        (p === bp &&
          compareBytes((this.validators[i] as Validator).address, (this.validators[best] as Validator).address) < 0)
      )
        best = i
    }
    prios[best] = (prios[best] as number) - this.totalPower
    return best
  }

  /**
   * The set after the application's `updates` (in any order, each key at most once): removals,
   * power changes and newcomers. Throws InvalidArgumentError naming the bad update: a negative
   * or fractional power, a key named twice, removing a key that is not a member, or a change
   * that would leave the set empty. The proposer is recomputed by the next increment.
   */
  applyUpdates(updates: readonly ValidatorUpdate[]): ValidatorSet {
    if (updates.length === 0) return this
    const byKey = new Map(this.validators.map((v) => [toHex(v.publicKey), v]))
    const named = new Set<string>()
    const joining: Validator[] = []
    for (const u of updates) {
      const key = toHex(u.publicKey)
      if (u.publicKey.byteLength !== 32)
        throw new InvalidArgumentError('validator update key must be 32 bytes', { key, bytes: u.publicKey.byteLength })
      if (!Number.isSafeInteger(u.power) || u.power < 0)
        throw new InvalidArgumentError('validator update power must be a non-negative integer', { key, power: u.power })
      if (named.has(key)) throw new InvalidArgumentError('validator update names a key twice', { key })
      named.add(key)
      const existing = byKey.get(key)
      if (u.power === 0) {
        if (existing === undefined) throw new InvalidArgumentError('validator update removes a non-member', { key })
        byKey.delete(key)
      } else if (existing !== undefined) {
        byKey.set(key, { ...existing, power: u.power })
      } else {
        joining.push({ address: addressOf(u.publicKey), publicKey: u.publicKey, power: u.power, priority: 0 })
      }
    }
    const staying = [...byKey.values()]
    if (staying.length + joining.length === 0) throw new InvalidArgumentError('validator updates would empty the set')
    const total = [...staying, ...joining].reduce((s, v) => s + v.power, 0)
    if (total > MAX_TOTAL_POWER) throw new InvalidArgumentError('total voting power too large', { total })
    // CometBFT: a newcomer starts at -(total + total/8), far behind everyone already queued.
    const newcomerPriority = -(total + Math.floor(total / 8))
    return ValidatorSet.fromValidators([...staying, ...joining.map((v) => ({ ...v, priority: newcomerPriority }))])
  }

  /** The set whose `proposer` proposes round `round` of a height that starts with this set. */
  forRound(round: number): ValidatorSet {
    return round === 0 ? this : this.incrementProposerPriority(round)
  }
}

function highestPriority(vals: readonly Validator[]): number {
  let best = 0
  for (let i = 1; i < vals.length; i++) {
    const v = vals[i] as Validator
    const b = vals[best] as Validator
    if (v.priority > b.priority || (v.priority === b.priority && compareBytes(v.address, b.address) < 0)) best = i
  }
  return best
}

function rescale(prios: number[], diffMax: number): number[] {
  if (diffMax <= 0) return prios
  const diff = Math.max(...prios) - Math.min(...prios)
  if (diff <= diffMax) return prios
  const ratio = Math.ceil(diff / diffMax)
  // Go's int64 division truncates toward zero.
  return prios.map((p) => Math.trunc(p / ratio))
}

function shiftByAverage(prios: number[]): number[] {
  const sum = prios.reduce((s, p) => s + p, 0)
  // big.Int.Div is Euclidean division (floor for a positive divisor).
  const avg = Math.floor(sum / prios.length)
  return prios.map((p) => p - avg)
}
