/**
 * Byte-level arbitraries for decoder fuzzing: random bytes, and valid encodings damaged the
 * ways a hostile peer or a torn disk write damages them (bit flips, inserted, deleted and
 * overwritten bytes, truncation, extension). Most interesting inputs are near-valid: random
 * bytes rarely get past a decoder's first check, a mutated valid encoding reaches its depths.
 */
import fc from 'fast-check'

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number }
  | { op: 'truncate'; at: number }
  | { op: 'extend'; bytes: Uint8Array }

const position = fc.nat({ max: 0x7fffffff })

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }),
  fc.record({
    op: fc.constant('set' as const),
    at: position,
    value: fc.oneof(fc.constantFrom(0x00, 0x7f, 0x80, 0xc1, 0xff, 0xd4, 0xc7, 0xdc, 0xdd), fc.nat({ max: 255 })),
  }),
  fc.record({ op: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: position, count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: position }),
  fc.record({ op: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
)

export function applyMutation(bytes: Uint8Array, m: Mutation): Uint8Array {
  const n = bytes.byteLength
  switch (m.op) {
    case 'flip': {
      if (n === 0) return bytes
      const out = bytes.slice()
      out[m.at % n] = (out[m.at % n] as number) ^ (1 << m.bit)
      return out
    }
    case 'set': {
      if (n === 0) return bytes
      const out = bytes.slice()
      out[m.at % n] = m.value
      return out
    }
    case 'insert': {
      const at = m.at % (n + 1)
      return concat(bytes.subarray(0, at), m.bytes, bytes.subarray(at))
    }
    case 'delete': {
      if (n === 0) return bytes
      const at = m.at % n
      return concat(bytes.subarray(0, at), bytes.subarray(Math.min(n, at + m.count)))
    }
    case 'truncate':
      return bytes.slice(0, m.at % (n + 1))
    case 'extend':
      return concat(bytes, m.bytes)
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.byteLength
  }
  return out
}

/** A valid encoding from `valid`, damaged by one to four mutations. */
export function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 4 }))
    .map(([bytes, ms]) => ms.reduce(applyMutation, bytes))
}

/** Random bytes, and damaged valid encodings (three in four: they reach deeper). */
export function hostileBytes(valid: fc.Arbitrary<Uint8Array>, maxLength = 512): fc.Arbitrary<Uint8Array> {
  return fc.oneof({ weight: 1, arbitrary: fc.uint8Array({ maxLength }) }, { weight: 3, arbitrary: mutated(valid) })
}

// biome-ignore lint/suspicious/noExplicitAny: any error class, whatever its constructor's parameters
type ErrorClass = abstract new (...args: any[]) => Error

/**
 * Run `decode`; a result or one of the decoder's own typed errors is fine, anything else
 * (TypeError, RangeError, stack overflow, an assertion) is rethrown so fast-check reports it
 * with its seed and a shrunk counterexample.
 */
export function onlyTyped<T>(decode: () => T, ...allowed: ErrorClass[]): T | undefined {
  try {
    return decode()
  } catch (error) {
    if (allowed.some((c) => error instanceof c)) return undefined
    throw error
  }
}

export async function onlyTypedAsync<T>(decode: () => Promise<T>, ...allowed: ErrorClass[]): Promise<T | undefined> {
  try {
    return await decode()
  } catch (error) {
    if (allowed.some((c) => error instanceof c)) return undefined
    throw error
  }
}

/** Runs per property: enough to reach deep branches, few enough for a slow shared machine. */
export const FUZZ_RUNS = 300

/** fast-check parameters shared by every fuzzer: a run budget and a wall-clock stop. */
export function fuzzParams<T>(extra: fc.Parameters<T> = {}): fc.Parameters<T> {
  return { numRuns: FUZZ_RUNS, interruptAfterTimeLimit: 4_000, ...extra }
}

/** fc.record with plain objects (fast-check may otherwise build null-prototype ones, which no decoder returns). */
export function rec<T extends object>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as unknown as fc.Arbitrary<T>
}
