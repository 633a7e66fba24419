/**
 * Canonical byte encodings. Everything that is hashed or signed is first turned into a
 * fixed-order array (never an object, whose key order could differ between encoders), then
 * packed by one msgpackr instance configured without records or extensions, so equal values
 * always give equal bytes.
 */
import { Packr } from 'msgpackr'

const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  int64AsType: 'number',
  mapsAsObjects: true,
  variableMapSize: true,
})

export function encode(value: unknown): Uint8Array {
  const buf = packr.pack(value)
  // Return a view over exactly the bytes packed (msgpackr may hand back a slice of a pool).
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).slice()
}

export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes)
}

/** Decoded msgpack `bin` values come back as Buffers; normalise to plain Uint8Array views. */
export function asBytes(value: unknown, what: string): Uint8Array {
  if (value instanceof Uint8Array) return value
  throw new TypeError(`${what} must be bytes`)
}
