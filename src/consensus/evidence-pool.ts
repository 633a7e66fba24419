/**
 * Verified evidence of equivocation waiting to go into a block. Each equivocation (validator,
 * height, round, vote type) is held once; once committed it is remembered (while a block could
 * still carry it) and never offered again. Anyone can check an item with `verifyEvidence`: it
 * is two signed votes.
 *
 * Only evidence a block could still carry takes a slot: from a height this node has reached
 * and no older than the evidence age, verified against the height's validators. Each
 * validator's evidence has a bound of its own, so a Byzantine validator signing equivocations
 * by the thousand fills its own slots, not the pool: evidence against anyone else still fits.
 */

import { toHex } from '../codec/bytes.ts'
import { MAX_CONSENSUS_ROUND, MAX_PENDING_EVIDENCE, MAX_PENDING_EVIDENCE_PER_VALIDATOR } from '../runtime/limits.ts'
import { InvalidConsensusDataError } from './errors.ts'
import { evidenceKey, verifyEvidence } from './signing.ts'
import type { DuplicateVoteEvidence } from './types.ts'
import type { ValidatorSet } from './validator-set.ts'

interface Pending {
  readonly evidence: DuplicateVoteEvidence
  /** The equivocating validator's address (hex): whose bound this item counts against. */
  readonly offender: string
}

export class EvidencePool {
  readonly #chainId: string
  #validators: ValidatorSet
  /** The height being decided: evidence from later heights cannot be checked yet. */
  #height = 1
  #maxAgeHeights = 0
  readonly #pending = new Map<string, Pending>()
  readonly #perOffender = new Map<string, number>()
  /** Committed evidence keys with their heights, pruned once past the age window. */
  readonly #committed = new Map<string, number>()
  readonly #maxPending: number
  readonly #maxPerValidator: number

  constructor(
    chainId: string,
    validators: ValidatorSet,
    maxPending = MAX_PENDING_EVIDENCE,
    maxPerValidator = MAX_PENDING_EVIDENCE_PER_VALIDATOR,
  ) {
    this.#chainId = chainId
    this.#validators = validators
    this.#maxPending = maxPending
    this.#maxPerValidator = maxPerValidator
  }

  /**
   * A new height starts: from now on evidence is checked against its validators (evidence names
   * validators by index, and blocks check it against the height's set), and what is older than
   * `maxAgeHeights` (the consensus config's evidence age) is dropped, pending or committed.
   * Evidence pending from before a set change stays; a proposer drops what no longer verifies.
   */
  setHeight(height: number, validators: ValidatorSet, maxAgeHeights: number): void {
    this.#height = height
    this.#validators = validators
    this.#maxAgeHeights = maxAgeHeights
    for (const [key, p] of this.#pending) if (this.#tooOld(p.evidence.voteA.height)) this.#remove(key, p)
    for (const [key, h] of this.#committed) if (this.#tooOld(h)) this.#committed.delete(key)
  }

  /**
   * Add evidence; returns false when it is known, committed, outside the heights a block could
   * carry it at, invalid, or its validator's share or the pool is full.
   */
  add(evidence: DuplicateVoteEvidence): boolean {
    const key = evidenceKey(evidence)
    const { height, round } = evidence.voteA
    if (this.#pending.has(key) || this.#committed.has(key)) return false
    if (height > this.#height || this.#tooOld(height) || round > MAX_CONSENSUS_ROUND) return false
    if (this.#pending.size >= this.#maxPending) return false
    try {
      verifyEvidence(this.#chainId, this.#validators, evidence)
    } catch (error) {
      if (!(error instanceof InvalidConsensusDataError)) throw error
      return false
    }
    // Verified, so the index names a validator of this set.
    const offender = toHex(this.#validators.at(evidence.voteA.validatorIndex)?.address ?? new Uint8Array())
    const held = this.#perOffender.get(offender) ?? 0
    if (held >= this.#maxPerValidator) return false
    this.#pending.set(key, { evidence, offender })
    this.#perOffender.set(offender, held + 1)
    return true
  }

  pending(): DuplicateVoteEvidence[] {
    return [...this.#pending.values()].map((p) => p.evidence)
  }

  markCommitted(evidence: readonly DuplicateVoteEvidence[]): void {
    for (const e of evidence) {
      const key = evidenceKey(e)
      const p = this.#pending.get(key)
      if (p !== undefined) this.#remove(key, p)
      this.#committed.set(key, e.voteA.height)
    }
  }

  #tooOld(height: number): boolean {
    return height + this.#maxAgeHeights < this.#height
  }

  #remove(key: string, p: Pending): void {
    this.#pending.delete(key)
    const held = (this.#perOffender.get(p.offender) ?? 1) - 1
    if (held === 0) this.#perOffender.delete(p.offender)
    else this.#perOffender.set(p.offender, held)
  }
}
