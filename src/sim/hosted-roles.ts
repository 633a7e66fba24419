/**
 * The verification roles of a simulated network, run by the machines the nodes run: one
 * `verifierMachine` (src/actors/roles/verifier.ts) per verifier and one `arbiterMachine`
 * (arbiter.ts) per arbiter, each handed every block as a node hands its roles one. Only what
 * lies outside a node's machines is the simulation's:
 * - the chain: a `ChainReader` over the state of the validator that executed the block first;
 * - transactions: each account's outbox (participants.ts, sent as `TxSender` sends them);
 * - content: `SimContent` (content.ts), served on the simulated clock or withheld;
 * - re-execution (`ClaimReexecution`): the claim's content, and the challenger's step trace of a
 *   dispute, fetched as `reexecute` fetches them (availability.ts: unavailable when nobody
 *   serves them in time), then the cost model's time and CID (cost-model.ts: one step for a
 *   bisected dispute, the whole task without a trace), compared with the claim's as the real
 *   one compares bytes.
 * A lazy verifier is the machine with its `lazyVerifier` misbehaviour, as a node configured so.
 * The machines wait on promises that the simulated clock settles; the simulation hands the
 * event loop a turn after each settlement (turns.ts), so they act at the simulated instant
 * their work settled.
 */
import { type Actor, createActor } from 'xstate'
import type { ArbiterComponents } from '../actors/roles/arbiter.ts'
import { arbiterMachine } from '../actors/roles/arbiter.ts'
import { fetchAvailable, fetchClaimContent } from '../actors/roles/availability.ts'
import type { ClaimReexecution, Recheck } from '../actors/roles/reexecute.ts'
import type { VerifierComponents } from '../actors/roles/verifier.ts'
import { verifierMachine } from '../actors/roles/verifier.ts'
import type { TxResultInfo } from '../actors/tx-sender.ts'
import type { KeyPair } from '../chain/keys.ts'
import { type ArbiterDuty, ChainReader, type VerifierDraw } from '../chain/reader.ts'
import type { ChainState, Claim } from '../chain/state.ts'
import type { Msg } from '../chain/tx.ts'
import type { Clock } from '../runtime/clock.ts'
import type { Logger } from '../runtime/logger.ts'
import type { Misbehaviour } from '../topology/roles.ts'
import type { SimContent } from './content.ts'
import { type CostModel, reexecutedCid, reexecutionMs } from './cost-model.ts'
import type { Turns } from './turns.ts'

export interface HostedRolesInit {
  readonly verifiers: readonly KeyPair[]
  readonly arbiters: readonly KeyPair[]
  /** Verifiers that answer 'owner' without re-executing. */
  readonly lazyVerifiers: ReadonlySet<string>
  readonly costModel: CostModel
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
}

export class HostedRoles {
  readonly stats: HostedRoleStats = { verdicts: 0, lazyAnswers: 0, reexecutions: 0 }
  readonly #actors: Actor<typeof verifierMachine | typeof arbiterMachine>[] = []
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
    const tx = (key: KeyPair, lazy: boolean) => ({
      send: (msg: Msg): Promise<TxResultInfo> =>
        new Promise<TxResultInfo>((resolve) => {
          if (lazy && msg.type === 'verifierResponse') stats.lazyAnswers++
          c.send(key.address, msg, (result) => {
            c.turns.settled()
            resolve(result)
          })
        }),
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

/** The cost model's answer to re-executing `claim`: the CID it gives, against the claim's. */
function recheckOf(state: ChainState, claim: Claim): Recheck {
  const cid = reexecutedCid(state, claim)
  return cid === claim.cid
    ? { honest: true, reason: 'the re-execution gives the claimed CID' }
    : { honest: false, reason: `the re-execution gives ${cid}, not the claimed ${claim.cid}` }
}

/**
 * The chain as the hosted machines read it: a `ChainReader` over the newest state shown. A
 * block's open L2 attempts and L3 seats are listed once for all machines (the reader walks
 * every challenge for each call, and a hundred verifiers each asking for theirs would walk
 * them a hundred times a block); each machine gets the reader's own answer for its address.
 */
class SimChainView implements Pick<ChainReader, 'verifierDraws' | 'arbiterDuties' | 'tasks' | 'params'> {
  #state: ChainState | undefined
  #reader: ChainReader | undefined
  #height = -1
  #draws: VerifierDraw[] | undefined
  #panelists: Set<string> | undefined

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
  }

  get #chain(): ChainReader {
    if (this.#reader === undefined) throw new Error('no block shown yet')
    return this.#reader
  }

  get params(): ChainReader['params'] {
    return this.#chain.params
  }

  tasks(window: number, miner?: string): ReturnType<ChainReader['tasks']> {
    return this.#chain.tasks(window, miner)
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
