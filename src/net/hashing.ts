/**
 * Checks that content is what its CID names, for the network layer: CIDv1, sha2-256, raw
 * (codec/cid.ts makes those) or dag-pb (a chunked file's root).
 */
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 as SHA2_256 } from 'multiformats/hashes/sha2'
import { bytesEqual } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'
import { ContentIntegrityError } from './errors.ts'

function digestOf(bytes: Uint8Array | readonly Uint8Array[]): Uint8Array {
  return bytes instanceof Uint8Array ? sha256(bytes) : sha256(...bytes)
}

export function dagPbCid(bytes: Uint8Array): CID {
  return CID.createV1(dagPb.code, Digest.create(SHA2_256.code, sha256(bytes)))
}

/** Throw ContentIntegrityError unless `bytes` hash to `cid` (sha2-256 CIDs only). */
export function verifyBlock(cid: CID, bytes: Uint8Array | readonly Uint8Array[], what = 'block'): void {
  requireSha256(cid, what)
  verifyDigest(cid, digestOf(bytes), what)
}

/** Throw ContentIntegrityError unless `digest`, a sha2-256 computed by the caller, is `cid`'s. */
export function verifyDigest(cid: CID, digest: Uint8Array, what = 'content'): void {
  requireSha256(cid, what)
  if (!bytesEqual(digest, cid.multihash.digest)) {
    throw new ContentIntegrityError(
      cid.toString(),
      CID.createV1(cid.code, Digest.create(SHA2_256.code, digest)).toString(),
      what,
    )
  }
}

function requireSha256(cid: CID, what: string): void {
  if (cid.multihash.code !== SHA2_256.code)
    throw new ContentIntegrityError(cid.toString(), `multihash 0x${cid.multihash.code.toString(16)}`, what)
}
