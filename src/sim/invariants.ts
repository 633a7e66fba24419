/**
 * What a simulated run must never do, checked as it runs (the first break is what a failing
 * seed reports): two blocks or two app hashes at one height, a block that breaks token
 * conservation, an honest staker losing stake, a wrong submission not slashed by the end of
 * the longest game the parameters allow, no commit for too long once the faults have healed.
 */
import type { ChainState } from '../chain/state.ts'
import type { CheatRecord } from './participants.ts'

export interface Violation {
  readonly invariant: 'agreement' | 'conservation' | 'honest-slashed' | 'cheat-missed' | 'liveness' | 'crash'
  readonly height: number
  readonly atMs: number
  readonly detail: string
}

export interface InvariantInit {
  /** Stakers that follow the protocol (their stake may only grow). */
  readonly honest: ReadonlySet<string>
}

export class Invariants {
  readonly #honest: ReadonlySet<string>
  readonly #blockAt = new Map<number, string>()
  readonly #appHashAfter = new Map<number, string>()
  readonly #stake = new Map<string, bigint>()
  readonly violations: Violation[] = []
  /** Height at which each cheat was slashed. */
  readonly caught = new Map<string, number>()
  readonly honestSlashed = new Set<string>()
  /** Cheats past their deadline unslashed (each reported once). */
  readonly missed = new Set<string>()

  constructor(init: InvariantInit) {
    this.#honest = init.honest
  }

  get first(): Violation | undefined {
    return this.violations[0]
  }

  report(v: Violation): void {
    this.violations.push(v)
  }

  /** Validator `who` committed block `hash` at `height`. */
  committed(who: number, height: number, hash: string, atMs: number): void {
    const prior = this.#blockAt.get(height)
    if (prior === undefined) this.#blockAt.set(height, hash)
    else if (prior !== hash)
      this.report({
        invariant: 'agreement',
        height,
        atMs,
        detail: `validator ${who} committed ${hash.slice(0, 16)}, another ${prior.slice(0, 16)}`,
      })
  }

  /** Validator `who` executed `height` and got `appHash`. */
  executed(who: number, height: number, appHash: string, atMs: number): void {
    const prior = this.#appHashAfter.get(height)
    if (prior === undefined) this.#appHashAfter.set(height, appHash)
    else if (prior !== appHash)
      this.report({
        invariant: 'agreement',
        height,
        atMs,
        detail: `validator ${who} has app hash ${appHash.slice(0, 16)} after block ${height}, another ${prior.slice(0, 16)}`,
      })
  }

  blockHash(height: number): string | undefined {
    return this.#blockAt.get(height)
  }

  appHashAfter(height: number): string | undefined {
    return this.#appHashAfter.get(height)
  }

  /** The chain state after block `height` (checked once per height). */
  afterBlock(state: ChainState, height: number, atMs: number, cheats: ReadonlyMap<string, CheatRecord>): void {
    const audit = state.audit()
    if (!audit.ok)
      this.report({
        invariant: 'conservation',
        height,
        atMs,
        detail: `tokens held ${audit.held}, supply ${audit.supply}, expected ${audit.expected}`,
      })
    for (const [address, staker] of state.stakers.entries()) {
      if (!this.#honest.has(address)) continue
      const before = this.#stake.get(address)
      if (before !== undefined && staker.stake < before && !this.honestSlashed.has(address)) {
        this.honestSlashed.add(address)
        this.report({
          invariant: 'honest-slashed',
          height,
          atMs,
          detail: `${address} (${staker.roles.join(',')}) went from ${before} to ${staker.stake}`,
        })
      }
      this.#stake.set(address, staker.stake)
    }
    const p = state.params
    for (const cheat of cheats.values()) {
      if (this.caught.has(cheat.claimId) || this.missed.has(cheat.claimId)) continue
      const claim = state.claims.get(cheat.claimId)
      if (claim?.status === 'slashed') {
        this.caught.set(cheat.claimId, height)
        continue
      }
      const deadline = this.deadlineOf(claim?.challengeUntil ?? cheat.revealedHeight, p)
      if (claim === undefined || height > deadline) {
        this.missed.add(cheat.claimId)
        this.report({
          invariant: 'cheat-missed',
          height,
          atMs,
          detail: `wrong submission ${cheat.claimId} is ${claim === undefined ? 'gone from the state' : `${claim.flag ?? claim.status}`}, not slashed by height ${deadline}`,
        })
      }
    }
  }

  /** The last height by which a claim challengeable until `challengeUntil` is settled, with every attempt and panel round used. */
  deadlineOf(
    challengeUntil: number,
    p: { maxVerifierAttempts: number; l2DeadlineBlocks: number; maxPanelRounds: number; l3DeadlineBlocks: number },
  ): number {
    return challengeUntil + p.maxVerifierAttempts * p.l2DeadlineBlocks + p.maxPanelRounds * p.l3DeadlineBlocks
  }
}
