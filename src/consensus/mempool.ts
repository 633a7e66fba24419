/**
 * Transactions waiting for a block, in arrival order, bounded by count and by bytes. A tx
 * enters only if the application's `checkTx` accepts it; committed txs leave. Duplicates are
 * refused by hash, and recently committed hashes are remembered so a replayed tx is refused too.
 * Hashes of txs the application refused are remembered until the next block (which may make
 * them valid), so a tx sent again costs a hash lookup rather than another check.
 */

import { toHex } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import {
  MAX_MEMPOOL_BYTES,
  MAX_MEMPOOL_TX_BYTES,
  MAX_MEMPOOL_TXS,
  MEMPOOL_COMMITTED_CACHE_SIZE,
  REFUSED_TX_CACHE_SIZE,
} from '../runtime/limits.ts'
import type { Application } from './application.ts'
import { TxRejectedError } from './errors.ts'

export interface MempoolInit {
  /** @default 10_000 */
  maxTxs?: number
  /** @default 64 MiB */
  maxBytes?: number
  /** @default 64 KiB */
  maxTxBytes?: number
  /** How many committed tx hashes to remember against replays. @default 100_000 */
  committedCacheSize?: number
  /**
   * A tx's key: its hex SHA-256. A caller that hands the same bytes object to many mempools
   * (the simulator) passes one that remembers it. @default hex SHA-256 of the bytes
   */
  txKey?: (tx: Uint8Array) => string
}

/** Why the mempool did not take a tx (`TxRejectedError` carries the same). */
export interface TxRefusal {
  readonly reason: string
  readonly details?: Record<string, unknown>
  /** The tx itself is at fault (out of bounds, refused by the application). */
  readonly invalid: boolean
  /** Refused by the application for now: it may be admitted later. */
  readonly notYet: boolean
}

const DUPLICATE: TxRefusal = { reason: 'duplicate', invalid: false, notYet: false }
const FULL_BY_COUNT: TxRefusal = { reason: 'mempool full (count)', invalid: false, notYet: false }
const FULL_BY_BYTES: TxRefusal = { reason: 'mempool full (bytes)', invalid: false, notYet: false }

function hexSha256(tx: Uint8Array): string {
  return toHex(sha256(tx))
}

export class Mempool {
  readonly maxTxs: number
  readonly maxBytes: number
  readonly maxTxBytes: number
  readonly #committedCacheSize: number
  readonly #app: Pick<Application, 'checkTx'>
  readonly #txKey: (tx: Uint8Array) => string
  readonly #txs = new Map<string, Uint8Array>()
  readonly #committed = new Set<string>()
  /** Hashes of txs the application refused since the last block, oldest first, each with whether it was refused only for now (`notYet`). */
  readonly #refused = new Map<string, boolean>()
  #bytes = 0

  constructor(app: Pick<Application, 'checkTx'>, init: MempoolInit = {}) {
    this.#app = app
    this.maxTxs = init.maxTxs ?? MAX_MEMPOOL_TXS
    this.maxBytes = init.maxBytes ?? MAX_MEMPOOL_BYTES
    this.maxTxBytes = init.maxTxBytes ?? MAX_MEMPOOL_TX_BYTES
    this.#committedCacheSize = init.committedCacheSize ?? MEMPOOL_COMMITTED_CACHE_SIZE
    this.#txKey = init.txKey ?? hexSha256
    if (this.maxTxs <= 0 || this.maxBytes <= 0 || this.maxTxBytes <= 0)
      throw new InvalidArgumentError('mempool bounds must be positive')
  }

  get size(): number {
    return this.#txs.size
  }

  get sizeBytes(): number {
    return this.#bytes
  }

  /** Admit `tx` or throw TxRejectedError saying why. */
  add(tx: Uint8Array): void {
    const refusal = this.admit(tx)
    if (refusal !== null)
      throw new TxRejectedError(refusal.reason, refusal.details ?? {}, refusal.invalid, refusal.notYet)
  }

  /**
   * Admit `tx`: null when taken, else why not. Gossip brings every tx from several peers, so
   * most refusals are duplicates: answered with a value, not an error whose stack trace would
   * cost more than the lookup that refused it.
   */
  admit(tx: Uint8Array): TxRefusal | null {
    if (tx.byteLength === 0 || tx.byteLength > this.maxTxBytes)
      return { reason: 'size out of bounds', details: { sizeBytes: tx.byteLength }, invalid: true, notYet: false }
    const key = this.#txKey(tx)
    if (this.#txs.has(key) || this.#committed.has(key)) return DUPLICATE
    const refusedNotYet = this.#refused.get(key)
    if (refusedNotYet !== undefined) return { reason: 'refused before', invalid: !refusedNotYet, notYet: refusedNotYet }
    if (this.#txs.size >= this.maxTxs) return FULL_BY_COUNT
    if (this.#bytes + tx.byteLength > this.maxBytes) return FULL_BY_BYTES
    const check = this.#app.checkTx(tx)
    if (!check.ok) {
      const notYet = check.notYet === true
      this.#refused.set(key, notYet)
      if (this.#refused.size > REFUSED_TX_CACHE_SIZE) {
        const oldest = this.#refused.keys().next().value
        if (oldest !== undefined) this.#refused.delete(oldest)
      }
      return { reason: check.reason ?? 'refused by the application', invalid: !notYet, notYet }
    }
    this.#txs.set(key, tx)
    this.#bytes += tx.byteLength
    return null
  }

  /** The oldest txs whose total size fits `maxBytes` (kept in the pool until committed). */
  reap(maxBytes: number, maxCount = Number.MAX_SAFE_INTEGER): Uint8Array[] {
    const out: Uint8Array[] = []
    let bytes = 0
    for (const tx of this.#txs.values()) {
      if (out.length >= maxCount || bytes + tx.byteLength > maxBytes) break
      out.push(tx)
      bytes += tx.byteLength
    }
    return out
  }

  /**
   * Drop the txs of a committed block, then re-check the rest against the new state. Those the
   * application refused at execution (`rejected`, indices into the block) are not remembered as
   * committed: they changed nothing, and the same bytes may be sent again and be valid.
   */
  update(committedTxs: readonly Uint8Array[], rejected: readonly number[] = []): void {
    // The new state may make a refused tx valid (an account funded, a nonce reached).
    this.#refused.clear()
    const refusedAt = new Set(rejected)
    committedTxs.forEach((tx, i) => {
      const key = this.#txKey(tx)
      const held = this.#txs.get(key)
      if (held !== undefined) {
        this.#txs.delete(key)
        this.#bytes -= held.byteLength
      }
      if (refusedAt.has(i)) return
      if (this.#committed.size >= this.#committedCacheSize) this.#committed.clear()
      this.#committed.add(key)
    })
    for (const [key, tx] of this.#txs) {
      if (!this.#app.checkTx(tx).ok) {
        this.#txs.delete(key)
        this.#bytes -= tx.byteLength
      }
    }
  }
}
