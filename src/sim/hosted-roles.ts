/**
 * The verification roles of a simulated network, run by the machines the nodes run: one
 * `verifierMachine` (src/actors/roles/verifier.ts) per verifier, one `arbiterMachine`
 * (arbiter.ts) per arbiter and one `challengerMachine` (challenger.ts) per challenger, each
 * handed every block as a node hands its roles one. Only what lies outside a node's machines
 * is the simulation's:
 * - the chain: a `ChainReader` over the state of the validator that executed the block first;
 * - transactions: each account's outbox (participants.ts, sent as `TxSender` sends them);
 * - content: `SimContent` (content.ts), served on the simulated clock or withheld;
 * - re-execution (`ClaimReexecution`): the claim's content, and the challenger's step trace of a
 *   dispute, fetched as `reexecute` fetches them (availability.ts: unavailable when nobody
 *   serves them in time), then the cost model's time and CID (cost-model.ts: one step for a
 *   bisected dispute, the whole task without a trace), compared with the claim's as the real
 *   one compares bytes;
 * - a challenger's check (`ClaimCheck`): the claim's content fetched as `challengerCheck`
 *   fetches it (within the deadline the machine gives, `CHECK_FETCH_BLOCKS`), then the cost
 *   model's time for a spot check of `spotSteps` inner steps (an
 *   aggregate: one step) and its CID; a wrong claim comes with the cost model's step trace,
 *   which the machine stores and names in its challenge, as it does a real one.
 * Misbehaving verifiers and challengers (lazy, griefing, withholding accomplices) are the
 * machines configured with their misbehaviour, as a node configured so.
 * The machines wait on promises that the simulated clock settles; the simulation hands the
 * event loop a turn after each settlement (turns.ts), so they act at the simulated instant
 * their work settled.
 */
import { type Actor, createActor } from 'xstate'
import type { ArbiterComponents } from '../actors/roles/arbiter.ts'
import { arbiterMachine } from '../actors/roles/arbiter.ts'
import { fetchAvailable, fetchClaimContent } from '../actors/roles/availability.ts'
import { type ChallengerComponents, challengerMachine } from '../actors/roles/challenger.ts'
import type { ClaimReexecution, Recheck } from '../actors/roles/reexecute.ts'
import type { ChallengerRecheck, ClaimCheck } from '../actors/roles/spot-check.ts'
import type { VerifierComponents } from '../actors/roles/verifier.ts'
import { verifierMachine } from '../actors/roles/verifier.ts'
import type { TxResultInfo } from '../actors/tx-sender.ts'
import type { KeyPair } from '../chain/keys.ts'
import { type ArbiterDuty, ChainReader, type VerifierDraw } from '../chain/reader.ts'
import type { Aggregation, ChainState, Challenge, Claim, Task, Window } from '../chain/state.ts'
import type { Msg } from '../chain/tx.ts'
import type { Clock } from '../runtime/clock.ts'
import type { Logger } from '../runtime/logger.ts'
import type { Misbehaviour } from '../topology/roles.ts'
import type { SimContent } from './content.ts'
import { type CostModel, claimCheckMs, reexecutedCid, reexecutionMs, stepTraceBytes } from './cost-model.ts'
import type { Turns } from './turns.ts'

export interface HostedRolesInit {
  readonly verifiers: readonly KeyPair[]
  readonly arbiters: readonly KeyPair[]
  /** Verifiers that answer 'owner' without re-executing. */
  readonly lazyVerifiers: ReadonlySet<string>
  readonly challengers: readonly HostedChallenger[]
  readonly costModel: CostModel
  /** Inner steps a challenger's spot check re-executes (spot-check.ts). */
  readonly spotSteps: number
}

/** A challenger node: its account, its misbehaviours (none for an honest one) and the share of submissions it checks. */
export interface HostedChallenger {
  readonly key: KeyPair
  readonly misbehaviours: ReadonlySet<Misbehaviour>
  readonly challengeFraction: number
}

export interface HostedRolesComponents {
  readonly clock: Clock
  readonly turns: Turns
  readonly content: SimContent
  /** Send `msg` from `address`'s account; `settled` gets the chain's answer (as `TxSender.send` resolves). */
  readonly send: (address: string, msg: Msg, settled: (result: TxResultInfo) => void) => void
  readonly logger: Logger
}

/** What the hosted machines did, for the report. */
export interface HostedRoleStats {
  /** Answers and votes the machines sent (`NodeMetrics.verdicts`, all machines together). */
  verdicts: number
  /** Answers a lazy verifier sent without re-executing. */
  lazyAnswers: number
  /** Re-executions the machines ran (a lazy verifier runs none). */
  reexecutions: number
  /** Claims the challengers checked (spot checks, aggregates recomputed; an accomplice's probes not counted). */
  checks: number
  /** Challenges the challengers sent (`NodeMetrics.challengesMade`). */
  challengesMade: number
}

export class HostedRoles {
  readonly stats: HostedRoleStats = { verdicts: 0, lazyAnswers: 0, reexecutions: 0, checks: 0, challengesMade: 0 }
  readonly #actors: Actor<typeof verifierMachine | typeof arbiterMachine | typeof challengerMachine>[] = []
  readonly #chain: SimChainView

  constructor(init: HostedRolesInit, c: HostedRolesComponents) {
    this.#chain = new SimChainView()
    const chain = this.#chain
    const stats = this.stats
    const metrics = stats
    const reexecution: ClaimReexecution = {
      check: async (claim, { signal, fetchDeadlineMs, dispute }) => {
        stats.reexecutions++
        const options = {
          ...(signal === undefined ? {} : { signal }),
          ...(fetchDeadlineMs === undefined ? {} : { deadlineMs: fetchDeadlineMs }),
        }
        await fetchClaimContent({ chain, content: c.content }, claim, options)
        // A dispute bisects the owner's trace against the challenger's: fetched from the challenger.
        if (dispute) await fetchAvailable(c.content, dispute.trace, [dispute.challenger], options)
        const ms = reexecutionMs(init.costModel, claim, Boolean(dispute))
        return c.turns.after(ms, () => recheckOf(chain.state, claim), signal)
      },
    }
    const tx = (key: KeyPair, lazy: boolean) =>
      outboxSender(c, key.address, (msg) => {
        if (lazy && msg.type === 'verifierResponse') stats.lazyAnswers++
      })
    for (const key of init.verifiers) {
      const lazy = init.lazyVerifiers.has(key.address)
      const components: VerifierComponents = {
        chain,
        content: c.content,
        reexecution,
        clock: c.clock,
        tx: tx(key, lazy),
        key,
        metrics,
        logger: c.logger,
        misbehaviours: new Set<Misbehaviour>(lazy ? ['lazyVerifier'] : []),
      }
      this.#actors.push(createActor(verifierMachine, { id: `verifier:${key.address}`, input: components }).start())
    }
    for (const key of init.arbiters) {
      const components: ArbiterComponents = {
        chain,
        content: c.content,
        reexecution,
        tx: tx(key, false),
        key,
        metrics,
        logger: c.logger,
      }
      this.#actors.push(createActor(arbiterMachine, { id: `arbiter:${key.address}`, input: components }).start())
    }
    for (const challenger of init.challengers) {
      const { key } = challenger
      // The cost model's check, as `challengerCheck` runs it: the content first, then the steps.
      const claimCheck: ClaimCheck = {
        check: async (claim, options = {}) => {
          const { signal, fetchDeadlineMs } = options
          stats.checks++
          await fetchClaimContent({ chain, content: c.content }, claim, {
            ...(signal === undefined ? {} : { signal }),
            ...(fetchDeadlineMs === undefined ? {} : { deadlineMs: fetchDeadlineMs }),
          })
          const ms = claimCheckMs(init.costModel, claim, init.spotSteps)
          return c.turns.after(ms, () => checkOf(chain.state, claim, key.address), signal)
        },
      }
      const components: ChallengerComponents = {
        chain,
        content: c.content,
        claimCheck,
        tx: tx(key, false),
        key,
        metrics: stats,
        logger: c.logger,
        clock: c.clock,
        misbehaviours: challenger.misbehaviours,
        challengeFraction: challenger.challengeFraction,
      }
      this.#actors.push(createActor(challengerMachine, { id: `challenger:${key.address}`, input: components }).start())
    }
  }

  /** The chain view the machines read (shown each block; other hosted machines may read it too). */
  get chain(): SimChainView {
    return this.#chain
  }

  /** Block `height` was executed and `state` is the chain after it: every machine gets the block. */
  onBlock(state: ChainState, height: number): void {
    this.#chain.show(state, height)
    for (const actor of this.#actors) actor.send({ type: 'block', height })
  }

  stop(): void {
    for (const actor of this.#actors) actor.stop()
  }
}

/**
 * A hosted machine's `TxSender.send` for `address`: through the account's outbox, resolving
 * with the chain's answer on a turn the simulation takes (`onSend` sees each message first).
 */
export function outboxSender(
  c: Pick<HostedRolesComponents, 'send' | 'turns'>,
  address: string,
  onSend?: (msg: Msg) => void,
): { send(msg: Msg): Promise<TxResultInfo> } {
  return {
    send: (msg) =>
      new Promise<TxResultInfo>((resolve) => {
        onSend?.(msg)
        c.send(address, msg, (result) => {
          c.turns.settled()
          resolve(result)
        })
      }),
  }
}

/** The cost model's answer to re-executing `claim`: the CID it gives, against the claim's. */
function recheckOf(state: ChainState, claim: Claim): Recheck {
  const cid = reexecutedCid(state, claim)
  return cid === claim.cid
    ? { honest: true, reason: 'the re-execution gives the claimed CID' }
    : { honest: false, reason: `the re-execution gives ${cid}, not the claimed ${claim.cid}` }
}

/**
 * The cost model's check of `claim` by `challenger`: a wrong claim comes with the step trace
 * the challenger publishes (a submission's; an aggregate is recomputed whole and names none).
 */
function checkOf(state: ChainState, claim: Claim, challenger: string): ChallengerRecheck {
  const recheck = recheckOf(state, claim)
  if (recheck.honest || claim.kind !== 'submission') return recheck
  return { ...recheck, steps: [stepTraceBytes(claim.id, challenger)] }
}

/**
 * The chain as the hosted machines read it: a `ChainReader` over the newest state shown. A
 * block's open L2 attempts and L3 seats are listed once for all machines (the reader walks
 * every challenge for each call, and a hundred verifiers each asking for theirs would walk
 * them a hundred times a block); each machine gets the reader's own answer for its address.
 * The hosted aggregators (hosted-aggregators.ts) and miners (hosted-miners.ts) read the same view.
 */
export class SimChainView
  implements
    Pick<
      ChainReader,
      | 'verifierDraws'
      | 'arbiterDuties'
      | 'tasks'
      | 'params'
      | 'currentWindow'
      | 'claims'
      | 'claimsWrittenSince'
      | 'claim'
      | 'task'
      | 'openAggregations'
      | 'adapterPointer'
      | 'appealable'
      | 'height'
      | 'window'
      | 'commits'
      | 'finalAdapterPointer'
    >
{
  #state: ChainState | undefined
  #reader: ChainReader | undefined
  #height = -1
  #draws: VerifierDraw[] | undefined
  #panelists: Set<string> | undefined
  // Lists every machine of a kind asks for in a block, made once per block.
  #window: Window | null | undefined
  readonly #claims = new Map<number, Claim[]>()
  /** The claims written since a height, by that height: every challenger asks for the same. */
  readonly #written = new Map<number, readonly Claim[] | undefined>()
  readonly #tasks = new Map<number, Task[]>()
  /** Each window's tasks by miner (a hundred miners each asking for theirs would filter them a hundred times). */
  readonly #tasksByMiner = new Map<number, Map<string, Task[]>>()
  /** Claims and tasks read by id: two hundred challengers read the same few thousand each block. */
  readonly #claimById = new Map<string, Claim | null>()
  readonly #taskById = new Map<string, Task | null>()
  #aggregations: Aggregation[] | undefined
  #appealable: Challenge[] | undefined

  get state(): ChainState {
    if (this.#state === undefined) throw new Error('no block shown yet')
    return this.#state
  }

  show(state: ChainState, height: number): void {
    if (state === this.#state && height === this.#height) return
    this.#state = state
    this.#height = height
    this.#reader = new ChainReader(state)
    this.#draws = undefined
    this.#panelists = undefined
    this.#window = undefined
    this.#claims.clear()
    this.#written.clear()
    this.#tasks.clear()
    this.#tasksByMiner.clear()
    this.#claimById.clear()
    this.#taskById.clear()
    this.#aggregations = undefined
    this.#appealable = undefined
  }

  get #chain(): ChainReader {
    if (this.#reader === undefined) throw new Error('no block shown yet')
    return this.#reader
  }

  get params(): ChainReader['params'] {
    return this.#chain.params
  }

  get height(): number {
    return this.#chain.height
  }

  window(id: number): Window | null {
    return this.#chain.window(id)
  }

  commits(taskId: string): string[] {
    return this.#chain.commits(taskId)
  }

  finalAdapterPointer(subnet: number): string | null {
    return this.#chain.finalAdapterPointer(subnet)
  }

  tasks(window: number, miner?: string): Task[] {
    let all = this.#tasks.get(window)
    if (all === undefined) {
      all = this.#chain.tasks(window)
      this.#tasks.set(window, all)
    }
    if (miner === undefined) return all
    let byMiner = this.#tasksByMiner.get(window)
    if (byMiner === undefined) {
      byMiner = new Map()
      for (const t of all)
        for (const m of new Set(t.miners)) {
          const mine = byMiner.get(m)
          if (mine === undefined) byMiner.set(m, [t])
          else mine.push(t)
        }
      this.#tasksByMiner.set(window, byMiner)
    }
    return byMiner.get(miner) ?? []
  }

  currentWindow(): Window | null {
    if (this.#window === undefined) this.#window = this.#chain.currentWindow()
    return this.#window
  }

  claims(window: number): Claim[] {
    let claims = this.#claims.get(window)
    if (claims === undefined) {
      claims = this.#chain.claims(window)
      this.#claims.set(window, claims)
    }
    return claims
  }

  claimsWrittenSince(from: number): readonly Claim[] | undefined {
    if (!this.#written.has(from)) this.#written.set(from, this.#chain.claimsWrittenSince(from))
    return this.#written.get(from)
  }

  claim(id: string): Claim | null {
    let claim = this.#claimById.get(id)
    if (claim === undefined) {
      claim = this.#chain.claim(id)
      this.#claimById.set(id, claim)
    }
    return claim
  }

  task(id: string): Task | null {
    let task = this.#taskById.get(id)
    if (task === undefined) {
      task = this.#chain.task(id)
      this.#taskById.set(id, task)
    }
    return task
  }

  openAggregations(): Aggregation[] {
    this.#aggregations ??= this.#chain.openAggregations()
    return this.#aggregations
  }

  adapterPointer(subnet: number): string | null {
    return this.#chain.adapterPointer(subnet)
  }

  appealable(challenger: string): Challenge[] {
    // The reader's filter, for every challenger at once.
    this.#appealable ??= this.state.challenges
      .entries()
      .map(([, c]) => c)
      .filter((c) => c.stage === 'appealable')
    return this.#appealable.filter((c) => c.challenger === challenger)
  }

  /** The reader's draws for `address` (the attempts whose eligible stakes name it), listed once a block. */
  verifierDraws(address?: string): VerifierDraw[] {
    this.#draws ??= this.#chain.verifierDraws()
    return address === undefined ? this.#draws : this.#draws.filter((d) => Object.hasOwn(d.stakes, address))
  }

  /** The reader's seats for `address`, asked only of those on a panel still waiting for their vote. */
  arbiterDuties(address: string): ArbiterDuty[] {
    if (this.#panelists === undefined) {
      this.#panelists = new Set()
      for (const [, c] of this.state.challenges.entries())
        if (c.stage === 'l3') for (const a of c.panel) if (c.votes[a] === undefined) this.#panelists.add(a)
    }
    return this.#panelists.has(address) ? this.#chain.arbiterDuties(address) : []
  }
}
