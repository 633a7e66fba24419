/**
 * One simulated account's transactions on their way into blocks, the way a node's TxSender
 * (src/actors/tx-sender.ts) sends them: one at a time, each signed with the chain's nonce once
 * the previous one is in a block, checked against the sender's copy of the chain first (a
 * refusal there settles it at once), sent again after RESEND_AFTER_BLOCKS and given up after
 * GIVE_UP_AFTER_BLOCKS. Unlike TxSender, the queue is ordered: answers whose lateness is
 * penalized go first, then by the last block each may reach, and one that can no longer reach
 * its block is dropped unsent.
 */
import { TxCode } from '../chain/errors.ts'
import type { KeyPair } from '../chain/keys.ts'
import type { ChainState } from '../chain/state.ts'
import { encodeTx, type Msg } from '../chain/tx.ts'
import { toHex } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'

/** As TxSender's defaults. */
export const RESEND_AFTER_BLOCKS = 4
export const GIVE_UP_AFTER_BLOCKS = 20
/** The code a given-up transaction settles with. */
export const NOT_INCLUDED = 'SIM_NOT_INCLUDED'
/** The code of a transaction dropped unsent because the block it had to reach has passed. */
export const EXPIRED = 'SIM_EXPIRED'

export interface Queued {
  readonly msg: Msg
  /** Runs once a block applied the transaction. */
  readonly onApplied?: () => void
  /** Runs when it settles any other way (refused, expired, given up). */
  readonly onDropped?: () => void
  /** The last height at which the chain takes it (a deadline); unsent after that, it is dropped. */
  readonly lastHeight?: number
  /** Sent before the others (an answer whose lateness is penalized). */
  readonly urgent?: boolean
}

interface InFlight {
  readonly queued: Queued
  readonly bytes: Uint8Array
  readonly id: string
  readonly sentHeight: number
  readonly sentMs: number
  resentHeight: number
}

/** What one settled transaction says. */
export interface Settled {
  readonly queued: Queued
  readonly code: string
  readonly log: string
  /** Simulated ms from its sending to the block that settled it. */
  readonly latencyMs: number
}

/** The sender's own check of a transaction against its copy of the chain. */
export type PreCheck = (bytes: Uint8Array) => { ok: true } | { ok: false; code: string; log: string }

export class Outbox {
  readonly key: KeyPair
  readonly #chainId: string
  readonly #fee: bigint
  readonly #queue: Queued[] = []
  #inFlight: InFlight | undefined

  constructor(key: KeyPair, chainId: string, fee: bigint) {
    this.key = key
    this.#chainId = chainId
    this.#fee = fee
  }

  get pending(): number {
    return this.#queue.length + (this.#inFlight === undefined ? 0 : 1)
  }

  push(msg: Msg, options: Omit<Queued, 'msg'> = {}): void {
    this.#queue.push({ msg, ...options })
    // Urgent first, then by deadline (stable: otherwise in the order pushed).
    const rank = (q: Queued): number => (q.urgent === true ? 0 : 1)
    this.#queue.sort(
      (a, b) =>
        rank(a) - rank(b) || (a.lastHeight ?? Number.MAX_SAFE_INTEGER) - (b.lastHeight ?? Number.MAX_SAFE_INTEGER),
    )
  }

  /**
   * Block `height` carried these results (by transaction id): settle the one in flight, send
   * it again or give it up when it is overdue, then send the next. Returns what settled and
   * the bytes to send.
   */
  step(
    state: ChainState,
    results: ReadonlyMap<string, { code: string; log: string }>,
    height: number,
    nowMs: number,
    check: PreCheck,
  ): { settled: Settled[]; send: Uint8Array[] } {
    const settled: Settled[] = []
    const send: Uint8Array[] = []
    const f = this.#inFlight
    if (f !== undefined) {
      const r = results.get(f.id)
      if (r !== undefined) {
        this.#inFlight = undefined
        // Refused for its nonce: sign it again with the chain's.
        if (r.code === TxCode.wrongNonce) this.#queue.unshift(f.queued)
        else settled.push({ queued: f.queued, code: r.code, log: r.log, latencyMs: nowMs - f.sentMs })
      } else if (height - f.sentHeight >= GIVE_UP_AFTER_BLOCKS || (f.queued.lastHeight ?? Infinity) < height) {
        this.#inFlight = undefined
        settled.push({ queued: f.queued, code: NOT_INCLUDED, log: 'no block took it', latencyMs: nowMs - f.sentMs })
      } else if (height - f.resentHeight >= RESEND_AFTER_BLOCKS) {
        f.resentHeight = height
        send.push(f.bytes)
      }
    }
    while (this.#inFlight === undefined) {
      const q = this.#queue.shift()
      if (q === undefined) break
      if (q.lastHeight !== undefined && height >= q.lastHeight) {
        settled.push({ queued: q, code: EXPIRED, log: `its last block was ${q.lastHeight}`, latencyMs: 0 })
        continue
      }
      const nonce = state.accounts.get(this.key.address)?.nonce ?? 0
      const bytes = encodeTx({ chainId: this.#chainId, nonce, fee: this.#fee, msg: q.msg }, this.key)
      const verdict = check(bytes)
      if (!verdict.ok) {
        settled.push({ queued: q, code: verdict.code, log: verdict.log, latencyMs: 0 })
        continue
      }
      const id = toHex(sha256(bytes))
      this.#inFlight = { queued: q, bytes, id, sentHeight: height, sentMs: nowMs, resentHeight: height }
      send.push(bytes)
    }
    return { settled, send }
  }
}
