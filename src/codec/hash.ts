/**
 * The one SHA-256 (and the SHA-512 the VRF suite names) of the code base, over node:crypto.
 * Strings are hashed as their UTF-8 bytes; several parts hash as their concatenation.
 */
import { createHash, hash } from 'node:crypto'
import { toHex } from './bytes.ts'

export const SHA256_SIZE_BYTES = 32

/** SHA-256 of the concatenated parts. */
export function sha256(...parts: readonly (Uint8Array | string)[]): Uint8Array {
  return digestOf('sha256', parts)
}

/** SHA-256 of the concatenated parts, as lowercase hex. */
export function sha256Hex(...parts: readonly (Uint8Array | string)[]): string {
  return toHex(digestOf('sha256', parts))
}

/** SHA-512 of the concatenated parts. */
export function sha512(...parts: readonly (Uint8Array | string)[]): Uint8Array {
  return digestOf('sha512', parts)
}

/** A SHA-256 fed in pieces, for content that arrives in chunks. */
export interface IncrementalSha256 {
  update(part: Uint8Array | string): IncrementalSha256
  digest(): Uint8Array
}

export function incrementalSha256(): IncrementalSha256 {
  const state = createHash('sha256')
  const hasher: IncrementalSha256 = {
    update(part) {
      state.update(part)
      return hasher
    },
    digest: () => asUint8Array(state.digest()),
  }
  return hasher
}

function digestOf(algorithm: 'sha256' | 'sha512', parts: readonly (Uint8Array | string)[]): Uint8Array {
  // One-shot `crypto.hash` costs much less than a Hash object per call; joining a few byte
  // parts first keeps that path for the consensus core's Merkle nodes.
  if (parts.length === 1) return asUint8Array(hash(algorithm, parts[0] as Uint8Array | string, 'buffer'))
  if (parts.every((part) => part instanceof Uint8Array))
    return asUint8Array(hash(algorithm, Buffer.concat(parts as readonly Uint8Array[]), 'buffer'))
  const state = createHash(algorithm)
  for (const part of parts) state.update(part)
  return asUint8Array(state.digest())
}

/** A plain Uint8Array view of a Buffer (same memory, no copy). */
function asUint8Array(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}
