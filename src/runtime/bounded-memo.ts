/**
 * A memo of pure results with a fixed capacity: when full, the oldest entry is dropped (first
 * in, first out, O(1)). Meant for caches a peer can fill with
 * junk: eviction costs the same whatever the keys, and a miss only costs the computation again.
 * The order of arrival is kept in a ring beside the map: finding the oldest through the map's
 * own order (`keys().next()`) walks past every entry deleted since the map last compacted, one
 * eviction per miss made that the larger cost of a full memo.
 * (lru-cache would also reorder on every hit; for pure results that recency buys little, and
 * a Map with a ring of keys is all this needs.)
 */
export class BoundedMemo<K, V> {
  readonly capacity: number
  readonly #entries = new Map<K, V>()
  /** Keys in order of arrival: a ring of `capacity` whose slot `#next` holds the oldest once full. */
  #order: K[] = []
  #next = 0

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
    if (!this.#entries.has(key)) {
      if (this.#order.length < this.capacity) this.#order.push(key)
      else {
        this.#entries.delete(this.#order[this.#next] as K)
        this.#order[this.#next] = key
        this.#next = (this.#next + 1) % this.capacity
      }
    }
    this.#entries.set(key, value)
  }

  clear(): void {
    this.#entries.clear()
    this.#order = []
    this.#next = 0
  }
}
