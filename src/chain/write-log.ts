/**
 * The keys each recent block wrote in one table, by height: how a reader learns what changed
 * since the block it last read without walking the table. Not state: it is neither hashed nor
 * in snapshots, and a node that did not execute a block (restored from a snapshot since) cannot
 * answer for it. Keys written by dry runs (`checkTx`, rolled back) count with the next block:
 * the log may name a key that did not change, never miss one that did.
 */
export class WriteLog {
  /** Heights the log keeps: a reader further behind walks the table instead. */
  readonly heights: number
  readonly #byHeight = new Map<number, readonly string[]>()
  /** The first height the log holds without a gap (null: none yet). */
  #from: number | null = null
  #to = -1

  constructor(heights: number) {
    this.heights = heights
  }

  /** `keys` were written by block `height`, the block after the last recorded (else the log starts again there). */
  record(height: number, keys: readonly string[]): void {
    if (this.#from === null || height !== this.#to + 1) {
      this.#byHeight.clear()
      this.#from = height
    }
    this.#byHeight.set(height, keys)
    this.#to = height
    while (this.#to - this.#from + 1 > this.heights) {
      this.#byHeight.delete(this.#from)
      this.#from++
    }
  }

  /**
   * The keys written by blocks `from + 1` to `to` (a key may come more than once), or undefined
   * when the log does not hold every one of those blocks.
   */
  since(from: number, to: number): string[] | undefined {
    if (to <= from) return []
    if (this.#from === null || from + 1 < this.#from || to > this.#to) return undefined
    const out: string[] = []
    for (let h = from + 1; h <= to; h++) for (const key of this.#byHeight.get(h) ?? []) out.push(key)
    return out
  }

  /** Forget every block (the table was replaced whole, from a snapshot). */
  clear(): void {
    this.#byHeight.clear()
    this.#from = null
    this.#to = -1
  }
}
