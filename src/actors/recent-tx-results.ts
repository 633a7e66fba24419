/**
 * Where recent transactions landed: the height and result of each transaction in the blocks
 * this node executed, for `GET /tx/<id>` (a client that sent one learns whether it was taken).
 * Bounded: past `capacity` the oldest entry is forgotten first, however busy the chain.
 */
export interface TxRecord {
  readonly txId: string
  readonly height: number
  /** 'OK' or the chain's rejection code (chain/errors.ts). */
  readonly code: string
  readonly log: string
}

export class RecentTxResults {
  readonly #capacity: number
  /** Insertion order is age order: the first key is the oldest. */
  readonly #byId = new Map<string, TxRecord>()

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be ≥ 1, got ${capacity}`)
    this.#capacity = capacity
  }

  get size(): number {
    return this.#byId.size
  }

  record(entry: TxRecord): void {
    // A transaction id is in at most one executed block, but a replayed block (restart) may
    // record it again: the newest entry wins and moves to the young end.
    this.#byId.delete(entry.txId)
    this.#byId.set(entry.txId, entry)
    while (this.#byId.size > this.#capacity) {
      const oldest = this.#byId.keys().next()
      if (oldest.done === true) break
      this.#byId.delete(oldest.value)
    }
  }

  get(txId: string): TxRecord | undefined {
    return this.#byId.get(txId)
  }
}
