/**
 * The chain state as bytes, for snapshots on disk: a restart loads the state of a recent
 * height instead of re-executing every block from genesis.
 *
 * Every table is written in key order, every value as a tagged tree, so the bytes decode to
 * exactly the values written: a bigint stays a bigint (the state hash writes both a bigint
 * and a decimal string as the same JSON, so a lossy codec could pass the hash check and still
 * change behaviour), null stays null, an object keeps its key order. Fields holding undefined
 * are left out, as the state hash leaves them out.
 *
 *   value  := string | number | boolean | null
 *           | ['b', decimal]              a bigint
 *           | ['a', value…]               an array
 *           | ['o', key, value, …]        a plain object, keys in their order
 *
 * Decoding trusts nothing: any other shape is a CorruptDataError naming what is wrong, and the
 * caller still checks the decoded state against the app hash the chain committed.
 */
import { packCanonical, unpackCanonical } from '../codec/msgpack.ts'
import { assert } from '../runtime/assert.ts'
import { CorruptDataError } from '../runtime/errors.ts'
import type { ChainState } from './state.ts'
import type { Table } from './store.ts'

/** Bumped when the layout changes: a snapshot of another layout is refused, not misread. */
export const SNAPSHOT_FORMAT = 1

/** Every table's entries, by table name, as a snapshot holds them. */
export type TableEntries = ReadonlyMap<string, readonly (readonly [string, unknown])[]>

function tag(value: unknown, where: string): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      assert(Number.isFinite(value), `state value ${where} is not a finite number`)
      return value
    case 'bigint':
      return ['b', value.toString()]
    case 'object': {
      if (value === null) return null
      if (Array.isArray(value)) return ['a', ...value.map((v, i) => tag(v, `${where}[${i}]`))]
      assert(Object.getPrototypeOf(value) === Object.prototype, `state value ${where} is not a plain object`)
      const out: unknown[] = ['o']
      for (const [k, v] of Object.entries(value)) if (v !== undefined) out.push(k, tag(v, `${where}.${k}`))
      return out
    }
    default:
      throw new TypeError(`state value ${where} has type ${typeof value}, which a snapshot cannot hold`)
  }
}

function untag(value: unknown, where: string): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CorruptDataError(`snapshot value ${where} is not a finite number`)
    return value
  }
  if (!Array.isArray(value) || value.length === 0)
    throw new CorruptDataError(`snapshot value ${where} is neither a primitive nor a tagged list`)
  switch (value[0]) {
    case 'b':
      if (value.length !== 2 || typeof value[1] !== 'string' || !/^-?[0-9]+$/.test(value[1]))
        throw new CorruptDataError(`snapshot value ${where} is not a decimal bigint`)
      return BigInt(value[1])
    case 'a':
      return value.slice(1).map((v, i) => untag(v, `${where}[${i}]`))
    case 'o': {
      if (value.length % 2 !== 1) throw new CorruptDataError(`snapshot object ${where} has a key without a value`)
      const out: Record<string, unknown> = {}
      for (let i = 1; i < value.length; i += 2) {
        const key = value[i]
        if (typeof key !== 'string') throw new CorruptDataError(`snapshot object ${where} has a key that is not text`)
        if (Object.hasOwn(out, key)) throw new CorruptDataError(`snapshot object ${where} repeats key '${key}'`)
        // defineProperty: a key such as `__proto__` must be data, not a prototype switch.
        Object.defineProperty(out, key, {
          value: untag(value[i + 1], `${where}.${key}`),
          enumerable: true,
          writable: true,
          configurable: true,
        })
      }
      return out
    }
    default:
      throw new CorruptDataError(`snapshot value ${where} has an unknown tag`)
  }
}

/** The state's tables as bytes (see the module comment). */
export function encodeChainState(state: ChainState): Uint8Array {
  const tables = state
    .allTables()
    .map((t: Table<unknown>) => [t.name, t.entries().map(([k, v]) => [k, tag(v, `${t.name}/${k}`)])])
  return packCanonical([SNAPSHOT_FORMAT, tables])
}

/** Bytes one table entry takes in a snapshot (its key and tagged value), for footprint measures. */
export function encodedEntryBytes(key: string, value: unknown): number {
  return packCanonical([key, tag(value, key)]).length
}

/**
 * The tables of encoded state bytes. Checks the layout only (format, one entry per table of
 * `expected`, keys sorted and unique); what the values mean is checked by the app hash.
 */
export function decodeChainState(bytes: Uint8Array, expected: readonly string[]): TableEntries {
  let top: unknown
  try {
    top = unpackCanonical(bytes)
  } catch (error) {
    throw new CorruptDataError('snapshot state is not msgpack', { cause: (error as Error).message })
  }
  if (!Array.isArray(top) || top.length !== 2) throw new CorruptDataError('snapshot state is not [format, tables]')
  if (top[0] !== SNAPSHOT_FORMAT)
    throw new CorruptDataError(`snapshot state has format ${String(top[0])}; this node reads format ${SNAPSHOT_FORMAT}`)
  if (!Array.isArray(top[1])) throw new CorruptDataError('snapshot tables are not a list')
  const tables = new Map<string, [string, unknown][]>()
  for (const table of top[1] as unknown[]) {
    if (!Array.isArray(table) || table.length !== 2 || typeof table[0] !== 'string' || !Array.isArray(table[1]))
      throw new CorruptDataError('snapshot table is not [name, entries]')
    const name = table[0]
    if (!expected.includes(name)) throw new CorruptDataError(`snapshot has an unknown table '${name}'`)
    if (tables.has(name)) throw new CorruptDataError(`snapshot repeats table '${name}'`)
    const entries: [string, unknown][] = []
    let previous: string | undefined
    for (const entry of table[1] as unknown[]) {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string')
        throw new CorruptDataError(`snapshot table '${name}' has an entry that is not [key, value]`)
      const key = entry[0]
      if (previous !== undefined && !(previous < key))
        throw new CorruptDataError(`snapshot table '${name}' keys are not sorted and unique at '${key}'`)
      previous = key
      entries.push([key, untag(entry[1], `${name}/${key}`)])
    }
    tables.set(name, entries)
  }
  for (const name of expected) if (!tables.has(name)) throw new CorruptDataError(`snapshot lacks table '${name}'`)
  return tables
}
