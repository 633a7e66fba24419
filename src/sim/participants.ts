/**
 * The participants of a simulated network whose roles are modelled, acting on the chain state
 * after each block, with the chain's own transactions, signatures and VRF proofs:
 * - miners train each task the window assigns them (the cost model, cost-model.ts), publish
 *   the gradient's bytes (content.ts), commit, then reveal in a later block; cheaters reveal a
 *   wrong gradient.
 * This is a model of the miner machine in src/actors/roles (which trains through the trainer
 * and a content store): the decisions are the same, the training is the cost model.
 * Verifiers, arbiters and challengers (hosted-roles.ts) and aggregators (hosted-aggregators.ts)
 * are the real machines; every account's transactions, theirs included, go out through its
 * outbox, and the cheats that reach the chain (wrong gradients, withheld content, a planted
 * wrong aggregator's aggregates) are recorded here for the invariants.
 */

import { type TxResultInfo, URGENT_TX_TYPES } from '../actors/tx-sender.ts'
import { TxCode } from '../chain/errors.ts'
import type { KeyPair } from '../chain/keys.ts'
import type { ChainState, Task } from '../chain/state.ts'
import { commitmentOf, type Msg } from '../chain/tx.ts'
import { submissionId, tasksOf, windowKey } from '../chain/windows.ts'
import { toHex } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'
import type { Clock } from '../runtime/clock.ts'
import type { SimContent } from './content.ts'
import { type CostModel, honestGradient, trainingMs, wrongGradient } from './cost-model.ts'
import type { MisbehaviourModels } from './misbehaviours.ts'
import { Outbox, type PreCheck, type Queued, type Settled } from './outbox.ts'

export interface ParticipantsInit {
  readonly chainId: string
  readonly fee: bigint
  readonly miners: readonly KeyPair[]
  /** Addresses of the miners that reveal wrong gradients. */
  readonly cheaters: ReadonlySet<string>
  readonly verifiers: readonly KeyPair[]
  readonly arbiters: readonly KeyPair[]
  readonly challengers: readonly KeyPair[]
  /** Validators' account keys (their aggregators send through their outboxes). */
  readonly validators: readonly KeyPair[]
  readonly costModel: CostModel
  /** Miners train windows 0 … trainWindows − 1 and then stop, so the run can settle. */
  readonly trainWindows: number
  /** Transactions each account keeps in flight. @default TX_MAX_IN_FLIGHT */
  readonly txsInFlight?: number
  /** The other misbehaviours (misbehaviours.ts; its misbehaving challengers are among `challengers`). @default none */
  readonly misbehaviours?: MisbehaviourModels
}

export interface ParticipantsComponents {
  readonly clock: Clock
  /** Hand encoded transactions to the network (every validator's mempool). */
  readonly submit: (txs: readonly Uint8Array[]) => void
  /** Where miners publish the bytes they name. */
  readonly content: SimContent
}

/** A wrong submission that reached the chain: what the invariants hold the game to. */
export interface CheatRecord {
  readonly claimId: string
  readonly owner: string
  readonly revealedHeight: number
  /** What was wrong: a withheld claim is settled later (its aggregate lists it unavailable). @default 'wrongGradient' */
  readonly kind?: 'wrongGradient' | 'withholdingMiner' | 'wrongAggregate'
}

export interface ParticipantStats {
  /** Applied transactions by message type. */
  readonly applied: Map<string, number>
  /** Refused transactions by message type and code (`type:code`). */
  readonly refused: Map<string, number>
  /** Simulated ms from sending to the block that applied it, per applied transaction. */
  readonly latenciesMs: number[]
}

export class Participants {
  readonly #init: ParticipantsInit
  readonly #c: ParticipantsComponents
  readonly #outboxes = new Map<string, Outbox>()
  readonly #minerSet: Set<string>
  /** Aggregate claims seen on chain (each noted once). */
  readonly #aggregatesSeen = new Set<string>()
  readonly cheats = new Map<string, CheatRecord>()
  readonly stats: ParticipantStats = { applied: new Map(), refused: new Map(), latenciesMs: [] }
  #state: ChainState | undefined
  #check: PreCheck | undefined
  #height = 0
  #lastWindow = -1

  constructor(init: ParticipantsInit, components: ParticipantsComponents) {
    this.#init = init
    this.#c = components
    this.#minerSet = new Set(init.miners.map((k) => k.address))
    const all = [...init.validators, ...init.miners, ...init.verifiers, ...init.arbiters, ...init.challengers]
    for (const k of all) {
      if (!this.#outboxes.has(k.address))
        this.#outboxes.set(k.address, new Outbox(k, init.chainId, init.fee, init.txsInFlight))
    }
  }

  /** Transactions still waiting for a block, over all accounts. */
  get pending(): number {
    let n = 0
    for (const o of this.#outboxes.values()) n += o.pending
    return n
  }

  /**
   * Block `height` was executed and `state` is the chain after it; `results` are its
   * transactions' outcomes by id, and `check` is the chain's own check of a transaction against
   * that state. Settle, react, and send what is due.
   */
  onBlock(
    state: ChainState,
    height: number,
    results: ReadonlyMap<string, { code: string; log: string }>,
    check: PreCheck,
  ): void {
    this.#state = state
    this.#height = height
    this.#check = check
    this.#stepAll(results)
    if (state.globals.currentWindow !== this.#lastWindow) {
      this.#lastWindow = state.globals.currentWindow
      if (this.#lastWindow < this.#init.trainWindows) this.#train(state, this.#lastWindow)
    }
    for (const copy of this.#init.misbehaviours?.copiesDue(state, height) ?? [])
      this.#commitAndReveal(copy.miner, copy.task, copy.cid, copy.lastHeight, false)
    this.#noteAggregates(state)
    this.#stepAll(new Map())
  }

  /**
   * Send `msg` from `address`'s account, as a role machine's `TxSender.send`: `settled` gets
   * the chain's answer (or the outbox's, for one refused before a block or given up).
   */
  send(address: string, msg: Msg, settled: (result: TxResultInfo) => void): void {
    const outbox = this.#outboxes.get(address)
    if (outbox === undefined) throw new Error(`no simulated account ${address}`)
    outbox.push(msg, {
      // Answers whose lateness the chain penalizes go first, as the modelled roles send them.
      urgent: URGENT_TX_TYPES.has(msg.type),
      onSettled: (code, log) => settled({ code, log, height: this.#height }),
    })
    // The state held is the executing validator's own, which may be a block past the last one
    // handed over (the participants act CLIENT_DELAY_MS after it): stepping now would read the
    // nonces that block moved without its results, and sign again what it already carried. The
    // transaction goes out with that block's step, a moment later.
    if (this.#state !== undefined && this.#state.globals.height > this.#height) return
    const txs = this.#step(outbox, new Map())
    if (txs.length > 0) this.#c.submit(txs)
  }

  #settled(s: Settled): void {
    s.queued.onSettled?.(s.code, s.log)
    const type = s.queued.msg.type
    if (s.code === TxCode.ok) {
      this.stats.applied.set(type, (this.stats.applied.get(type) ?? 0) + 1)
      this.stats.latenciesMs.push(s.latencyMs)
      s.queued.onApplied?.()
      return
    }
    const key = `${type}:${s.code}`
    this.stats.refused.set(key, (this.stats.refused.get(key) ?? 0) + 1)
    s.queued.onDropped?.()
  }

  /** Settle and send for every account (a follow-up pushed while settling goes out in the same pass). */
  #stepAll(results: ReadonlyMap<string, { code: string; log: string }>): void {
    const txs: Uint8Array[] = []
    for (const outbox of this.#outboxes.values()) txs.push(...this.#step(outbox, results))
    if (txs.length > 0) this.#c.submit(txs)
  }

  #step(outbox: Outbox, results: ReadonlyMap<string, { code: string; log: string }>): Uint8Array[] {
    const state = this.#state
    const check = this.#check
    if (state === undefined || check === undefined) return []
    const now = this.#c.clock.monotonicMs()
    const out: Uint8Array[] = []
    let step = outbox.step(state, results, this.#height, now, check)
    for (;;) {
      out.push(...step.send)
      for (const s of step.settled) this.#settled(s)
      // A settled transaction's follow-up (a reveal after its commit) may be next in line.
      if (step.settled.length === 0 || outbox.pending === 0) break
      step = outbox.step(state, new Map(), this.#height, now, check)
    }
    return out
  }

  #push(address: string, msg: Msg, options: Omit<Queued, 'msg'> = {}): void {
    ;(this.#outboxes.get(address) as Outbox).push(msg, options)
  }

  /** Each sim miner trains its tasks of the window just opened; it commits when done, reveals after. */
  #train(state: ChainState, window: number): void {
    const w = state.windows.get(windowKey(window))
    if (w === undefined) return
    const ms = trainingMs(this.#init.costModel)
    for (const task of tasksOf(state, window))
      for (const miner of task.miners) {
        if (!this.#minerSet.has(miner)) continue
        if (this.#init.misbehaviours?.copiesInstead(miner, task, w.closeHeight - 1) === true) continue
        const cheat = this.#init.cheaters.has(miner)
        const bytes = cheat ? wrongGradient(task, w.seed, minerSalt(miner)) : honestGradient(task, w.seed)
        const cid = this.#c.content.publish(bytes)
        this.#c.clock.setTimer(ms, () => this.#commitAndReveal(miner, task, cid, w.closeHeight - 1, cheat))
      }
  }

  /** `miner` commits to `cid` for `task` and reveals it in a later block (a wrong one is a cheat to catch). */
  #commitAndReveal(miner: string, task: Task, cid: string, lastHeight: number, cheat: boolean): void {
    const salt = toHex(sha256('r3mes/sim/salt/1\0', miner, '\0', task.id).subarray(0, 16))
    const id = submissionId(task.id, miner)
    const reveal = (): void =>
      this.#push(
        miner,
        { type: 'reveal', taskId: task.id, cid, salt, metadata: '{}' },
        {
          lastHeight,
          onApplied: () => {
            this.#init.misbehaviours?.revealed(miner, id)
            if (cheat || this.#init.misbehaviours?.isWithheld(id) === true)
              this.cheats.set(id, {
                claimId: id,
                owner: miner,
                revealedHeight: this.#height,
                kind: cheat ? 'wrongGradient' : 'withholdingMiner',
              })
          },
        },
      )
    const commitment = commitmentOf(cid, miner, task.id, salt)
    this.#push(miner, { type: 'commit', taskId: task.id, commitment }, { lastHeight, onApplied: reveal })
    const txs = this.#step(this.#outboxes.get(miner) as Outbox, new Map())
    if (txs.length > 0) this.#c.submit(txs)
  }

  /** Aggregates new on chain: a planted wrong aggregator's is a cheat the challengers must catch. */
  #noteAggregates(state: ChainState): void {
    const models = this.#init.misbehaviours
    for (const claim of models?.newAggregates(state, this.#aggregatesSeen) ?? [])
      if (models?.wrongAggregates.has(claim.id) === true)
        this.cheats.set(claim.id, {
          claimId: claim.id,
          owner: claim.owner,
          revealedHeight: this.#height,
          kind: 'wrongAggregate',
        })
  }
}

/** A miner's own perturbation, so two cheaters on one task never agree by accident. */
function minerSalt(address: string): number {
  const h = sha256(address)
  return ((h[0] as number) << 8) | (h[1] as number)
}
