/** A binary Merkle root over SHA-256 (RFC 6962 leaf/node prefixes, so a leaf never equals a node). */
import { SHA256_SIZE_BYTES, sha256 } from '../codec/hash.ts'

export const HASH_SIZE_BYTES = SHA256_SIZE_BYTES

const LEAF = new Uint8Array([0])
const NODE = new Uint8Array([1])

/** Merkle root of `items` (the hash of nothing for an empty list), splitting at the largest power of two below n. */
export function merkleRoot(items: readonly Uint8Array[]): Uint8Array {
  if (items.length === 0) return sha256()
  return subtreeRoot(items, 0, items.length)
}

function subtreeRoot(items: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const count = end - start
  if (count === 1) return sha256(LEAF, items[start] as Uint8Array)
  let split = 1
  while (split * 2 < count) split *= 2
  return sha256(NODE, subtreeRoot(items, start, start + split), subtreeRoot(items, start + split, end))
}
