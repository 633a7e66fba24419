/** Content identifiers as used by the network layer: CIDv1, sha2-256, raw or dag-pb. */
import { createHash } from 'node:crypto'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { ContentIntegrityError } from './errors.ts'

export function sha256Digest(bytes: Uint8Array | readonly Uint8Array[]): Uint8Array {
  const hash = createHash('sha256')
  if (bytes instanceof Uint8Array) hash.update(bytes)
  else for (const part of bytes) hash.update(part)
  return new Uint8Array(hash.digest())
}

/** The CID of raw bytes: CIDv1, raw codec, sha2-256. A tensor's CID is its hash. */
export function rawCid(bytes: Uint8Array | readonly Uint8Array[]): CID {
  return CID.createV1(raw.code, Digest.create(sha256.code, sha256Digest(bytes)))
}

export function rawCidOfDigest(digest: Uint8Array): CID {
  return CID.createV1(raw.code, Digest.create(sha256.code, digest))
}

export function dagPbCid(bytes: Uint8Array): CID {
  return CID.createV1(dagPb.code, Digest.create(sha256.code, sha256Digest(bytes)))
}

/** Throw ContentIntegrityError unless `bytes` hash to `cid` (sha2-256 CIDs only). */
export function verifyBlock(cid: CID, bytes: Uint8Array | readonly Uint8Array[], what = 'block'): void {
  requireSha256(cid, what)
  verifyDigest(cid, sha256Digest(bytes), what)
}

/** Throw ContentIntegrityError unless `digest`, a sha2-256 computed by the caller, is `cid`'s. */
export function verifyDigest(cid: CID, digest: Uint8Array, what = 'content'): void {
  requireSha256(cid, what)
  if (!equalBytes(digest, cid.multihash.digest)) {
    throw new ContentIntegrityError(
      cid.toString(),
      CID.createV1(cid.code, Digest.create(sha256.code, digest)).toString(),
      what,
    )
  }
}

function requireSha256(cid: CID, what: string): void {
  if (cid.multihash.code !== sha256.code)
    throw new ContentIntegrityError(cid.toString(), `multihash 0x${cid.multihash.code.toString(16)}`, what)
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
