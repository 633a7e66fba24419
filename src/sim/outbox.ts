/**
 * One simulated account's transactions on their way into blocks, the way a node's TxSender
 * (src/actors/tx-sender.ts) sends them: up to TX_MAX_IN_FLIGHT at once with consecutive nonces
 * ahead of the chain's, signed again from the chain's nonce when one before them was rejected or
 * given up, checked against the sender's copy of the chain first (a refusal there settles it at
 * once, or waits while others are in flight) and, first in line, again at every step (one the
 * chain now refuses is given up at once), sent again after RESEND_AFTER_BLOCKS (and once
 * when one before it lands) and the first in line given up after GIVE_UP_AFTER_BLOCKS. Unlike
 * TxSender, the queue is ordered: answers whose lateness is penalized go first.
 */
import { DEFAULT_RESEND_AFTER_BLOCKS } from '../actors/tx-sender.ts'
import { TxCode } from '../chain/errors.ts'
import type { KeyPair } from '../chain/keys.ts'
import type { ChainState } from '../chain/state.ts'
import { encodeTx, type Msg } from '../chain/tx.ts'
import { toHex } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import { MAX_PENDING_TXS_PER_SENDER, TX_MAX_IN_FLIGHT } from '../runtime/limits.ts'

/** As TxSender's defaults. */
export const RESEND_AFTER_BLOCKS = DEFAULT_RESEND_AFTER_BLOCKS
export const GIVE_UP_AFTER_BLOCKS = 20
/** The code a given-up transaction settles with. */
export const NOT_INCLUDED = 'SIM_NOT_INCLUDED'

export interface Queued {
  readonly msg: Msg
  /** Runs when it settles, however, with the code and log it settled with. */
  readonly onSettled?: (code: string, log: string) => void
  /** Sent before the others (an answer whose lateness is penalized). */
  readonly urgent?: boolean
}

interface InFlight {
  readonly queued: Queued
  readonly nonce: number
  readonly bytes: Uint8Array
  readonly id: string
  readonly sentHeight: number
  readonly sentMs: number
  resentHeight: number
  /** A block carried it, refused for its nonce: it is signed again. */
  stale: boolean
  /** Sent again already because one before it went into a block. */
  resentOnProgress: boolean
}

/** What one settled transaction says. */
export interface Settled {
  readonly queued: Queued
  readonly code: string
  readonly log: string
  /** Simulated ms from its sending to the block that settled it. */
  readonly latencyMs: number
}

/**
 * The sender's own check of a transaction against its copy of the chain, its nonce checked
 * against `pendingNonce` (the sender's next, ahead of the chain's while others are in flight).
 */
export type PreCheck = (
  bytes: Uint8Array,
  pendingNonce: ReadonlyMap<string, number>,
) => { ok: true } | { ok: false; code: string; log: string }

/** What a step of an idle outbox returns (never changed). */
const NOTHING = Object.freeze({
  settled: Object.freeze([]) as unknown as Settled[],
  send: Object.freeze([]) as unknown as Uint8Array[],
})

export class Outbox {
  readonly key: KeyPair
  readonly #chainId: string
  readonly #fee: bigint
  readonly #maxInFlight: number
  readonly #queue: Queued[] = []
  /** In nonce order. */
  #inFlight: InFlight[] = []

  constructor(key: KeyPair, chainId: string, fee: bigint, maxInFlight = TX_MAX_IN_FLIGHT) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > MAX_PENDING_TXS_PER_SENDER)
      throw new InvalidArgumentError(
        `transactions in flight must be an integer from 1 to ${MAX_PENDING_TXS_PER_SENDER}, got ${maxInFlight}`,
        { field: 'txsInFlight' },
      )
    this.key = key
    this.#chainId = chainId
    this.#fee = fee
    this.#maxInFlight = maxInFlight
  }

  get pending(): number {
    return this.#queue.length + this.#inFlight.length
  }

  /** Transactions signed and sent, not yet settled. */
  get inFlight(): number {
    return this.#inFlight.length
  }

  push(msg: Msg, options: Omit<Queued, 'msg'> = {}): void {
    this.#queue.push({ msg, ...options })
    this.#sortQueue()
  }

  /** Urgent first (stable: otherwise in the order pushed or signed). */
  #sortQueue(): void {
    const rank = (q: Queued): number => (q.urgent === true ? 0 : 1)
    this.#queue.sort((a, b) => rank(a) - rank(b))
  }

  /**
   * Block `height` carried these results (by transaction id): settle those in flight it
   * carried, give up the first in line when it is overdue, sign again from the chain's nonce
   * those whose nonces no longer run on from it, send again those due, then sign and send from
   * the queue up to its maximum in flight (TX_MAX_IN_FLIGHT unless told). Returns what settled
   * and the bytes to send, in nonce order.
   */
  step(
    state: ChainState,
    results: ReadonlyMap<string, { code: string; log: string }>,
    height: number,
    nowMs: number,
    check: PreCheck,
  ): { settled: Settled[]; send: Uint8Array[] } {
    // Most accounts have nothing waiting at most blocks: nothing to read, settle or sign.
    if (this.#inFlight.length === 0 && this.#queue.length === 0) return NOTHING
    const settled: Settled[] = []
    const send: Uint8Array[] = []
    const settle = (f: InFlight, code: string, log: string): void => {
      settled.push({ queued: f.queued, code, log, latencyMs: nowMs - f.sentMs })
    }
    let carried = false
    this.#inFlight = this.#inFlight.filter((f) => {
      const r = results.get(f.id)
      if (r === undefined) return true
      carried = true
      // Refused for its nonce (one before it was rejected): sign it again with the chain's.
      if (r.code === TxCode.wrongNonce) {
        f.stale = true
        return true
      }
      settle(f, r.code, r.log)
      return false
    })
    // Those after the first in line cannot go in before it, so only it is given up on for age.
    this.#inFlight = this.#inFlight.filter((f, i) => {
      const tooOld = i === 0 && height - f.sentHeight >= GIVE_UP_AFTER_BLOCKS
      if (!tooOld) return true
      settle(f, NOT_INCLUDED, 'no block took it')
      return false
    })
    const nonce = state.accounts.get(this.key.address)?.nonce ?? 0
    // As TxSender: the first in line, checked again, is given up at once when the chain now
    // refuses it (no mempool keeps it, and those after it wait on it).
    const head = this.#inFlight[0]
    if (head !== undefined && !head.stale && head.nonce === nonce) {
      const verdict = check(head.bytes, new Map([[this.key.address, head.nonce]]))
      if (!verdict.ok && verdict.code !== TxCode.wrongNonce) {
        settle(head, verdict.code, verdict.log)
        this.#inFlight.shift()
      }
    }
    if (this.#inFlight.some((f, i) => f.stale || f.nonce !== nonce + i)) {
      // Signed again: urgent ones first, as TxSender does.
      this.#queue.unshift(...this.#inFlight.map((f) => f.queued))
      this.#sortQueue()
      this.#inFlight = []
    }
    for (const f of this.#inFlight)
      if (height - f.resentHeight >= RESEND_AFTER_BLOCKS || (carried && !f.resentOnProgress && f.sentHeight < height)) {
        // Sent again once as soon as one before it is in a block: a mempool it reached ahead of
        // its predecessor refused it for its nonce, and takes it now.
        if (carried) f.resentOnProgress = true
        f.resentHeight = height
        send.push(f.bytes)
      }
    while (this.#inFlight.length < this.#maxInFlight) {
      const q = this.#queue.shift()
      if (q === undefined) break
      const next = nonce + this.#inFlight.length
      const bytes = encodeTx({ chainId: this.#chainId, nonce: next, fee: this.#fee, msg: q.msg }, this.key)
      const verdict = check(bytes, new Map([[this.key.address, next]]))
      if (!verdict.ok) {
        // The check cannot see what those in flight will do: while any are, it waits for them.
        if (this.#inFlight.length > 0) {
          this.#queue.unshift(q)
          break
        }
        settled.push({ queued: q, code: verdict.code, log: verdict.log, latencyMs: 0 })
        continue
      }
      const id = toHex(sha256(bytes))
      this.#inFlight.push({
        queued: q,
        nonce: next,
        bytes,
        id,
        sentHeight: height,
        sentMs: nowMs,
        resentHeight: height,
        stale: false,
        resentOnProgress: false,
      })
      send.push(bytes)
    }
    return { settled, send }
  }
}
