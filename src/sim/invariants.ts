/**
 * What a simulated run must never do, checked as it runs (the first break is what a failing
 * seed reports): two blocks or two app hashes at one height, a block that breaks token
 * conservation, an honest staker losing stake (beyond the duty penalties of late answers), a wrong submission not slashed by the end of
 * the longest game the parameters allow, no commit for too long once the faults have healed;
 * and for the misbehaviours (misbehaviours.ts, validator-misbehaviours.ts): a copy paid, a
 * withheld submission aggregated, an honest verifier or arbiter blamed for withheld content, a
 * griefing challenge upheld, an honest verifier's 'owner' overturned by a panel (it is slashed
 * for it: only a lazy verifier may be), an equivocation left unpunished, a committed beacon
 * that is not its proposer's VRF output or a block dated beyond what any clock allows.
 */
import type { ChainState } from '../chain/state.ts'
import { isSettled } from '../chain/windows.ts'
import { toHex } from '../codec/bytes.ts'
import { beaconFault } from '../consensus/beacon.ts'
import type { CheatRecord } from './participants.ts'

export interface Violation {
  readonly invariant:
    | 'agreement'
    | 'conservation'
    | 'honest-slashed'
    | 'cheat-missed'
    | 'liveness'
    | 'crash'
    | 'copy-paid'
    | 'withheld-aggregated'
    | 'withheld-blamed'
    | 'griefing-upheld'
    | 'honest-verifier-overturned'
    | 'equivocation-unpunished'
    | 'beacon-forged'
    | 'block-time'
  readonly height: number
  readonly atMs: number
  readonly detail: string
}

export interface InvariantInit {
  /** Stakers that follow the protocol (their stake may only grow). */
  readonly honest: ReadonlySet<string>
}

/** Duty penalties an honest verifier, arbiter or validator may pay in all: 1 / this of its first stake (5 %). */
export const DUTY_PENALTY_BOUND_DIVISOR = 20n

/** Heights an equivocation may stay unpunished: evidence is gossiped and goes in the next blocks. */
export const EQUIVOCATION_DEADLINE_HEIGHTS = 20

/** What the misbehaviour invariants watch after each block. */
export interface MisbehaviourWatch {
  /** Claim ids of copies on chain. */
  readonly copies: ReadonlySet<string>
  /** Claim ids of withheld submissions on chain. */
  readonly withheld: ReadonlySet<string>
  readonly griefers: ReadonlySet<string>
  /**
   * Wrong claims on chain (participants.ts `cheats`): a griefer challenges whatever it checks,
   * and one that happens on a wrong claim is right to win.
   */
  readonly cheats: ReadonlyMap<string, unknown>
  /** Equivocating validators' chain addresses → the first height each signed twice (absent: not yet). */
  readonly equivocatedAt: ReadonlyMap<string, number>
}

/** A committed block's header as the beacon and time checks read it. */
export interface CommittedHeader {
  readonly height: number
  readonly timeMs: number
  readonly proposerKey: Uint8Array
  readonly vrfProof: Uint8Array
  readonly beacon: Uint8Array
}

export class Invariants {
  readonly #honest: ReadonlySet<string>
  readonly #blockAt = new Map<number, string>()
  readonly #appHashAfter = new Map<number, string>()
  readonly #stake = new Map<string, bigint>()
  readonly #firstStake = new Map<string, bigint>()
  /** Honest duty holders that paid duty penalties (late answers), within the bound. */
  readonly dutyPenalized = new Set<string>()
  readonly violations: Violation[] = []
  /** Height at which each cheat was slashed. */
  readonly caught = new Map<string, number>()
  readonly honestSlashed = new Set<string>()
  /** Cheats past their deadline unslashed (each reported once). */
  readonly missed = new Set<string>()
  /**
   * Challenges whose panel, on appeal, overturned the verifier's 'owner' (the verifier slashed
   * for it), by challenge id → the verifier: a misbehaving verifier caught.
   */
  readonly overturned = new Map<string, string>()
  /** Equivocators jailed, with the height it was seen. */
  readonly punished = new Map<string, number>()
  readonly #reported = new Set<string>()
  readonly #beacons = new Map<number, Uint8Array>()

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
      const first = this.#firstStake.get(address)
      if (first === undefined) this.#firstStake.set(address, staker.stake)
      if (before !== undefined && staker.stake < before && !this.honestSlashed.has(address)) {
        // A verifier, arbiter or validator that missed a duty's deadline pays the chain's duty
        // penalty (a percent a time): the rule working, not a slash (as the chaos harness
        // judges it, src/testnet/invariants.ts), up to DUTY_PENALTY_BOUND of its first stake.
        const duty = staker.roles.some((r) => r === 'verifier' || r === 'arbiter' || r === 'validator')
        const lost = (first ?? before) - staker.stake
        if (duty && lost * DUTY_PENALTY_BOUND_DIVISOR <= (first ?? before)) this.dutyPenalized.add(address)
        else {
          this.honestSlashed.add(address)
          this.report({
            invariant: 'honest-slashed',
            height,
            atMs,
            detail: `${address} (${staker.roles.join(',')}) went from ${first ?? before} to ${staker.stake}`,
          })
        }
      }
      this.#stake.set(address, staker.stake)
    }
    for (const [, c] of state.challenges.entries()) {
      if (c.outcome !== 'challenger' || c.verifierVerdict !== 'owner' || c.verifier === null) continue
      if (this.overturned.has(c.id)) continue
      this.overturned.set(c.id, c.verifier)
      if (this.#honest.has(c.verifier))
        this.report({
          invariant: 'honest-verifier-overturned',
          height,
          atMs,
          detail: `${c.verifier} answered 'owner' on ${c.claimId} in ${c.id} and the panel found a fault: an honest verifier slashed`,
        })
    }
    const p = state.params
    for (const cheat of cheats.values()) {
      if (this.caught.has(cheat.claimId) || this.missed.has(cheat.claimId)) continue
      const claim = state.claims.get(cheat.claimId)
      // A withheld claim the chain flagged and no challenge reached by its period's end (taken
      // for a copy, its commit after its replica's reveal; or tied with a replica that cheated,
      // who is slashed for it) is final: never credited nor aggregated, so withholding it
      // gained nothing. Only a challenge the owner wins accepts a flagged claim.
      const flaggedForGood = claim?.flag === 'copied' || (claim?.status === 'flagged' && isSettled(claim, height))
      if (claim?.status === 'slashed' || (cheat.kind === 'withholdingMiner' && flaggedForGood)) {
        this.caught.set(cheat.claimId, height)
        continue
      }
      const deadline =
        this.deadlineOf(claim?.challengeUntil ?? cheat.revealedHeight, p) +
        (cheat.kind === 'withholdingMiner' ? this.aggregationSlackOf(p) : 0)
      if (claim === undefined || height > deadline) {
        this.missed.add(cheat.claimId)
        const sidedWithOwner = [...state.challenges.entries()]
          .filter(([, c]) => c.claimId === cheat.claimId && c.outcome === 'owner')
          .map(([, c]) => `${c.id} by ${c.verifier ?? 'no verifier'}`)
        this.report({
          invariant: 'cheat-missed',
          height,
          atMs,
          detail: `wrong submission ${cheat.claimId} is ${claim === undefined ? 'gone from the state' : `${claim.flag ?? claim.status}`}, not slashed by height ${deadline}${sidedWithOwner.length === 0 ? '' : `; the verifier sided with the owner in ${sidedWithOwner.join(', ')}`}`,
        })
      }
    }
  }

  /**
   * The misbehaviour invariants after block `height`: each reported once, by the key of what
   * broke (a claim, a challenge, a validator).
   */
  afterBlockMisbehaviours(state: ChainState, height: number, atMs: number, watch: MisbehaviourWatch): void {
    const once = (key: string, v: Omit<Violation, 'height' | 'atMs'>): void => {
      if (this.#reported.has(key)) return
      this.#reported.add(key)
      this.report({ ...v, height, atMs })
    }
    for (const id of watch.copies) {
      const c = state.claims.get(id)
      if ((c?.status === 'accepted' && c.flag !== 'copied') || state.credits.has(id))
        once(`copy/${id}`, { invariant: 'copy-paid', detail: `copy ${id} is ${c?.status ?? 'gone'} and credited` })
    }
    for (const [, a] of state.aggregations.entries()) {
      if (a.claimId === null) continue
      const agg = state.claims.get(a.claimId)
      for (const id of agg?.claims ?? [])
        if (watch.withheld.has(id))
          once(`withheld/${id}`, {
            invariant: 'withheld-aggregated',
            detail: `aggregate ${a.claimId} names ${id}, whose content nobody could fetch`,
          })
    }
    for (const [, c] of state.challenges.entries()) {
      if (
        watch.griefers.has(c.challenger) &&
        !watch.cheats.has(c.claimId) &&
        (c.outcome === 'challenger' || c.outcome === 'unavailable')
      )
        once(`grief/${c.id}`, {
          invariant: 'griefing-upheld',
          detail: `${c.id} by a griefing challenger of ${c.claimId}, which is right, ended '${c.outcome}'`,
        })
      if (!watch.withheld.has(c.claimId)) continue
      for (const who of [...c.tried, ...c.penalized])
        if (this.#honest.has(who))
          once(`blame/${c.id}/${who}`, {
            invariant: 'withheld-blamed',
            detail: `${who} was penalized in ${c.id} for the withheld content of ${c.claimId}`,
          })
    }
    for (const [address, first] of watch.equivocatedAt) {
      if (this.punished.has(address)) continue
      if (state.stakers.get(address)?.jailed === true) this.punished.set(address, height)
      else if (height > first + EQUIVOCATION_DEADLINE_HEIGHTS)
        once(`equivocation/${address}`, {
          invariant: 'equivocation-unpunished',
          detail: `${address} signed two prevotes at height ${first} and is not jailed by height ${height}`,
        })
    }
  }

  /**
   * A height committed with this header (checked once per height): its beacon is its
   * proposer's VRF output over the previous beacon (`genesisBeacon` before height 1), and its
   * time no later than the true time `trueNowMs` plus `aheadMs` (the most any validator's clock
   * runs ahead plus the drift the consensus allows).
   */
  committedHeader(h: CommittedHeader, genesisBeacon: Uint8Array, trueNowMs: number, aheadMs: number): void {
    if (this.#beacons.has(h.height)) return
    this.#beacons.set(h.height, h.beacon)
    this.#beacons.delete(h.height - 2)
    const previous = h.height === 1 ? genesisBeacon : this.#beacons.get(h.height - 1)
    const fault = previous === undefined ? undefined : beaconFault(h.proposerKey, previous, h.vrfProof, h.beacon)
    if (fault !== undefined)
      this.report({
        invariant: 'beacon-forged',
        height: h.height,
        atMs: trueNowMs,
        detail: `proposer ${toHex(h.proposerKey).slice(0, 16)}: ${fault}`,
      })
    if (h.timeMs > trueNowMs + aheadMs)
      this.report({
        invariant: 'block-time',
        height: h.height,
        atMs: trueNowMs,
        detail: `block dated ${h.timeMs - trueNowMs} ms ahead of the true time (at most ${aheadMs} ms allowed)`,
      })
  }

  /** Blocks a withheld claim may wait after its challenge period: every aggregation attempt, then its availability panel. */
  aggregationSlackOf(p: {
    maxAggregationAttempts: number
    aggregationDeadlineBlocks: number
    maxPanelRounds: number
    l3DeadlineBlocks: number
  }): number {
    return p.maxAggregationAttempts * p.aggregationDeadlineBlocks + p.maxPanelRounds * p.l3DeadlineBlocks
  }

  /** The last height by which a claim challengeable until `challengeUntil` is settled, with every attempt, the appeal window and every panel round used. */
  deadlineOf(
    challengeUntil: number,
    p: {
      maxVerifierAttempts: number
      l2DeadlineBlocks: number
      appealBlocks: number
      maxPanelRounds: number
      l3DeadlineBlocks: number
    },
  ): number {
    return (
      challengeUntil +
      p.maxVerifierAttempts * p.l2DeadlineBlocks +
      p.appealBlocks +
      p.maxPanelRounds * p.l3DeadlineBlocks
    )
  }
}
