/**
 * The participants' misbehaviours in a simulated run: who misbehaves, drawn from the seed at
 * the fault file's rates, and what each does in place of the honest move (most are the role
 * machines of src/actors/roles configured with the misbehaviour, as a node configured so).
 *
 * - copiedCid (a share of the miners): the miner machine with its `copiedCid` misbehaviour
 *   (hosted-miners.ts): it does no work, and once another submission of the window is revealed
 *   it commits to that CID and reveals it (`findCopy`; the chain flags it a copy, never pays it);
 * - withholdingMiner (a share of the miners): the miner machine with its `withholdingMiner`
 *   misbehaviour: it reveals the right gradient and publishes none of its content, and nobody
 *   serves a claim of it (content.ts): aggregators list it unavailable, honest verifiers answer
 *   'unavailable', arbiters vote 'unavailable' (the chain slashes it as for a fault);
 * - withholdAndChallenge (extra challengers, see `challengerCount`): challenges every withheld
 *   claim without re-executing, hoping an honest verifier is blamed for the missing content;
 * - griefingChallenger (extra challengers): challenges honest submissions it never checked
 *   (one in `GRIEF_ONE_IN`), losing its bond each time;
 * - lazyVerifier (a share of the verifiers): once seated, answers 'owner' without re-executing;
 * - wrongAggregate (a share of the validators): the aggregator machine with its `wrongAggregate`
 *   misbehaviour (hosted-aggregators.ts), so every aggregate it publishes names a wrong adapter
 *   CID (honest challengers re-derive it and dispute it);
 * - wrongGradient stays the `--cheaters` share (its rate here, when given, replaces it): the
 *   miner machine with its `wrongGradient` misbehaviour.
 * The validators' misbehaviours (equivocation, Byzantine messages, beacon grinding) are in
 * validator-misbehaviours.ts.
 */
import type { KeyPair } from '../chain/keys.ts'
import type { ChainState, Claim } from '../chain/state.ts'
import { cidOf } from '../codec/cid.ts'
import { sha256 } from '../codec/hash.ts'
import type { SeededRandom } from '../runtime/random.ts'
import type { SimMisbehaviour } from './faults.ts'

export type MisbehaviourRates = Partial<Readonly<Record<SimMisbehaviour, number>>>

/** A griefing challenger disputes one honest submission in this many. */
export const GRIEF_ONE_IN = 8
/** The honest challengers the rates of challenger misbehaviours are shares of (0.5: one more challenger). */
export const HONEST_CHALLENGERS = 2

/** Who misbehaves, and how, in one run. */
export interface MisbehaviourCast {
  readonly copiers: ReadonlySet<string>
  readonly withholders: ReadonlySet<string>
  readonly lazyVerifiers: ReadonlySet<string>
  readonly wrongAggregators: ReadonlySet<string>
  readonly griefers: readonly KeyPair[]
  readonly accomplices: readonly KeyPair[]
  /** Validator indices (genesis order) of each validator misbehaviour. */
  readonly equivocators: ReadonlySet<number>
  readonly byzantine: ReadonlySet<number>
  readonly grinders: ReadonlySet<number>
}

export const NO_MISBEHAVIOURS: MisbehaviourCast = {
  copiers: new Set(),
  withholders: new Set(),
  lazyVerifiers: new Set(),
  wrongAggregators: new Set(),
  griefers: [],
  accomplices: [],
  equivocators: new Set(),
  byzantine: new Set(),
  grinders: new Set(),
}

/** How many misbehaving challengers of a kind a rate gives (0 only for a rate of 0). */
export function challengerCount(rate: number | undefined): number {
  return rate === undefined || rate <= 0 ? 0 : Math.max(1, Math.round(rate * HONEST_CHALLENGERS))
}

/**
 * Validators a validator misbehaviour's rate gives: a share of the most Byzantine validators
 * BFT tolerates, ⌊(n − 1) / 3⌋ (1: all of it), the three kinds together never more (they
 * stack on the same validators when the budget is small).
 */
export function byzantineBudget(validators: number): number {
  return Math.floor((validators - 1) / 3)
}

export interface CastInit {
  readonly rates: MisbehaviourRates
  /** Miners free to misbehave (the wrong-gradient cheaters are drawn before). */
  readonly miners: readonly string[]
  readonly verifiers: readonly string[]
  readonly validators: readonly string[]
  /** The key of the `i`-th extra challenger of a kind. */
  readonly challengerKey: (kind: 'griefer' | 'accomplice', i: number) => KeyPair
}

/** Draw who misbehaves how, from `random` (disjoint sets within each role). */
export function castMisbehaviours(init: CastInit, random: SeededRandom): MisbehaviourCast {
  const r = init.rates
  const share = (n: number, rate: number | undefined): number => Math.round(n * (rate ?? 0))
  const miners = random.fork('miners').shuffle(init.miners)
  const nCopiers = share(miners.length, r.copiedCid)
  const copiers = new Set(miners.slice(0, nCopiers))
  const withholders = new Set(miners.slice(nCopiers, nCopiers + share(miners.length, r.withholdingMiner)))
  const lazyVerifiers = new Set(
    random.fork('verifiers').shuffle(init.verifiers).slice(0, share(init.verifiers.length, r.lazyVerifier)),
  )
  const wrongAggregators = new Set(
    random.fork('aggregators').shuffle(init.validators).slice(0, share(init.validators.length, r.wrongAggregate)),
  )
  // Each kind takes its validators from the first `budget` of a seeded order, kind k from
  // offset k on: with a small budget kinds stack on one validator, never past the budget.
  const budget = byzantineBudget(init.validators.length)
  const order = random.fork('validators').shuffle(init.validators.map((_, i) => i))
  const take = (rate: number | undefined, k: number): Set<number> =>
    new Set(Array.from({ length: share(budget, rate) }, (_, j) => order[(k + j) % budget] as number))
  return {
    copiers,
    withholders,
    lazyVerifiers,
    wrongAggregators,
    griefers: Array.from({ length: challengerCount(r.griefingChallenger) }, (_, i) => init.challengerKey('griefer', i)),
    accomplices: Array.from({ length: challengerCount(r.withholdAndChallenge) }, (_, i) =>
      init.challengerKey('accomplice', i),
    ),
    grinders: take(r.seedGrinder, 0),
    equivocators: take(r.equivocatingValidator, 1),
    byzantine: take(r.byzantineValidator, 2),
  }
}

/** Every address that misbehaves in some way (none of them is held to the honest invariants). */
export function misbehavingAddresses(cast: MisbehaviourCast, validators: readonly string[]): Set<string> {
  const byIndex = [...cast.equivocators, ...cast.byzantine, ...cast.grinders].map((i) => validators[i] as string)
  return new Set([
    ...cast.copiers,
    ...cast.withholders,
    ...cast.lazyVerifiers,
    ...cast.wrongAggregators,
    ...cast.griefers.map((k) => k.address),
    ...cast.accomplices.map((k) => k.address),
    ...byIndex,
  ])
}

/** The adapter state an honest aggregate of `claims` (sorted) publishes (the cost model's: a digest of what it averages). */
export function adapterBytesOf(window: number, subnet: number, claims: readonly string[]): Uint8Array {
  return sha256('r3mes/sim/adapter/1\0', String(window), '\0', String(subnet), ...claims)
}

/** The adapter CID an honest aggregate of `claims` (sorted) names: what a re-execution of it gives. */
export function adapterCidOf(window: number, subnet: number, claims: readonly string[]): string {
  return cidOf(adapterBytesOf(window, subnet, claims)).toString()
}

/** A wrong aggregator's adapter state: another state than the honest one. */
export function wrongAdapterBytesOf(aggregator: string, window: number, subnet: number): Uint8Array {
  return sha256('r3mes/sim/wrong-adapter/1\0', aggregator, '\0', String(window), '\0', String(subnet))
}

/** The participants' misbehaving moves, asked by participants.ts where an honest role decides. */
export class MisbehaviourModels {
  readonly cast: MisbehaviourCast
  /** Claim ids of withheld submissions that reached the chain. */
  readonly withheld = new Set<string>()
  /** Claim ids of copies that reached the chain. */
  readonly copies = new Set<string>()
  /** Claim ids of wrong aggregates that reached the chain. */
  readonly wrongAggregates = new Set<string>()

  constructor(cast: MisbehaviourCast) {
    this.cast = cast
  }

  /** A misbehaving miner's reveal reached the chain. */
  revealed(miner: string, claimId: string): void {
    if (this.cast.withholders.has(miner)) this.withheld.add(claimId)
    if (this.cast.copiers.has(miner)) this.copies.add(claimId)
  }

  /** Whether `claimId` is a withheld submission that reached the chain (nobody can fetch its content). */
  isWithheld(claimId: string): boolean {
    return this.withheld.has(claimId)
  }

  /**
   * Aggregates on chain not seen before (each returned once), noting the wrong ones: the
   * honest challengers check every one.
   */
  newAggregates(state: ChainState, seen: Set<string>): Claim[] {
    const out: Claim[] = []
    for (const [, a] of state.aggregations.entries()) {
      if (a.claimId === null || seen.has(a.claimId)) continue
      const claim = state.claims.get(a.claimId)
      if (claim === undefined) continue
      seen.add(a.claimId)
      if (this.cast.wrongAggregators.has(claim.owner)) this.wrongAggregates.add(claim.id)
      out.push(claim)
    }
    return out
  }

  /**
   * The misbehaving challengers that dispute a submission L1 has just settled, which an honest
   * re-execution finds right: every accomplice disputes a withheld one; a griefer disputes one
   * honest submission in `GRIEF_ONE_IN` (by its id, so the choice replays).
   */
  disputersOf(claim: Claim): KeyPair[] {
    if (claim.kind !== 'submission') return []
    if (this.withheld.has(claim.id)) return this.cast.accomplices.filter((k) => k.address !== claim.owner)
    if (this.cast.griefers.length === 0 || this.cast.copiers.has(claim.owner)) return []
    const h = sha256('r3mes/sim/grief/1\0', claim.id)
    if ((h[0] as number) % GRIEF_ONE_IN !== 0) return []
    const who = this.cast.griefers[(h[1] as number) % this.cast.griefers.length] as KeyPair
    return who.address === claim.owner ? [] : [who]
  }
}
