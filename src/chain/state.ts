/**
 * The chain state: typed tables and the token operations every handler goes through.
 *
 * Token conservation is structural: tokens move only by `move`-style helpers here; they are
 * created only by `mint` (inflation: block rewards, miner/verifier/arbiter rewards, bounties)
 * and destroyed only by `slash`. `audit()` recomputes every holding and checks
 *   Σ balances + Σ stakes + Σ unbonding + Σ open bonds + community pool
 *     = supply = genesis supply + minted − slashed.
 */
import { assert } from '../runtime/assert.ts'
import { CLAIM_WRITE_LOG_HEIGHTS } from '../runtime/limits.ts'
import { reject, TxCode } from './errors.ts'
import { isAddress } from './keys.ts'
import type { Params, Role, TrainingParams } from './params.ts'
import { hashTables, Journal, Table } from './store.ts'
import { WriteLog } from './write-log.ts'

export interface Account {
  readonly balance: bigint
  readonly nonce: number
}

export interface Staker {
  /** Hex of the account key: it signs the staker's transactions; its address holds the stake. */
  readonly pubKey: string
  /**
   * Hex of the consensus key: it signs the staker's votes, proposals and beacon proofs while it
   * validates. The account key unless the staker named another (genesis or `register`).
   */
  readonly consensusKey: string
  /** The libp2p peer id of the staker's node (peers look stakers up by it); the account key's unless named. */
  readonly peerId: string
  readonly stake: bigint
  readonly roles: readonly Role[]
  /** The subnet a miner trains (other roles may name one too); null when none. */
  readonly subnet: number | null
  /** Set when the staker equivocated as a validator; it loses the validator role for good. */
  readonly jailed: boolean
  /** Ever held the validator role: equivocation evidence still applies after it leaves (slashing reaches unbonding tokens). */
  readonly wasValidator: boolean
}

export interface Unbonding {
  readonly address: string
  readonly amount: bigint
  readonly releaseHeight: number
}

export interface Subnet {
  readonly id: number
  /** Layers [first, end) of the model this subnet trains. */
  readonly layers: readonly [number, number]
}

export interface Dataset {
  readonly cid: string
  readonly name: string
  readonly shardCount: number
  readonly approvedHeight: number
}

export interface Window {
  readonly id: number
  readonly openHeight: number
  readonly closeHeight: number
  /** Hex of the opening block's beacon (consensus/beacon.ts): the seed of every draw of this window. */
  readonly seed: string
  /** Validator that submits this window's aggregates (drawn from the seed, by stake). */
  readonly aggregator: string | null
  readonly closed: boolean
  /** The training parameters as they stood when the window opened: its tasks and aggregates use these. */
  readonly training: TrainingParams
}

/**
 * Where the aggregation of one (window, subnet) stands (windows.ts): waiting for its
 * submissions to settle and the subnet's pointer to be final, due for the drawn aggregator
 * until `deadline`, submitted (the aggregate claim is in its challenge period), or finished:
 * done (a final aggregate, or nothing accepted to aggregate) or spent (every attempt failed).
 */
export interface Aggregation {
  readonly window: number
  readonly subnet: number
  readonly stage: 'waiting' | 'due' | 'submitted' | 'done' | 'spent'
  /** 0 for the window's own aggregator; each slashed aggregate or missed deadline adds one. */
  readonly attempt: number
  /** The validator drawn for this attempt. */
  readonly aggregator: string | null
  /** Aggregators of earlier attempts: never drawn again for this (window, subnet). */
  readonly tried: readonly string[]
  /** First height at which the drawn aggregator may submit; null while waiting. */
  readonly dueHeight: number | null
  /** Last height at which it may submit; null while waiting. */
  readonly deadline: number | null
  /** The aggregate claim of this attempt, once submitted. */
  readonly claimId: string | null
  /** Height at which it finished (done or spent); null before. */
  readonly finishedHeight: number | null
}

export interface Task {
  readonly id: string
  readonly window: number
  readonly shard: number
  readonly datasetCid: string
  readonly datasetShard: number
  readonly subnet: number
  readonly miners: readonly string[]
}

export interface Commit {
  readonly commitment: string
  readonly height: number
}

export type ClaimStatus = 'revealed' | 'accepted' | 'flagged' | 'challenged' | 'slashed'

/** A submission (a miner's gradient CID for a task) or an aggregate: what the ladder can dispute. */
export interface Claim {
  readonly id: string
  readonly kind: 'submission' | 'aggregate'
  readonly owner: string
  readonly window: number
  readonly subnet: number
  readonly taskId: string | null
  readonly cid: string
  readonly height: number
  readonly status: ClaimStatus
  /**
   * Why a claim was flagged: 'copied' (no credit, ever) or 'mismatch' (L1 disagreement); on a
   * slashed claim, 'unavailable' when an L3 panel found its content withheld.
   */
  readonly flag: 'copied' | 'mismatch' | 'unavailable' | null
  /** Last height at which the claim may be challenged. */
  readonly challengeUntil: number
  readonly metadata: string
  /** For an aggregate: the adapter CID it replaced, restored if the aggregate is proven faulty. */
  readonly previousCid: string | null
  /**
   * For an aggregate: the submissions it took, in the chain's order, as the chain derived them
   * (the transaction names only their digest, claim-list.ts); empty for a submission.
   */
  readonly claims: readonly string[]
}

export interface Credit {
  readonly address: string
  readonly amount: bigint
  readonly payableHeight: number
}

/** An arbiter's vote: the claim re-executes wrong, right, or its content could not be fetched. */
export const VERDICTS = ['fault', 'no_fault', 'unavailable'] as const
export type Verdict = (typeof VERDICTS)[number]

/** A verifier's answer: the claim is right, wrong, or its content could not be fetched (escalates). */
export const L2_VERDICTS = ['owner', 'challenger', 'unavailable'] as const
export type L2Verdict = (typeof L2_VERDICTS)[number]

export interface Challenge {
  readonly id: string
  /**
   * 'fault': a bonded challenge, L2 then L3. 'availability': opened by an aggregate that left
   * the claim out for want of its content; straight at L3, no bond, the arbiters only fetch.
   */
  readonly kind: 'fault' | 'availability'
  readonly claimId: string
  readonly challenger: string
  readonly bond: bigint
  /** CID of the challenger's step trace (null: none; the dispute re-executes the whole stage). */
  readonly challengerTrace: string | null
  readonly openedHeight: number
  /** Hex beacon of the block that opened the challenge: part of every attempt's VRF input. */
  readonly seed: string
  /**
   * 'appealable': the seated verifier answered 'owner'; until `deadline` the challenger may
   * appeal (a second bond) to an L3 panel, else the owner wins.
   */
  readonly stage: 'l2' | 'appealable' | 'l3' | 'resolved' | 'lapsed'
  /** L2 attempt: each is a fresh VRF sortition (verifier-draw.ts). */
  readonly attempt: number
  /** Last height at which selected verifiers may claim the current attempt's seat. */
  readonly claimUntil: number
  /** Stake of every verifier eligible in the current attempt, fixed when it opened: the sortition's weights. */
  readonly eligible: Readonly<Record<string, bigint>>
  readonly eligibleStake: bigint
  /** The verifier holding the current attempt's seat (best claimed ticket); null until one claims. */
  readonly verifier: string | null
  /** Verifiers that held a seat and did not answer: penalized, and not eligible again in this challenge. */
  readonly tried: readonly string[]
  /** End of the current stage: the seated verifier's answer (L2), the appeal window, or the panel round (L3). */
  readonly deadline: number
  /** The seated verifier's VRF output (hex). */
  readonly verifierBeta: string | null
  /** The seated verifier's answer; null until it answers. A panel convicting after 'owner' overturns it. */
  readonly verifierVerdict: L2Verdict | null
  /** The challenger's second bond, escrowed when it appealed the verifier's 'owner' (0: no appeal). */
  readonly appealBond: bigint
  /** Seed of the L3 panel draws (hex): hash of the answering verifier's VRF output and of the block that escalated. */
  readonly panelSeed: string | null
  readonly panel: readonly string[]
  readonly panelRound: number
  readonly votes: Readonly<Record<string, Verdict>>
  readonly penalized: readonly string[]
  readonly priorStatus: ClaimStatus
  /** 'unavailable': the panel found the claim's content withheld (the owner is slashed as for a fault). */
  readonly outcome: 'owner' | 'challenger' | 'unavailable' | 'lapsed' | null
  /** Height at which the challenge was resolved or lapsed; null while open. */
  readonly settledHeight: number | null
}

/** A challenge still holding its bonds: not resolved nor lapsed. */
export function isOpenChallenge(c: Pick<Challenge, 'stage'>): boolean {
  return c.stage === 'l2' || c.stage === 'appealable' || c.stage === 'l3'
}

export type ProposalContent =
  | { readonly kind: 'dataset'; readonly cid: string; readonly name: string; readonly shardCount: number }
  | { readonly kind: 'params'; readonly changes: Readonly<Record<string, string | number>> }

export interface Proposal {
  readonly id: string
  readonly proposer: string
  readonly content: ProposalContent
  readonly submitHeight: number
  readonly votingEnd: number
  readonly votes: Readonly<Record<string, 'yes' | 'no' | 'abstain'>>
  readonly status: 'voting' | 'passed' | 'rejected'
  readonly tally: Readonly<Record<string, string>> | null
}

export interface Meta {
  readonly chainId: string
  readonly height: number
  readonly timeMs: number
  readonly genesisSupply: bigint
  readonly supply: bigint
  readonly minted: bigint
  readonly slashed: bigint
  /** Fees and bond shares with no valid proposer address to go to. */
  readonly communityPool: bigint
  /** Id of the newest window (-1 before the first opens). */
  readonly currentWindow: number
  /** Windows with a smaller id have been pruned, with their tasks, commitments, claims and challenges (pruning.ts). */
  readonly prunedWindows: number
  readonly nextChallenge: number
  readonly nextProposal: number
  readonly nextUnbonding: number
  readonly params: Params
  readonly model: {
    readonly config: string
    readonly backbone: readonly { readonly layers: readonly [number, number]; readonly cid: string }[]
  }
}

export class ChainState {
  readonly journal = new Journal()
  readonly meta = new Table<Meta>('meta', this.journal)
  readonly accounts = new Table<Account>('accounts', this.journal)
  readonly stakers = new Table<Staker>('stakers', this.journal)
  readonly unbonding = new Table<Unbonding>('unbonding', this.journal)
  readonly subnets = new Table<Subnet>('subnets', this.journal)
  readonly datasets = new Table<Dataset>('datasets', this.journal)
  readonly adapters = new Table<string>('adapters', this.journal)
  readonly windows = new Table<Window>('windows', this.journal)
  /** Aggregation of each (window, subnet), key `aggregationKey(window, subnet)` (windows.ts). */
  readonly aggregations = new Table<Aggregation>('aggregations', this.journal)
  readonly tasks = new Table<Task>('tasks', this.journal)
  readonly commits = new Table<Commit>('commits', this.journal)
  readonly claims = new Table<Claim>('claims', this.journal)
  /** First reveal of each CID: who, for which task, at what height (copy detection). */
  readonly cidFirstSeen = new Table<{ readonly owner: string; readonly taskId: string; readonly height: number }>(
    'cidFirstSeen',
    this.journal,
  )
  readonly credits = new Table<Credit>('credits', this.journal)
  readonly challenges = new Table<Challenge>('challenges', this.journal)
  readonly proposals = new Table<Proposal>('proposals', this.journal)
  /** Equivocations already punished, key `${validator}/${height}`: evidence slashes once. */
  readonly evidence = new Table<{ readonly round: number; readonly slashed: bigint }>('evidence', this.journal)
  /**
   * The claims each recent block wrote (not state: see write-log.ts), so a challenger reads a
   * block's changes instead of three windows' claims (`ChainReader.claimsWrittenSince`).
   */
  readonly claimWrites = new WriteLog(CLAIM_WRITE_LOG_HEIGHTS)

  constructor() {
    this.claims.trackWrites()
  }

  allTables(): Table<unknown>[] {
    return [
      this.meta,
      this.accounts,
      this.stakers,
      this.unbonding,
      this.subnets,
      this.datasets,
      this.adapters,
      this.windows,
      this.aggregations,
      this.tasks,
      this.commits,
      this.claims,
      this.cidFirstSeen,
      this.credits,
      this.challenges,
      this.proposals,
      this.evidence,
    ] as Table<unknown>[]
  }

  hash(): Uint8Array {
    return hashTables(this.allTables())
  }

  get globals(): Meta {
    return this.meta.get('meta') as Meta
  }

  get params(): Params {
    return this.globals.params
  }

  setMeta(patch: Partial<Meta>): void {
    this.meta.set('meta', { ...this.globals, ...patch })
  }

  account(address: string): Account {
    return this.accounts.get(address) ?? { balance: 0n, nonce: 0 }
  }

  credit(address: string, amount: bigint): void {
    assert(amount >= 0n, 'credit of a negative amount')
    if (amount === 0n) return
    const a = this.account(address)
    this.accounts.set(address, { ...a, balance: a.balance + amount })
  }

  debit(address: string, amount: bigint): void {
    assert(amount >= 0n, 'debit of a negative amount')
    const a = this.account(address)
    if (a.balance < amount) reject(TxCode.insufficientFunds, `balance ${a.balance} is less than ${amount}`, { address })
    this.accounts.set(address, { ...a, balance: a.balance - amount })
  }

  /** New tokens (inflation). */
  mint(address: string, amount: bigint): void {
    if (amount <= 0n) return
    this.credit(address, amount)
    this.setMeta({ supply: this.globals.supply + amount, minted: this.globals.minted + amount })
  }

  /** Destroy up to `amount` of an address's bonded tokens: stake first, then unbonding entries. Returns what was taken. */
  slash(address: string, amount: bigint): bigint {
    let left = amount
    const s = this.stakers.get(address)
    if (s !== undefined && left > 0n) {
      let take = left
      if (s.stake < take) take = s.stake
      this.stakers.set(address, { ...s, stake: s.stake - take })
      left -= take
    }
    for (const [key, u] of this.unbonding.entries()) {
      if (left === 0n) break
      if (u.address !== address) continue
      let take = left
      if (u.amount < take) take = u.amount
      if (take === u.amount) this.unbonding.delete(key)
      else this.unbonding.set(key, { ...u, amount: u.amount - take })
      left -= take
    }
    const taken = amount - left
    this.setMeta({ supply: this.globals.supply - taken, slashed: this.globals.slashed + taken })
    return taken
  }

  /** Pay to an address if it is one, else to the community pool (fees when the proposer is unknown). */
  payOrPool(address: string | null, amount: bigint): void {
    if (address !== null && isAddress(address)) this.credit(address, amount)
    else this.setMeta({ communityPool: this.globals.communityPool + amount })
  }

  /** Stake plus tokens still unbonding: what a slash can reach. */
  bondedOf(address: string): bigint {
    let total = this.stakeOf(address)
    for (const [, u] of this.unbonding.entries()) if (u.address === address) total += u.amount
    return total
  }

  /** The address of the staker whose consensus key is `consensusKey` (hex), if any. */
  stakerOfConsensusKey(consensusKey: string): string | undefined {
    for (const [address, s] of this.stakers.entries()) if (s.consensusKey === consensusKey) return address
    return undefined
  }

  /** The address of the staker whose node is `peerId`, if any. */
  stakerOfPeerId(peerId: string): string | undefined {
    for (const [address, s] of this.stakers.entries()) if (s.peerId === peerId) return address
    return undefined
  }

  stakeOf(address: string): bigint {
    return this.stakers.get(address)?.stake ?? 0n
  }

  /** Active stakers holding a role, with their stake as weight. */
  withRole(role: Role): { address: string; weight: bigint }[] {
    const out: { address: string; weight: bigint }[] = []
    for (const [address, s] of this.stakers.entries()) {
      if (s.roles.includes(role) && !s.jailed && s.stake > 0n) out.push({ address, weight: s.stake })
    }
    return out
  }

  totalStake(): bigint {
    let t = 0n
    for (const [, s] of this.stakers.entries()) t += s.stake
    return t
  }

  /** Recount every holding; `ok` is false if a token was created or lost outside mint/slash. */
  audit(): { ok: boolean; held: bigint; supply: bigint; expected: bigint } {
    let held = this.globals.communityPool
    for (const [, a] of this.accounts.entries()) held += a.balance
    for (const [, s] of this.stakers.entries()) held += s.stake
    for (const [, u] of this.unbonding.entries()) held += u.amount
    for (const [, c] of this.challenges.entries()) if (isOpenChallenge(c)) held += c.bond + c.appealBond
    const expected = this.globals.genesisSupply + this.globals.minted - this.globals.slashed
    return {
      ok: held === this.globals.supply && this.globals.supply === expected,
      held,
      supply: this.globals.supply,
      expected,
    }
  }
}
