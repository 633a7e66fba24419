/**
 * Verified evidence of equivocation waiting to go into a block. Each equivocation (validator,
 * height, round, vote type) is held once; once committed it is remembered and never offered
 * again. Anyone can check an item with `verifyEvidence`: it is two signed votes.
 */
import { evidenceKey, verifyEvidence } from './signing.ts'
import type { DuplicateVoteEvidence } from './types.ts'
import type { ValidatorSet } from './validator-set.ts'

export class EvidencePool {
  readonly #chainId: string
  #validators: ValidatorSet
  readonly #pending = new Map<string, DuplicateVoteEvidence>()
  readonly #committed = new Set<string>()
  readonly #maxPending: number

  constructor(chainId: string, validators: ValidatorSet, maxPending = 1024) {
    this.#chainId = chainId
    this.#validators = validators
    this.#maxPending = maxPending
  }

  /**
   * The set that evidence is checked against from now on: the current height's (evidence names
   * validators by index, and proposals check it against the height's set). Evidence pending from
   * before a change stays; a proposer drops what no longer verifies.
   */
  setValidators(validators: ValidatorSet): void {
    this.#validators = validators
  }

  /** Add verified evidence; returns false when it is known, committed, invalid or the pool is full. */
  add(evidence: DuplicateVoteEvidence): boolean {
    const key = evidenceKey(evidence)
    if (this.#pending.has(key) || this.#committed.has(key) || this.#pending.size >= this.#maxPending) return false
    try {
      verifyEvidence(this.#chainId, this.#validators, evidence)
    } catch {
      return false
    }
    this.#pending.set(key, evidence)
    return true
  }

  pending(): DuplicateVoteEvidence[] {
    return [...this.#pending.values()]
  }

  markCommitted(evidence: readonly DuplicateVoteEvidence[]): void {
    for (const e of evidence) {
      const key = evidenceKey(e)
      this.#pending.delete(key)
      this.#committed.add(key)
    }
  }
}
