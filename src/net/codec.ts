/**
 * The one wire codec for gossip payloads: msgpackr, with the size cap checked before any
 * decoding so an oversized message costs nothing but its receipt.
 */
import { Packr } from 'msgpackr'
import { MalformedMessageError, MessageTooLargeError } from './errors.ts'

// Plain maps and no record extension: the encoding stays self-describing and any
// msgpack implementation can read it. Maps decode as plain objects (never Map).
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' })

export function encodeMessage(value: unknown, maxBytes: number, what = 'message'): Uint8Array {
  const bytes = packr.pack(value)
  if (bytes.byteLength > maxBytes) throw new MessageTooLargeError(what, bytes.byteLength, maxBytes)
  // Buffer is a Uint8Array subclass; hand out a plain view so equality checks are exact.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export function decodeMessage(bytes: Uint8Array, maxBytes: number, what = 'message'): unknown {
  if (bytes.byteLength > maxBytes) throw new MessageTooLargeError(what, bytes.byteLength, maxBytes)
  let value: unknown
  try {
    value = packr.unpack(bytes)
  } catch (error) {
    throw new MalformedMessageError(what, 'not msgpack', { cause: error })
  }
  return normalise(value)
}

/** msgpackr yields Buffers for bin fields; payload shapes expect plain Uint8Arrays. */
function normalise(value: unknown): unknown {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  if (Array.isArray(value)) return value.map(normalise)
  if (typeof value === 'object' && value !== null) {
    // Only plain maps are data; msgpackr turns some byte patterns (0xc1, extensions) into
    // objects of its own classes, which no payload type allows.
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null)
      throw new MalformedMessageError('message', 'not plain msgpack data')
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = normalise(v)
    return out
  }
  return value
}
