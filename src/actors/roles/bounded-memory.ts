/**
 * The bounded memories of the verification roles, as values an `assign` can return: each
 * update returns a new collection and leaves the old one as it was (a machine's context is
 * never changed in place), and past its bound (`MAX_REMEMBERED_VERIFICATIONS` unless told) the
 * oldest entries go.
 */
import { MAX_REMEMBERED_VERIFICATIONS } from '../../runtime/limits.ts'

/** `map` with `key` set to `value` (newest last), less its oldest entries past the bound. */
export function remembered<K, V>(map: ReadonlyMap<K, V>, key: K, value: V): ReadonlyMap<K, V> {
  return rememberedAll(map, [key], value)
}

/**
 * `map` with every key of `keys` set to `value` (newest last), less its oldest entries past
 * `bound`: one copy for the lot, where a block brings hundreds.
 */
export function rememberedAll<K, V>(
  map: ReadonlyMap<K, V>,
  keys: readonly K[],
  value: V,
  bound: number = MAX_REMEMBERED_VERIFICATIONS,
): ReadonlyMap<K, V> {
  if (keys.length === 0) return map
  const next = new Map(map)
  for (const key of keys) {
    next.delete(key)
    next.set(key, value)
  }
  for (const oldest of next.keys()) {
    if (next.size <= bound) break
    next.delete(oldest)
  }
  return next
}

/** `map` without `key`. */
export function forgotten<K, V>(map: ReadonlyMap<K, V>, key: K): ReadonlyMap<K, V> {
  if (!map.has(key)) return map
  const next = new Map(map)
  next.delete(key)
  return next
}

/**
 * A set of keys bounded by count, changed in place: the oldest added go past `bound`. For a
 * role's memory that is large and touched at every block (a challenger's collected claims, tens
 * of thousands at a thousand miners): the copy per change the values above make cost more than
 * everything else the role did. It belongs to one machine, which alone changes it, in its own
 * actions; nothing reads it from a snapshot.
 */
export class BoundedSet<K> {
  readonly bound: number
  readonly #keys = new Set<K>()
  /** Keys `deleteAll` took out since the last `takeReleased` (null: more than `bound`). */
  #released: K[] | null = []

  constructor(bound: number) {
    this.bound = bound
  }

  get size(): number {
    return this.#keys.size
  }

  has(key: K): boolean {
    return this.#keys.has(key)
  }

  /** Add `keys` (newest last); past the bound the oldest go. */
  addAll(keys: Iterable<K>): void {
    for (const key of keys) this.#keys.add(key)
    for (const oldest of this.#keys) {
      if (this.#keys.size <= this.bound) break
      this.#keys.delete(oldest)
    }
  }

  /** Take `keys` out; they are released (`takeReleased`). The oldest going past the bound are not. */
  deleteAll(keys: Iterable<K>): void {
    for (const key of keys) {
      if (!this.#keys.delete(key) || this.#released === null) continue
      if (this.#released.length < this.bound) this.#released.push(key)
      else this.#released = null
    }
  }

  /**
   * The keys taken out by `deleteAll` since the last call (a key may come twice), or null when
   * there were more than `bound` of them; and start again.
   */
  takeReleased(): K[] | null {
    const released = this.#released
    this.#released = []
    return released
  }
}
