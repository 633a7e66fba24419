/**
 * One simulated account's transactions on their way into blocks. Messages are signed with
 * consecutive nonces as they are sent; each block's results settle them: applied ones leave
 * (and run their follow-up), ones refused for their nonce (an earlier one of the batch was
 * refused, or never arrived) are signed again, and any other refusal is counted and dropped.
 * A batch that no block has taken for RESEND_AFTER_BLOCKS is sent again from the chain's nonce.
 */
import { TxCode } from '../chain/errors.ts'
import type { KeyPair } from '../chain/keys.ts'
import type { ChainState } from '../chain/state.ts'
import { encodeTx, type Msg } from '../chain/tx.ts'
import { toHex } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'

/** Blocks a sent transaction may stay out of the chain before its batch is sent again. */
export const RESEND_AFTER_BLOCKS = 2
/** Sendings after which a transaction no block took is given up (the mempools keep refusing it). */
export const MAX_SENDS = 3
/** The code a given-up transaction settles with. */
export const NOT_INCLUDED = 'SIM_NOT_INCLUDED'
/** The code of a transaction dropped unsent because the block it had to reach has passed. */
export const EXPIRED = 'SIM_EXPIRED'
/** Most transactions one account sends at once. */
const MAX_BATCH = 16

export interface Queued {
  readonly msg: Msg
  /** Runs once a block applied the transaction. */
  readonly then?: () => void
  /** The last height at which the chain takes it (a deadline); unsent after that, it is dropped. */
  readonly lastHeight?: number
  sent?: { readonly id: string; readonly height: number; readonly atMs: number }
  sends: number
}

/** What one settled transaction says. */
export interface Settled {
  readonly queued: Queued
  readonly code: string
  readonly log: string
  /** Simulated ms from its (last) sending to the block that settled it. */
  readonly latencyMs: number
}

export class Outbox {
  readonly key: KeyPair
  readonly #chainId: string
  readonly #fee: bigint
  readonly #queue: Queued[] = []
  #nextNonce = 0

  constructor(key: KeyPair, chainId: string, fee: bigint) {
    this.key = key
    this.#chainId = chainId
    this.#fee = fee
  }

  get pending(): number {
    return this.#queue.length
  }

  push(msg: Msg, options: { then?: () => void; lastHeight?: number } = {}): void {
    this.#queue.push({ msg, sends: 0, ...options })
  }

  /** Settle the queued transactions that block `height` carried (results by transaction id). */
  settle(results: ReadonlyMap<string, { code: string; log: string }>, height: number, nowMs: number): Settled[] {
    const out: Settled[] = []
    let resend = false
    for (const q of [...this.#queue]) {
      if (q.sent === undefined) continue
      const r = results.get(q.sent.id)
      if (r === undefined) continue
      const latencyMs = nowMs - q.sent.atMs
      // A refused transaction took no nonce: whatever was signed after it must be signed again.
      if (r.code !== TxCode.ok) resend = true
      if (r.code === TxCode.wrongNonce) continue
      this.#queue.splice(this.#queue.indexOf(q), 1)
      out.push({ queued: q, code: r.code, log: r.log, latencyMs })
    }
    if (resend || this.#queue.some((q) => q.sent !== undefined && height - q.sent.height > RESEND_AFTER_BLOCKS))
      for (const q of [...this.#queue]) {
        if (q.sent !== undefined && q.sends >= MAX_SENDS) {
          this.#queue.splice(this.#queue.indexOf(q), 1)
          out.push({ queued: q, code: NOT_INCLUDED, log: 'no block took it', latencyMs: nowMs - q.sent.atMs })
        }
        q.sent = undefined
      }
    for (const q of [...this.#queue])
      if (q.sent === undefined && q.lastHeight !== undefined && height >= q.lastHeight) {
        this.#queue.splice(this.#queue.indexOf(q), 1)
        out.push({ queued: q, code: EXPIRED, log: `its last block was ${q.lastHeight}`, latencyMs: 0 })
      }
    return out
  }

  /** Sign what has not been sent yet, after the nonces already in flight; the encoded transactions. */
  flush(state: ChainState, height: number, nowMs: number): Uint8Array[] {
    const chainNonce = state.accounts.get(this.key.address)?.nonce ?? 0
    const inFlight = this.#queue.some((q) => q.sent !== undefined)
    let nonce = inFlight ? Math.max(this.#nextNonce, chainNonce) : chainNonce
    const out: Uint8Array[] = []
    for (const q of this.#queue) {
      if (q.sent !== undefined) continue
      if (out.length >= MAX_BATCH) break
      const bytes = encodeTx({ chainId: this.#chainId, nonce, fee: this.#fee, msg: q.msg }, this.key)
      q.sent = { id: toHex(sha256(bytes)), height, atMs: nowMs }
      q.sends++
      out.push(bytes)
      nonce++
    }
    this.#nextNonce = nonce
    return out
  }
}
