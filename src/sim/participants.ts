/**
 * The accounts of a simulated network and what the invariants are told about them: every
 * account's transactions (validators', miners', verifiers', arbiters' and challengers') go out
 * through its outbox, with the chain's own transactions, signatures and nonces, as a node's
 * `TxSender` sends them; every role is a hosted machine that sends through here (miners:
 * hosted-miners.ts; verifiers, arbiters and challengers: hosted-roles.ts; aggregators:
 * hosted-aggregators.ts). The cheats that reach the chain (a planted wrong gradient's or
 * withheld content's reveal, a planted wrong aggregator's aggregates) are recorded here for
 * the invariants.
 */

import { type TxResultInfo, URGENT_TX_TYPES } from '../actors/tx-sender.ts'
import { TxCode } from '../chain/errors.ts'
import type { KeyPair } from '../chain/keys.ts'
import type { ChainState } from '../chain/state.ts'
import type { Msg } from '../chain/tx.ts'
import type { Clock } from '../runtime/clock.ts'
import type { MisbehaviourModels } from './misbehaviours.ts'
import { Outbox, type PreCheck, type Settled } from './outbox.ts'

export interface ParticipantsInit {
  readonly chainId: string
  readonly fee: bigint
  readonly miners: readonly KeyPair[]
  /** Addresses of the miners that reveal wrong gradients (`wrongGradient`). */
  readonly cheaters: ReadonlySet<string>
  readonly verifiers: readonly KeyPair[]
  readonly arbiters: readonly KeyPair[]
  readonly challengers: readonly KeyPair[]
  /** Validators' account keys (their aggregators send through their outboxes). */
  readonly validators: readonly KeyPair[]
  /** Transactions each account keeps in flight. @default TX_MAX_IN_FLIGHT */
  readonly txsInFlight?: number
  /** The other misbehaviours (misbehaviours.ts; its misbehaving challengers are among `challengers`). @default none */
  readonly misbehaviours?: MisbehaviourModels
}

export interface ParticipantsComponents {
  readonly clock: Clock
  /** Hand encoded transactions to the network (every validator's mempool). */
  readonly submit: (txs: readonly Uint8Array[]) => void
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
  /** Aggregate claims seen on chain (each noted once). */
  readonly #aggregatesSeen = new Set<string>()
  readonly cheats = new Map<string, CheatRecord>()
  readonly stats: ParticipantStats = { applied: new Map(), refused: new Map(), latenciesMs: [] }
  /** Outboxes sent to since the last flush, in the order they were (`send`). */
  readonly #waiting = new Set<Outbox>()
  #flushing = false
  #state: ChainState | undefined
  #check: PreCheck | undefined
  #height = 0

  constructor(init: ParticipantsInit, components: ParticipantsComponents) {
    this.#init = init
    this.#c = components
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
    // Sent with the others of this moment: a thousand miners' machines finish training at one
    // simulated instant, and one network message each cost every validator a thousand receipts
    // of one transaction where a batch costs one.
    this.#waiting.add(outbox)
    if (this.#flushing) return
    this.#flushing = true
    this.#c.clock.setTimer(0, () => {
      this.#flushing = false
      const waiting = [...this.#waiting]
      this.#waiting.clear()
      // The state held is the executing validator's own, which may be a block past the last
      // one handed over (the participants act CLIENT_DELAY_MS after it): stepping now would
      // read the nonces that block moved without its results, and sign again what it already
      // carried. The transactions go out with that block's step, a moment later.
      if (this.#state !== undefined && this.#state.globals.height > this.#height) return
      const txs: Uint8Array[] = []
      for (const o of waiting) txs.push(...this.#step(o, new Map()))
      if (txs.length > 0) this.#c.submit(txs)
    })
  }

  #settled(s: Settled): void {
    s.queued.onSettled?.(s.code, s.log)
    const type = s.queued.msg.type
    if (s.code === TxCode.ok) {
      this.stats.applied.set(type, (this.stats.applied.get(type) ?? 0) + 1)
      this.stats.latenciesMs.push(s.latencyMs)
      return
    }
    const key = `${type}:${s.code}`
    this.stats.refused.set(key, (this.stats.refused.get(key) ?? 0) + 1)
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

  /**
   * `miner`'s reveal of `claimId` was applied in block `height`: a planted wrong gradient, or
   * content its owner withholds, is a cheat the game must catch.
   */
  minerRevealed(miner: string, claimId: string, height: number): void {
    const models = this.#init.misbehaviours
    models?.revealed(miner, claimId)
    const wrong = this.#init.cheaters.has(miner)
    if (wrong || models?.isWithheld(claimId) === true)
      this.cheats.set(claimId, {
        claimId,
        owner: miner,
        revealedHeight: height,
        kind: wrong ? 'wrongGradient' : 'withholdingMiner',
      })
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
