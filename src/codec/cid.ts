/**
 * Content identifiers of raw bytes: CIDv1, raw codec (0x55), sha2-256. A tensor bundle's,
 * a gradient's and a dataset's CID is the hash of its canonical bytes.
 */
import { CID } from 'multiformats/cid'
import { code as RAW_CODEC } from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { BoundedMemo } from '../runtime/bounded-memo.ts'
import { CID_PARSE_CACHE_ENTRIES } from '../runtime/limits.ts'
import { sha256 } from './hash.ts'

/** The multihash code of sha2-256. */
const SHA2_256_CODE = 0x12

/** The CID of raw bytes (given whole or as parts that concatenate to them). */
export function cidOf(bytes: Uint8Array | readonly Uint8Array[]): CID {
  return cidOfDigest(bytes instanceof Uint8Array ? sha256(bytes) : sha256(...bytes))
}

/** The raw-codec CID of a sha2-256 digest computed by the caller. */
export function cidOfDigest(digest: Uint8Array): CID {
  return CID.createV1(RAW_CODEC, Digest.create(SHA2_256_CODE, digest))
}

/** Whether each string parsed: the chain checks the same CIDs at admission, recheck and execution. */
const parsed = new BoundedMemo<string, boolean>(CID_PARSE_CACHE_ENTRIES)

/** Whether `text` parses as a CID (a name of content, before any fetch). */
export function isCid(text: unknown): text is string {
  if (typeof text !== 'string' || text.length === 0) return false
  return parsed.getOrCompute(text, () => parses(text))
}

/**
 * Whether `text` is a CID in its canonical string form (what the chain stores: parsing and
 * printing it gives it back), at most 128 characters. Remembered per string (bounded), as the
 * chain checks the same CIDs at admission, recheck and execution.
 */
export function isCanonicalCid(text: unknown): text is string {
  if (typeof text !== 'string' || text.length > 128) return false
  return canonical.getOrCompute(text, () => {
    try {
      return CID.parse(text).toString() === text
    } catch {
      return false
    }
  })
}

const canonical = new BoundedMemo<string, boolean>(CID_PARSE_CACHE_ENTRIES)

function parses(text: string): boolean {
  try {
    CID.parse(text)
    return true
  } catch {
    return false
  }
}
