/**
 * Journaled key-value tables: the state's only storage.
 *
 * Every write records how to undo it, so a transaction that fails halfway is rolled back
 * exactly (`rollback(mark)`), and `checkTx` can dry-run a transaction against the committed
 * state and leave no trace. Values are treated as immutable: update by `set(key, {...old, x})`,
 * never by mutating what `get` returned.
 *
 * Iteration order of a Map depends on insertion history, which a rollback perturbs; so
 * anything that feeds state walks `sortedKeys()`, and the state hash sorts too.
 */
import { canonicalJson, type JsonValue } from '../codec/canonical-json.ts'
import { sha256 } from '../codec/hash.ts'

/** A key's value before the writes since the last `takeChanges` (absent: the key did not exist). */
export interface PriorValue {
  readonly had: boolean
  readonly old: unknown
}

/**
 * What writes since the last `takeChanges` replaced, per table and key: applied back (newest
 * set first), they give the state as it was, which is how one state answers for a reader that
 * is some blocks behind it (src/sim/shared-execution.ts).
 */
export type StateChanges = ReadonlyMap<Table<unknown>, ReadonlyMap<string, PriorValue>>

export class Journal {
  #undo: (() => void)[] = []
  /** The first value each write replaced, when changes are tracked; undefined otherwise (the node's case). */
  #changes: Map<Table<unknown>, Map<string, PriorValue>> | undefined
  #paused = false
  mark(): number {
    return this.#undo.length
  }
  rollback(mark: number): void {
    while (this.#undo.length > mark) (this.#undo.pop() as () => void)()
  }
  /** Forget undo entries once a block is final (they would only grow). */
  commit(): void {
    this.#undo = []
  }
  record(undo: () => void): void {
    this.#undo.push(undo)
  }
  /** Track what writes replace from now on (see `takeChanges`). */
  trackChanges(): void {
    this.#changes ??= new Map()
  }
  /** Writes during `fn` are not tracked (they are rolled back before it returns). */
  untracked<T>(fn: () => T): T {
    const was = this.#paused
    this.#paused = true
    try {
      return fn()
    } finally {
      this.#paused = was
    }
  }
  /** A write is about to replace `old` (or create `key`, when `had` is false). */
  touched(table: Table<unknown>, key: string, had: boolean, old: unknown): void {
    if (this.#changes === undefined || this.#paused) return
    let byKey = this.#changes.get(table)
    if (byKey === undefined) {
      byKey = new Map()
      this.#changes.set(table, byKey)
    }
    if (!byKey.has(key)) byKey.set(key, { had, old })
  }
  /**
   * The first value each key had before the writes since the last call (a key written and
   * rolled back appears with its unchanged value), and start again. Empty unless tracked.
   */
  takeChanges(): StateChanges {
    const changes = this.#changes ?? new Map()
    if (this.#changes !== undefined) this.#changes = new Map()
    return changes
  }
}

export class Table<V> {
  readonly name: string
  readonly #map = new Map<string, V>()
  readonly #journal: Journal
  /** Bumped by every write and every undo: lets the state hash skip tables that did not change. */
  #version = 0
  /**
   * The keys in order, kept until a key comes or goes: most writes replace a value, and the
   * state hash walks every changed table in key order after each block.
   */
  #sorted: string[] | undefined
  /**
   * The entries split into DIGEST_LEAVES leaves by key (`leafOf`), under DIGEST_GROUPS group
   * digests, built on the first `digest()` and kept up to date by every write and undo from then
   * on: a block rehashes only the leaves it touched and their groups, where one digest over the
   * whole table cost time in proportion to the state.
   */
  #tree: DigestTree | undefined
  #digest: { readonly version: number; readonly value: Uint8Array } | undefined
  /** Keys written since the last `takeWritten` (writes and undos alike), when tracked. */
  #written: Set<string> | undefined

  constructor(name: string, journal: Journal) {
    this.name = name
    this.#journal = journal
  }

  get(key: string): V | undefined {
    return this.#map.get(key)
  }

  has(key: string): boolean {
    return this.#map.has(key)
  }

  get version(): number {
    return this.#version
  }

  get size(): number {
    return this.#map.size
  }

  set(key: string, value: V): void {
    const had = this.#map.has(key)
    const old = this.#map.get(key)
    this.#journal.touched(this as Table<unknown>, key, had, old)
    this.#map.set(key, value)
    this.#version++
    this.#written?.add(key)
    const prior = this.#changed(key, had ? 'kept' : 'added')
    if (!had) this.#sorted = undefined
    this.#journal.record(() => {
      this.#version++
      this.#written?.add(key)
      if (had) {
        this.#map.set(key, old as V)
        this.#changed(key, 'kept')
      } else {
        this.#map.delete(key)
        this.#changed(key, 'removed')
        this.#sorted = undefined
      }
      this.#restore(prior)
    })
  }

  delete(key: string): void {
    if (!this.#map.has(key)) return
    const old = this.#map.get(key) as V
    this.#journal.touched(this as Table<unknown>, key, true, old)
    this.#map.delete(key)
    this.#version++
    this.#written?.add(key)
    const prior = this.#changed(key, 'removed')
    this.#sorted = undefined
    this.#journal.record(() => {
      this.#version++
      this.#written?.add(key)
      this.#map.set(key, old)
      this.#changed(key, 'added')
      this.#sorted = undefined
      this.#restore(prior)
    })
  }

  /**
   * Replace every entry at once (restoring a snapshot): outside any transaction, so nothing is
   * journaled, and the version moves on so no cached digest of the old content is reused.
   */
  replaceAll(entries: Iterable<readonly [string, V]>): void {
    this.#map.clear()
    for (const [key, value] of entries) this.#map.set(key, value)
    this.#version++
    this.#sorted = undefined
    this.#tree = undefined
  }

  /** Remember the keys written from now on (`takeWritten`). */
  trackWrites(): void {
    this.#written ??= new Set()
  }

  /** The keys written (set, deleted, or put back by an undo) since the last call, and start again. Empty unless tracked. */
  takeWritten(): string[] {
    if (this.#written === undefined || this.#written.size === 0) return []
    const keys = [...this.#written]
    this.#written.clear()
    return keys
  }

  /**
   * Keeps the digest tree (once built) in step with a write or undo of `key`, and returns the
   * digests the write made stale (`#restore` puts them back when it is undone).
   */
  #changed(key: string, how: 'kept' | 'added' | 'removed'): PriorDigests | undefined {
    const tree = this.#tree
    if (tree === undefined) return undefined
    const i = leafOf(key)
    const group = groupAt(tree, Math.floor(i / LEAVES_PER_GROUP))
    const leaf = leafAt(group, i % LEAVES_PER_GROUP)
    const prior: PriorDigests = { tree, group, leaf, leafDigest: leaf.digest, groupDigest: group.digest }
    group.digest = undefined
    leaf.digest = undefined
    if (how === 'kept') return prior
    if (how === 'added') leaf.keys.add(key)
    else leaf.keys.delete(key)
    leaf.sorted = undefined
    return prior
  }

  /**
   * After a write is undone, the digests it made stale hold again: undos run newest first, so
   * the leaf and its group are back to the content those digests were taken of. A dry run
   * (`checkTx`, rolled back) then costs the next block's state hash nothing.
   */
  #restore(prior: PriorDigests | undefined): void {
    if (prior === undefined || prior.tree !== this.#tree) return
    prior.leaf.digest = prior.leafDigest
    prior.group.digest = prior.groupDigest
  }

  /**
   * SHA-256 over the table's DIGEST_GROUPS group digests in order; a group's is SHA-256 over
   * its LEAVES_PER_GROUP leaf digests in order, and a leaf's the SHA-256 of its entries in key
   * order, one `key-json:value-json` line each (an empty leaf: the hash of nothing). One
   * content, one digest, whatever order the writes came in.
   */
  digest(): Uint8Array {
    if (this.#digest !== undefined && this.#digest.version === this.#version) return this.#digest.value
    if (this.#tree === undefined) this.#tree = this.#builtTree()
    const tree = this.#tree
    const groups: Uint8Array[] = []
    for (const group of tree.groups) {
      if (group === undefined) {
        // Most groups of a small table have no key: their digest is a constant.
        groups.push(EMPTY_GROUP)
        continue
      }
      if (group.digest === undefined) {
        const leaves: Uint8Array[] = []
        for (const leaf of group.leaves) leaves.push(this.#leafDigest(leaf))
        group.digest = sha256(...leaves)
      }
      groups.push(group.digest)
    }
    const value = sha256(...groups)
    this.#digest = { version: this.#version, value }
    return value
  }

  #builtTree(): DigestTree {
    const tree: DigestTree = { groups: Array.from({ length: DIGEST_GROUPS }, () => undefined) }
    for (const key of this.#map.keys()) {
      const i = leafOf(key)
      leafAt(groupAt(tree, Math.floor(i / LEAVES_PER_GROUP)), i % LEAVES_PER_GROUP).keys.add(key)
    }
    return tree
  }

  #leafDigest(leaf: DigestLeaf | undefined): Uint8Array {
    if (leaf === undefined || leaf.keys.size === 0) return EMPTY_LEAF
    if (leaf.digest === undefined) {
      leaf.sorted ??= [...leaf.keys].sort()
      // One update of the joined text: many tiny native hash updates cost more than the join.
      leaf.digest = sha256(leaf.sorted.map((k) => `${JSON.stringify(k)}:${encodeValue(this.#map.get(k))}\n`).join(''))
    }
    return leaf.digest
  }

  #keysInOrder(): readonly string[] {
    this.#sorted ??= [...this.#map.keys()].sort()
    return this.#sorted
  }

  sortedKeys(): string[] {
    return this.#keysInOrder().slice()
  }

  /** Entries in key order. */
  entries(): [string, V][] {
    return this.#keysInOrder().map((k) => [k, this.#map.get(k) as V])
  }
}

/** JSON form of a state value: bigints become decimal strings, undefined fields vanish. */
export function toJson(value: unknown): JsonValue {
  if (typeof value === 'bigint') return value.toString()
  if (value === null || typeof value !== 'object') return value as JsonValue
  if (Array.isArray(value)) return value.map(toJson)
  const out: { [k: string]: JsonValue } = {}
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJson(v)
  return out
}

/** Canonical JSON of state values, by identity: values are immutable, so it never goes stale. */
const encoded = new WeakMap<object, string>()

function encodeValue(value: unknown): string {
  if (value === null || typeof value !== 'object') return canonicalJson(toJson(value))
  let text = encoded.get(value)
  if (text === undefined) {
    text = canonicalJson(toJson(value))
    encoded.set(value, text)
  }
  return text
}

/**
 * The state hash: SHA-256("r3mes/state/3" ‖ for each table in name order: name ‖ 0 ‖ table
 * digest, `Table.digest`). One state, one hash, whatever order the writes came in.
 */
export function hashTables(tables: readonly Table<unknown>[]): Uint8Array {
  const parts: (string | Uint8Array)[] = ['r3mes/state/3\0']
  for (const t of [...tables].sort((a, b) => (a.name < b.name ? -1 : 1))) parts.push(t.name, '\0', t.digest())
  return sha256(...parts)
}

/**
 * Leaves a table's digest is split into: a block that changes a few entries rehashes a few
 * leaves, each about 1/4096 of the table, and the groups above them. With 256 flat buckets a
 * block of a large network's thousand writes touched nearly every bucket, and so rehashed
 * nearly the whole table at every block (half of executing a block). 32,768 leaves under 256
 * groups were tried and measured slower in the simulator's full run (2.13 against 1.93 ms of
 * block execution per height): the group bytes it hashed cost more than the entries it spared.
 * Part of the state hash: changing either number changes every app hash.
 */
const DIGEST_LEAVES = 4096
/** Leaf digests under one group digest: a group's rehash reads 2 KiB, the table's 2 KiB. */
const LEAVES_PER_GROUP = 64
const DIGEST_GROUPS = DIGEST_LEAVES / LEAVES_PER_GROUP

/** The digest of a leaf with no entry. */
const EMPTY_LEAF = sha256('')
/** The digest of a group whose leaves have no entry. */
const EMPTY_GROUP = sha256(...Array.from({ length: LEAVES_PER_GROUP }, () => EMPTY_LEAF))

interface DigestTree {
  /** By group index; undefined for a group no key has fallen in yet. */
  readonly groups: (DigestGroup | undefined)[]
}

interface DigestGroup {
  /** LEAVES_PER_GROUP leaves by index in the group; undefined for one no key has fallen in yet. */
  readonly leaves: (DigestLeaf | undefined)[]
  /** Until one of its leaves changes. */
  digest: Uint8Array | undefined
}

interface DigestLeaf {
  readonly keys: Set<string>
  /** `keys` in order, until a key comes or goes. */
  sorted: string[] | undefined
  /** Until one of its entries changes. */
  digest: Uint8Array | undefined
}

/** The digests a write made stale, as they were before it. */
interface PriorDigests {
  readonly tree: DigestTree
  readonly group: DigestGroup
  readonly leaf: DigestLeaf
  readonly leafDigest: Uint8Array | undefined
  readonly groupDigest: Uint8Array | undefined
}

/** Group `g` of `tree`, made (empty) if no key has fallen in it yet. */
function groupAt(tree: DigestTree, g: number): DigestGroup {
  let group = tree.groups[g]
  if (group === undefined) {
    group = { leaves: Array.from({ length: LEAVES_PER_GROUP }, () => undefined), digest: undefined }
    tree.groups[g] = group
  }
  return group
}

/** Leaf `i` of `group`, made (empty) if no key has fallen in it yet. */
function leafAt(group: DigestGroup, i: number): DigestLeaf {
  let leaf = group.leaves[i]
  if (leaf === undefined) {
    leaf = { keys: new Set<string>(), sorted: undefined, digest: undefined }
    group.leaves[i] = leaf
  }
  return leaf
}

/**
 * A key's digest leaf: 32-bit FNV-1a over its UTF-16 code units, modulo DIGEST_LEAVES. Plain
 * integer arithmetic, so every node puts every key in the same leaf. Keys chosen to share a
 * leaf only make that leaf's rehash as slow as a whole table's was.
 */
function leafOf(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h >>> 0) % DIGEST_LEAVES
}
