/** SHA-256 and a binary Merkle root (RFC 6962 leaf/node prefixes, so a leaf never equals a node). */
import { hash } from 'node:crypto'

export const HASH_SIZE_BYTES = 32

/** SHA-256 of the concatenated parts (one-shot `crypto.hash`: much cheaper than a Hash object per call). */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const data = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts)
  const digest = hash('sha256', data, 'buffer')
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength)
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return a.byteLength - b.byteLength
}

const LEAF = new Uint8Array([0])
const NODE = new Uint8Array([1])

/** Merkle root of `items` (the hash of nothing for an empty list), splitting at the largest power of two below n. */
export function merkleRoot(items: readonly Uint8Array[]): Uint8Array {
  if (items.length === 0) return sha256()
  return subtreeRoot(items, 0, items.length)
}

function subtreeRoot(items: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const n = end - start
  if (n === 1) return sha256(LEAF, items[start] as Uint8Array)
  let k = 1
  while (k * 2 < n) k *= 2
  return sha256(NODE, subtreeRoot(items, start, start + k), subtreeRoot(items, start + k, end))
}
