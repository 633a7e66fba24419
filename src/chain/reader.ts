/**
 * The typed read side of the chain state: what a role asks of the chain (the open window, its
 * tasks, the claims to check, the draws a verifier is in), answered with the state's own types
 * (bigints stay bigints). The role actors read the chain only through this; the string-path
 * queries of query.ts (the CLI, the node API) are JSON renderings of the same answers.
 *
 * A window, task, claim or challenge that was pruned is refused with `PrunedError`, so "gone"
 * is never mistaken for "never was".
 */
import { R3mesError } from '../runtime/errors.ts'
import type { Params, Role } from './params.ts'
import { isWindowPruned, windowOfClaim, windowOfTask } from './pruning.ts'
import {
  type Account,
  type Aggregation,
  type ChainState,
  type Challenge,
  type Claim,
  isOpenChallenge,
  type Meta,
  type Staker,
  type Subnet,
  type Task,
  type Window,
} from './state.ts'
import {
  aggregationKey,
  currentWindow,
  finalAdapterPointer,
  pendingAggregate,
  submissionId,
  tasksOf,
  windowKey,
} from './windows.ts'

/** The thing asked for existed but has been pruned: the state keeps only windows from `retainedFrom` on. */
export class PrunedError extends R3mesError {
  constructor(what: string, retainedFrom: number, path?: string) {
    super(
      'ERR_PRUNED',
      `${what} was pruned: the state keeps windows from ${retainedFrom} on${path === undefined ? '' : ` (query ${path})`}`,
      { what, retainedFrom, ...(path === undefined ? {} : { path }) },
    )
  }
}

/** An open L2 attempt as a verifier needs it to compute its ticket (verifier-draw.ts). */
export interface VerifierDraw {
  readonly challengeId: string
  readonly claimId: string
  readonly seed: string
  readonly attempt: number
  /** Claims are accepted up to this height, answers after it. */
  readonly claimUntil: number
  readonly deadline: number
  readonly totalStake: bigint
  readonly expectedCount: number
  /** Stakes of the eligible verifiers, fixed when the attempt opened. */
  readonly stakes: Readonly<Record<string, bigint>>
  /** The verifier holding the seat, or null. */
  readonly seat: string | null
  readonly claim: Claim | null
  /** The challenger and its step trace, when it published one (a dispute by bisection). */
  readonly dispute: ChallengeDispute | null
}

/** Who challenged and the CID of the step trace it published. */
export interface ChallengeDispute {
  readonly challenger: string
  readonly trace: string
}

function disputeOf(c: Challenge): ChallengeDispute | null {
  return c.challengerTrace === null ? null : { challenger: c.challenger, trace: c.challengerTrace }
}

/** An L3 panel seat waiting for an arbiter's vote. */
export interface ArbiterDuty {
  readonly challengeId: string
  /** 'availability': the panel only rules on whether the claim's content can be fetched. */
  readonly kind: Challenge['kind']
  readonly claimId: string
  readonly round: number
  readonly deadline: number
  readonly claim: Claim | null
  readonly dispute: ChallengeDispute | null
}

export class ChainReader {
  readonly #state: ChainState

  constructor(state: ChainState) {
    this.#state = state
  }

  get globals(): Meta {
    return this.#state.globals
  }

  get height(): number {
    return this.#state.globals.height
  }

  get chainId(): string {
    return this.#state.globals.chainId
  }

  get params(): Params {
    return this.#state.params
  }

  /** The backbone range CIDs the genesis model names. */
  get backbone(): Meta['model']['backbone'] {
    return this.#state.globals.model.backbone
  }

  /** The newest window, or null before the first opens. */
  currentWindow(): Window | null {
    return currentWindow(this.#state) ?? null
  }

  window(id: number): Window | null {
    this.#retained(`window ${id}`, id)
    return this.#state.windows.get(windowKey(id)) ?? null
  }

  /** Every task of `window`, or only those `miner` is a replica of. */
  tasks(window: number, miner?: string): Task[] {
    this.#retained(`the tasks of window ${window}`, window)
    return tasksOf(this.#state, window).filter((t) => miner === undefined || t.miners.includes(miner))
  }

  task(id: string): Task | null {
    const task = this.#state.tasks.get(id)
    if (task === undefined) this.#retained(`task ${id}`, windowOfTask(id))
    return task ?? null
  }

  /** The miners of a task that have committed (a replica reveals once the others have). */
  commits(taskId: string): string[] {
    const task = this.#state.tasks.get(taskId)
    if (task === undefined) return []
    return task.miners.filter((m) => this.#state.commits.has(submissionId(task.id, m)))
  }

  claims(window: number): Claim[] {
    this.#retained(`the claims of window ${window}`, window)
    return this.#state.claims
      .entries()
      .map(([, c]) => c)
      .filter((c) => c.window === window)
  }

  /**
   * The claims the blocks after `from` wrote, as they are now (deleted ones left out; one may
   * come twice, or unchanged), or undefined when this node cannot tell (chain/write-log.ts):
   * then read the windows' claims.
   */
  claimsWrittenSince(from: number): readonly Claim[] | undefined {
    const ids = this.#state.claimWrites.since(from, this.height)
    if (ids === undefined) return undefined
    const out: Claim[] = []
    for (const id of ids) {
      const claim = this.#state.claims.get(id)
      if (claim !== undefined) out.push(claim)
    }
    return out
  }

  claim(id: string): Claim | null {
    const claim = this.#state.claims.get(id)
    if (claim === undefined) this.#retained(`claim ${id}`, windowOfClaim(id))
    return claim ?? null
  }

  /** An account's balance and next nonce (an address never seen has neither). */
  account(address: string): Account {
    return this.#state.account(address)
  }

  staker(address: string): Staker | null {
    return this.#state.stakers.get(address) ?? null
  }

  stakers(): { address: string; staker: Staker }[] {
    return this.#state.stakers.entries().map(([address, staker]) => ({ address, staker }))
  }

  /** Stakers holding `role` (not jailed), with their stake weight. */
  withRole(role: Role): { address: string; weight: bigint }[] {
    return this.#state.withRole(role)
  }

  /** Subnets in id order. */
  subnets(): Subnet[] {
    return this.#state.subnets
      .entries()
      .map(([, s]) => s)
      .sort((a, b) => a.id - b.id)
  }

  subnet(id: number): Subnet | null {
    return this.#state.subnets.get(String(id)) ?? null
  }

  /** The adapter-state CID a subnet's model pointer names, or null before the first aggregate. */
  adapterPointer(subnet: number): string | null {
    return this.#state.adapters.get(String(subnet)) ?? null
  }

  /**
   * The adapter-state CID of a subnet that no dispute can undo: the pointer once the aggregate
   * that set it is final, else the one that aggregate replaced. What serving and training load.
   */
  finalAdapterPointer(subnet: number): string | null {
    return finalAdapterPointer(this.#state, subnet)
  }

  /** The aggregate of `subnet` still in its challenge period (or disputed), or null when its pointer is final. */
  pendingAggregate(subnet: number): Claim | null {
    return pendingAggregate(this.#state, subnet)
  }

  /** Where the aggregation of (window, subnet) stands, or null before the window closed. */
  aggregation(window: number, subnet: number): Aggregation | null {
    this.#retained(`the aggregation of window ${window}`, window)
    return this.#state.aggregations.get(aggregationKey(window, subnet)) ?? null
  }

  /** The aggregations not finished yet (waiting, due or submitted), in window order. */
  openAggregations(): Aggregation[] {
    return this.#state.aggregations
      .entries()
      .map(([, a]) => a)
      .filter((a) => a.stage === 'waiting' || a.stage === 'due' || a.stage === 'submitted')
  }

  /** Challenges at L2, waiting for an appeal, or at L3. */
  openChallenges(): Challenge[] {
    return this.#state.challenges
      .entries()
      .map(([, c]) => c)
      .filter(isOpenChallenge)
  }

  /** Challenges `challenger` opened whose verifier answered 'owner', still open to its appeal. */
  appealable(challenger: string): Challenge[] {
    return this.#state.challenges
      .entries()
      .map(([, c]) => c)
      .filter((c) => c.stage === 'appealable' && c.challenger === challenger)
  }

  challenge(id: string): Challenge | null {
    return this.#state.challenges.get(id) ?? null
  }

  /** Open L2 attempts `address` is eligible for (every open attempt without an address). */
  verifierDraws(address?: string): VerifierDraw[] {
    const s = this.#state
    return s.challenges
      .entries()
      .map(([, c]) => c)
      .filter((c) => c.stage === 'l2' && (address === undefined || Object.hasOwn(c.eligible, address)))
      .map((c) => ({
        challengeId: c.id,
        claimId: c.claimId,
        seed: c.seed,
        attempt: c.attempt,
        claimUntil: c.claimUntil,
        deadline: c.deadline,
        totalStake: c.eligibleStake,
        expectedCount: s.params.verifierExpectedCount,
        stakes: c.eligible,
        seat: c.verifier,
        claim: s.claims.get(c.claimId) ?? null,
        dispute: disputeOf(c),
      }))
  }

  /** L3 panel seats waiting for `address`'s vote. */
  arbiterDuties(address: string): ArbiterDuty[] {
    const s = this.#state
    return s.challenges
      .entries()
      .map(([, c]) => c)
      .filter((c) => c.stage === 'l3' && c.panel.includes(address) && c.votes[address] === undefined)
      .map((c) => ({
        challengeId: c.id,
        kind: c.kind,
        claimId: c.claimId,
        round: c.panelRound,
        deadline: c.deadline,
        claim: s.claims.get(c.claimId) ?? null,
        dispute: disputeOf(c),
      }))
  }

  #retained(what: string, window: number): void {
    if (Number.isSafeInteger(window) && isWindowPruned(this.#state, window))
      throw new PrunedError(what, this.#state.globals.prunedWindows)
  }
}
