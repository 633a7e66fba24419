/**
 * A node's outgoing transactions, up to `maxInFlight` at once, signed with consecutive nonces
 * n, n+1, … ahead of the chain (validators' mempools admit a sender's next nonces for the
 * coming block), so a node with many duties per block is not held to one transaction per block.
 * They are handed to the network in nonce order. A transaction rejected at execution changes
 * nothing (no fee, no nonce), so the ones after it no longer fit the chain's nonce: whenever
 * those in flight stop running on from the chain's nonce, the ones not yet in a block are
 * signed again from it, each keeping its caller. A transaction not in a block after
 * `resendAfterBlocks` is sent again (gossip may have lost it); the first in line still not in
 * after `giveUpAfterBlocks`, or refused by the chain after a block, is dropped and the rest
 * signed again. Answers whose lateness the chain penalizes (`URGENT_TX_TYPES`) are signed before
 * the others waiting, and go first again whenever those in flight are signed again: each
 * refusal ahead of one costs it a block. Each caller learns its own transaction's result code,
 * once.
 */
import { TxCode } from '../chain/errors.ts'
import type { KeyPair } from '../chain/keys.ts'
import { encodeTx, type Msg } from '../chain/tx.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import { MAX_PENDING_TXS_PER_SENDER, TX_MAX_IN_FLIGHT } from '../runtime/limits.ts'
import type { Logger } from '../runtime/logger.ts'
import { type ChainNode, type ExecutedBlock, txIdOf } from './chain-node.ts'

/**
 * Transactions whose lateness the chain penalizes: a seated verifier's answer and an arbiter's
 * vote, each due by a deadline. A simulated network found a verifier's 'unavailable' signed
 * again behind two seat claims the chain refused in turn, landing a block after its deadline.
 */
export const URGENT_TX_TYPES: ReadonlySet<Msg['type']> = new Set(['verifierResponse', 'arbiterVote'])

/** See `TxSenderInit.resendAfterBlocks`. */
export const DEFAULT_RESEND_AFTER_BLOCKS = 1

const isUrgent = (p: { readonly msg: Msg }): boolean => URGENT_TX_TYPES.has(p.msg.type)

export interface TxResultInfo {
  readonly code: string
  readonly log: string
  readonly height: number
}

interface Pending {
  readonly msg: Msg
  readonly resolve: (r: TxResultInfo) => void
  settled: boolean
}

interface InFlight {
  readonly pending: Pending
  readonly nonce: number
  readonly id: string
  readonly bytes: Uint8Array
  /** The height it was signed at (with this nonce): give-up counts from here. */
  readonly signedAt: number
  resentAt: number
  /** A block carried it, refused for its nonce (one before it was rejected): it must be signed again. */
  stale: boolean
  /** Sent again already because one before it went into a block. */
  resentOnProgress: boolean
}

export interface TxSenderInit {
  readonly chain: Pick<ChainNode, 'reader' | 'height' | 'checkTx' | 'submit' | 'onBlock'>
  readonly key: KeyPair
  readonly logger: Logger
  /**
   * Blocks a transaction may stay out before it is sent again. One: a transaction sent as a
   * block lands reaches validators that have not executed that block yet, whose state still
   * refuses it (its nonce ahead of theirs, a claim still under the challenge that block ended)
   * and who keep nothing they refused; a deadline a few blocks off passes before a later
   * resend. A resend costs one more gossip of the same bytes, which peers that hold them drop.
   * @default DEFAULT_RESEND_AFTER_BLOCKS
   */
  readonly resendAfterBlocks?: number
  /** @default 20 */
  readonly giveUpAfterBlocks?: number
  /** Transactions in flight at once, 1 to MAX_PENDING_TXS_PER_SENDER. @default TX_MAX_IN_FLIGHT */
  readonly maxInFlight?: number
}

export class TxSender {
  readonly #chain: TxSenderInit['chain']
  readonly #key: KeyPair
  readonly #log: Logger
  readonly #queue: Pending[] = []
  readonly #resendAfter: number
  readonly #giveUpAfter: number
  readonly #maxInFlight: number
  /** In nonce order. */
  #inFlight: InFlight[] = []
  #stop: () => void

  constructor(init: TxSenderInit) {
    this.#chain = init.chain
    this.#key = init.key
    this.#log = init.logger
    this.#resendAfter = init.resendAfterBlocks ?? DEFAULT_RESEND_AFTER_BLOCKS
    this.#giveUpAfter = init.giveUpAfterBlocks ?? 20
    this.#maxInFlight = init.maxInFlight ?? TX_MAX_IN_FLIGHT
    if (!Number.isInteger(this.#maxInFlight) || this.#maxInFlight < 1 || this.#maxInFlight > MAX_PENDING_TXS_PER_SENDER)
      throw new InvalidArgumentError(
        `maxInFlight must be an integer from 1 to ${MAX_PENDING_TXS_PER_SENDER} (validators admit no more per sender), got ${this.#maxInFlight}`,
        { field: 'maxInFlight' },
      )
    this.#stop = init.chain.onBlock((b) => this.#onBlock(b))
  }

  /** Queue `msg`; resolves with its result once it is in a block (or dropped: code 'DROPPED'). */
  send(msg: Msg): Promise<TxResultInfo> {
    return new Promise((resolve) => {
      const p = { msg, resolve, settled: false }
      // An urgent one goes after the urgent ones waiting, ahead of the rest.
      const at = isUrgent(p) ? this.#queue.findIndex((q) => !isUrgent(q)) : -1
      if (at < 0) this.#queue.push(p)
      else this.#queue.splice(at, 0, p)
      this.#fill()
    })
  }

  get pending(): number {
    return this.#queue.length + this.#inFlight.length
  }

  /** Transactions signed and sent, not yet settled. */
  get inFlight(): number {
    return this.#inFlight.length
  }

  close(): void {
    this.#stop()
    const dropped = { code: 'DROPPED', log: 'the node stopped', height: this.#chain.height }
    for (const f of this.#inFlight.splice(0)) this.#settle(f.pending, dropped)
    for (const p of this.#queue.splice(0)) this.#settle(p, dropped)
  }

  #settle(p: Pending, r: TxResultInfo): void {
    if (p.settled) return
    p.settled = true
    p.resolve(r)
  }

  /** Sign and send from the queue while fewer than maxInFlight are in flight. */
  #fill(): void {
    while (this.#inFlight.length < this.#maxInFlight) {
      const p = this.#queue.shift()
      if (p === undefined) return
      const reader = this.#chain.reader
      const last = this.#inFlight.at(-1)
      const nonce = last === undefined ? reader.account(this.#key.address).nonce : last.nonce + 1
      const bytes = encodeTx({ chainId: reader.chainId, nonce, fee: reader.params.minFee, msg: p.msg }, this.#key)
      const height = this.#chain.height
      // What this node's copy of the chain refuses, the validators would too: answer at once
      // rather than hold the queue until the transaction is given up on. The check runs on the
      // committed state, which does not show what those still in flight will do (a seat they
      // claim, say): while any are, a refused one waits for them and is checked again.
      const check = this.#chain.checkTx(bytes, new Map([[this.#key.address, nonce]]))
      if (!check.ok) {
        if (this.#inFlight.length > 0) {
          this.#queue.unshift(p)
          return
        }
        this.#log.info({ code: check.code, type: p.msg.type }, 'transaction refused before sending')
        this.#settle(p, { code: check.code, log: check.log, height })
        continue
      }
      this.#inFlight.push({
        pending: p,
        nonce,
        id: txIdOf(bytes),
        bytes,
        signedAt: height,
        resentAt: height,
        stale: false,
        resentOnProgress: false,
      })
      void this.#chain.submit(bytes)
    }
  }

  #onBlock(b: ExecutedBlock): void {
    if (this.#inFlight.length === 0) return
    const height = b.block.height
    let carried = false
    for (const f of this.#inFlight) {
      const at = b.txIds.indexOf(f.id)
      if (at < 0) continue
      carried = true
      const r = b.outcome.results[at] ?? { code: TxCode.ok, log: '' }
      if (r.code === TxCode.wrongNonce) {
        f.stale = true
        continue
      }
      if (r.code !== TxCode.ok)
        this.#log.info({ code: r.code, log: r.log, type: f.pending.msg.type }, 'transaction rejected')
      this.#settle(f.pending, { code: r.code, log: r.log, height })
    }
    this.#inFlight = this.#inFlight.filter((f) => !f.pending.settled)
    // Let the block finish before signing again (nonces come from the new state).
    queueMicrotask(() => this.#afterBlock(height, carried))
  }

  /** `carried`: the block carried some of those in flight. */
  #afterBlock(height: number, carried: boolean): void {
    const head = this.#inFlight[0]
    if (head !== undefined && height - head.signedAt >= this.#giveUpAfter) {
      // Those after it cannot go in before it, so only the first in line is given up on.
      this.#log.warn({ type: head.pending.msg.type }, 'transaction never made it into a block; dropped')
      this.#settle(head.pending, {
        code: 'DROPPED',
        log: `not in a block after ${this.#giveUpAfter} blocks`,
        height,
      })
      this.#inFlight.shift()
    }
    this.#dropRefusedHead(height)
    this.#realign()
    this.#resendDue(height, carried)
    this.#realign()
    this.#fill()
  }

  /**
   * The first in line, checked again after every block: one the chain now refuses (the
   * challenge it answers moved on, say) no mempool keeps, and those after it could go in only
   * after it, so it is given up at once instead of at its next resend, and they are signed
   * again. Only the first: the check runs on the committed state, which is exact for it alone
   * (those after it may depend on what it does). A simulated network found arbiters' votes held
   * four blocks behind such a vote, landing after their round's deadline.
   */
  #dropRefusedHead(height: number): void {
    const head = this.#inFlight[0]
    if (head === undefined || head.stale) return
    const check = this.#chain.checkTx(head.bytes, new Map([[this.#key.address, head.nonce]]))
    if (check.ok || check.code === TxCode.wrongNonce) return
    this.#log.info({ code: check.code, type: head.pending.msg.type }, 'transaction refused while in flight')
    this.#settle(head.pending, { code: check.code, log: check.log, height })
    this.#inFlight.shift()
  }

  /**
   * Those in flight must run on from the chain's nonce. When they do not (one before them was
   * rejected, dropped or refused), sign them again from it, in the same order, ahead of the
   * queue, but for the urgent ones, which go first of all.
   */
  #realign(): void {
    const chainNonce = this.#chain.reader.account(this.#key.address).nonce
    if (this.#inFlight.every((f, i) => !f.stale && f.nonce === chainNonce + i)) return
    this.#log.info(
      { count: this.#inFlight.length, nonce: chainNonce },
      'signing transactions again from the chain nonce',
    )
    const waiting = [...this.#inFlight.map((f) => f.pending), ...this.#queue]
    this.#queue.splice(0, this.#queue.length, ...waiting.filter(isUrgent), ...waiting.filter((p) => !isUrgent(p)))
    this.#inFlight = []
  }

  /**
   * Send again, in nonce order, those in flight for `resendAfterBlocks` that still pass the
   * check; and, once, each sent before a block that carried one ahead of it: a mempool it
   * reached before its predecessor (gossip does not keep order) refused it for its nonce, and
   * takes it now.
   */
  #resendDue(height: number, carried: boolean): void {
    for (const f of this.#inFlight) {
      const onProgress = carried && !f.resentOnProgress && f.resentAt < height
      if (height - f.resentAt < this.#resendAfter && !onProgress) continue
      if (carried) f.resentOnProgress = true
      f.resentAt = height
      const check = this.#chain.checkTx(f.bytes, new Map([[this.#key.address, f.nonce]]))
      if (check.ok) {
        void this.#chain.submit(f.bytes)
        continue
      }
      // No longer valid (its window closed, say): give it up now (those after it are signed again).
      this.#settle(f.pending, { code: check.code, log: check.log, height })
    }
    this.#inFlight = this.#inFlight.filter((f) => !f.pending.settled)
  }
}
