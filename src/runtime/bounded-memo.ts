/**
 * A memo of pure results with a fixed capacity: when full, the oldest entry is dropped (first
 * in, first out, O(1) through a Map's insertion order). Meant for caches a peer can fill with
 * junk: eviction costs the same whatever the keys, and a miss only costs the computation again.
 * (lru-cache would also reorder on every hit; for pure results that recency buys little, and
 * a Map in insertion order is all this needs.)
 */
export class BoundedMemo<K, V> {
  readonly capacity: number
  readonly #entries = new Map<K, V>()

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(`a memo's capacity must be a positive integer, not ${capacity}`)
    this.capacity = capacity
  }

  get size(): number {
    return this.#entries.size
  }

  /** The remembered result for `key`, or `compute()`'s (then remembered). */
  getOrCompute(key: K, compute: () => V): V {
    const hit = this.#entries.get(key)
    if (hit !== undefined || this.#entries.has(key)) return hit as V
    const value = compute()
    this.set(key, value)
    return value
  }

  get(key: K): V | undefined {
    return this.#entries.get(key)
  }

  set(key: K, value: V): void {
    if (!this.#entries.has(key) && this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) this.#entries.delete(oldest.value)
    }
    this.#entries.set(key, value)
  }

  clear(): void {
    this.#entries.clear()
  }
}
