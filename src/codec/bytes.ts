/** Hex text and byte comparison, the same everywhere bytes are named or ordered. */
import { InvalidHexError } from './errors.ts'

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/**
 * Strict lowercase hex of an even length (of exactly `length` bytes when given) as bytes, or
 * undefined. Buffer's own decoder stops at the first bad character, so two texts would name
 * one value: this one refuses them instead.
 */
export function fromHex(text: unknown, length?: number): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length % 2 !== 0 || !/^[0-9a-f]*$/.test(text)) return undefined
  if (length !== undefined && text.length !== 2 * length) return undefined
  return new Uint8Array(Buffer.from(text, 'hex'))
}

/** As `fromHex`, but throws InvalidHexError naming `what` instead of answering undefined. */
export function hexToBytes(text: unknown, what: string, length?: number): Uint8Array {
  const bytes = fromHex(text, length)
  if (bytes === undefined) throw new InvalidHexError(what, length)
  return bytes
}

export function bytesEqual(left: Uint8Array, right: Uint8Array): boolean {
  if (left.byteLength !== right.byteLength) return false
  for (let i = 0; i < left.byteLength; i++) if (left[i] !== right[i]) return false
  return true
}

/** Lexicographic order of two byte strings (a shorter prefix first). */
export function compareBytes(left: Uint8Array, right: Uint8Array): number {
  const shared = Math.min(left.byteLength, right.byteLength)
  for (let i = 0; i < shared; i++) {
    const difference = (left[i] as number) - (right[i] as number)
    if (difference !== 0) return difference
  }
  return left.byteLength - right.byteLength
}
