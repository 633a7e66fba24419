/**
 * Canonical byte encodings. Everything that is hashed or signed is first turned into a
 * fixed-order array (never an object, whose key order could differ between encoders), then
 * packed canonically (codec/msgpack.ts), so equal values always give equal bytes.
 */
import { packCanonical, unpackCanonical } from '../codec/msgpack.ts'

export function encode(value: unknown): Uint8Array {
  return packCanonical(value)
}

export function decode(bytes: Uint8Array): unknown {
  return unpackCanonical(bytes)
}

/** Decoded msgpack `bin` values come back as Buffers; normalise to plain Uint8Array views. */
export function asBytes(value: unknown, what: string): Uint8Array {
  if (value instanceof Uint8Array) return value
  throw new TypeError(`${what} must be bytes`)
}
