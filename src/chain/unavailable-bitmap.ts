/**
 * The `unavailable` field of an aggregate: a bitmap over the chain's accepted submissions of
 * its (window, subnet), in the chain's order. Bit i set declares accepted submission i
 * unavailable (its gradient was not served in time, which opens an availability dispute).
 *
 * Bit i is bit (i mod 8), least significant first, of byte ⌊i / 8⌋; the bitmap of n
 * submissions is exactly ⌈n / 8⌉ bytes and its padding bits (n and up, in the last byte) are
 * zero, so a set of declared submissions has one encoding. A list of claim ids (about 55 bytes
 * each) let a transaction declare only about 33 of them under a 2,048-byte `maxTxBytes`, so a
 * few dozen withholding miners could keep every aggregate of their subnet off the chain; one
 * bit each keeps the largest window's declaration inside the limit (params.ts,
 * AGGREGATE_TX_FIXED_BYTES).
 *
 * In memory the bitmap is lowercase hex, like every other byte field of a message; on the
 * wire it travels as raw bytes (tx-wire.ts).
 */
import { fromHex, toHex } from '../codec/bytes.ts'
import { reject, TxCode } from './errors.ts'

/** Bytes of the bitmap over `n` accepted submissions. */
export function unavailableBitmapBytes(n: number): number {
  return Math.ceil(n / 8)
}

/**
 * The bitmap (hex) declaring `unavailable` among `accepted` (the chain's accepted submissions
 * of the window and subnet, in its order). Every declared id must be one of `accepted`: a
 * builder that names anything else has lost track of the chain's list.
 */
export function unavailableBitmap(accepted: readonly string[], unavailable: Iterable<string>): string {
  const index = new Map(accepted.map((id, i) => [id, i]))
  const bits = new Uint8Array(unavailableBitmapBytes(accepted.length))
  for (const id of unavailable) {
    const i = index.get(id)
    if (i === undefined) throw new RangeError(`${id} is not one of the ${accepted.length} accepted submissions`)
    bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7))
  }
  return toHex(bits)
}

const byteCount = (n: number): string => (n === 1 ? '1 byte' : `${n} bytes`)

/**
 * The ids the bitmap `hex` declares unavailable among `accepted`, in the chain's order.
 * Refused (ERR_BAD_AGGREGATE, naming 'msg.unavailable') unless it is exactly
 * ⌈accepted.length / 8⌉ bytes with every padding bit zero.
 */
export function declaredUnavailable(hex: string, accepted: readonly string[], what: string): string[] {
  const bits = fromHex(hex)
  const expected = unavailableBitmapBytes(accepted.length)
  if (bits === undefined || bits.length !== expected)
    reject(
      TxCode.badAggregate,
      `'msg.unavailable' must be ${byteCount(expected)}, one bit for each of the ${accepted.length} accepted submissions of ${what}; it is ${bits === undefined ? 'not hex' : byteCount(bits.length)}`,
      { field: 'msg.unavailable', expectedBytes: expected, bytes: bits?.length ?? null },
    )
  const padding = accepted.length & 7
  if (padding !== 0 && (bits[expected - 1] as number) >> padding !== 0)
    reject(
      TxCode.badAggregate,
      `'msg.unavailable' sets a padding bit past the ${accepted.length} accepted submissions of ${what}: bits ${accepted.length} and up must be zero`,
      { field: 'msg.unavailable' },
    )
  return accepted.filter((_, i) => (((bits[i >> 3] as number) >> (i & 7)) & 1) === 1)
}
