/**
 * The digest of the claim list an aggregate took. An aggregate names this fixed 32 bytes
 * instead of its claim ids, so its transaction stays the same size however many submissions a
 * subnet's window holds; the chain knows the one valid list (the window's accepted submissions
 * of the subnet, in the chain's order, less those declared unavailable), hashes it the same
 * way and compares.
 *
 * SHA-256("r3mes/claims/1\0" ‖ count ‖ for each id: byte length ‖ UTF-8 bytes), count and
 * lengths as 4-byte big-endian: the domain keeps it apart from every other hash of the chain,
 * and the length prefixes make two different lists never feed the same bytes.
 */
import { sha256Hex } from '../codec/hash.ts'

const DOMAIN = 'r3mes/claims/1\0'
const utf8 = new TextEncoder()

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n)
  return out
}

/** The digest of `ids`, in their order, as 64 lowercase hex characters. */
export function claimListDigest(ids: readonly string[]): string {
  const parts: (Uint8Array | string)[] = [DOMAIN, u32(ids.length)]
  for (const id of ids) {
    const bytes = utf8.encode(id)
    parts.push(u32(bytes.length), bytes)
  }
  return sha256Hex(...parts)
}
