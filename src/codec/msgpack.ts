/**
 * Canonical msgpack: one msgpackr configuration without records or extensions, so equal values
 * always give equal bytes. What is hashed or signed (consensus messages, blocks) and what must
 * hash back to a committed app hash (chain-state snapshots) is packed through here.
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

export function packCanonical(value: unknown): Uint8Array {
  const buf = packr.pack(value)
  // Return a copy of exactly the bytes packed (msgpackr may hand back a slice of a pool).
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).slice()
}

/** Throws what msgpackr throws on bytes that are not msgpack. */
export function unpackCanonical(bytes: Uint8Array): unknown {
  return packr.unpack(bytes)
}
