/**
 * Building, hashing and validating blocks. A block's hash is the hash of its header, and the
 * header commits to everything else (transactions, evidence, last commit) through roots, so
 * the header alone is enough to sign, vote and chain on.
 */

import { bytesEqual } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'
import { merkleRoot } from '../codec/merkle.ts'
import { MAX_BLOCK_TIME_STEP_MS } from '../runtime/limits.ts'
import { beaconFault } from './beacon.ts'
import { encode } from './codec.ts'
import { InvalidConsensusDataError } from './errors.ts'
import { evidenceKey, verifyCommit, verifyEvidence } from './signing.ts'
import type { Block, BlockHeader, Commit, DuplicateVoteEvidence } from './types.ts'
import type { ValidatorSet } from './validator-set.ts'
import { commitToArray, evidenceToArray, headerToArray } from './wire.ts'

/**
 * Header hashes per header object. Headers are never changed once built or decoded, and a
 * validator names the same block by its hash a dozen times a height (admission, the core's
 * rules and validity verdicts, the commit, the next tip), each time encoding the header again.
 */
const headerHashes = new WeakMap<BlockHeader, Uint8Array>()

export function hashHeader(header: BlockHeader): Uint8Array {
  let hash = headerHashes.get(header)
  if (hash === undefined) {
    hash = sha256(encode(headerToArray(header)))
    headerHashes.set(header, hash)
  }
  // A copy: a caller may keep or change what it is given.
  return hash.slice()
}

export function hashBlock(block: Block): Uint8Array {
  return hashHeader(block.header)
}

export function hashCommit(commit: Commit | null): Uint8Array {
  return commit === null ? sha256() : sha256(encode(commitToArray(commit)))
}

export function evidenceRoot(evidence: readonly DuplicateVoteEvidence[]): Uint8Array {
  return merkleRoot(evidence.map((e) => encode(evidenceToArray(e))))
}

export function blockSizeBytes(block: Block): number {
  let n = 0
  for (const tx of block.txs) n += tx.byteLength
  return n
}

export interface BlockContent {
  chainId: string
  height: number
  timeMs: number
  previousBlockHash: Uint8Array
  appHash: Uint8Array
  proposer: Uint8Array
  vrfProof: Uint8Array
  beacon: Uint8Array
  txs: readonly Uint8Array[]
  evidence: readonly DuplicateVoteEvidence[]
  lastCommit: Commit | null
}

export function makeBlock(c: BlockContent): Block {
  return {
    header: {
      chainId: c.chainId,
      height: c.height,
      timeMs: c.timeMs,
      previousBlockHash: c.previousBlockHash,
      txsRoot: merkleRoot(c.txs),
      evidenceRoot: evidenceRoot(c.evidence),
      lastCommitHash: hashCommit(c.lastCommit),
      appHash: c.appHash,
      proposer: c.proposer,
      vrfProof: c.vrfProof,
      beacon: c.beacon,
    },
    txs: c.txs,
    evidence: c.evidence,
    lastCommit: c.lastCommit,
  }
}

/** What a block at `height` must agree with: the chain as this node has committed it. */
export interface ChainTip {
  chainId: string
  height: number
  previousBlockHash: Uint8Array
  previousTimeMs: number
  /** The beacon of block height-1 (the genesis beacon at height 1). */
  previousBeacon: Uint8Array
  appHash: Uint8Array
  validators: ValidatorSet
  /** Who signed the previous block's commit (null at height 1). */
  lastValidators: ValidatorSet | null
  /**
   * The commit this node decided the previous block with, its signatures checked when taken
   * (null at height 1, or when not at hand): a block's last commit needs no second check of those.
   */
  lastCommit?: Commit | null
  /** Evidence already put in a committed block (keys from `evidenceKey`): never again. */
  committedEvidence: ReadonlySet<string>
  maxBlockBytes: number
  maxEvidenceAgeHeights: number
}

/**
 * Whether the block's transactions, evidence and last commit are the ones its header commits
 * to. Only then does the block's hash (the header's) name this block: a relay can keep a
 * signed header and swap the body, and a verdict on that body says nothing about the block
 * the hash stands for.
 */
export function bodyMatchesHeader(block: Block): boolean {
  const known = bodyVerdicts.get(block)
  if (known !== undefined) return known
  const h = block.header
  const matches =
    bytesEqual(h.txsRoot, merkleRoot(block.txs)) &&
    bytesEqual(h.evidenceRoot, evidenceRoot(block.evidence)) &&
    bytesEqual(h.lastCommitHash, hashCommit(block.lastCommit))
  bodyVerdicts.set(block, matches)
  return matches
}

/**
 * The verdict of `bodyMatchesHeader` per block object. Blocks are never changed once built or
 * decoded, and the core asks about the same block object on every rule it evaluates: without
 * this, each ask hashed every transaction again (a Merkle root over a block of thousands).
 */
const bodyVerdicts = new WeakMap<Block, boolean>()

/** Throws InvalidConsensusDataError naming what is wrong; returns when `block` may be voted for. */
export function validateBlock(tip: ChainTip, block: Block): void {
  const h = block.header
  const bad = (why: string): never => {
    throw new InvalidConsensusDataError(`invalid block: ${why}`, { height: h.height })
  }
  if (h.chainId !== tip.chainId) bad('wrong chain id')
  if (h.height !== tip.height) bad('wrong height')
  if (!bytesEqual(h.previousBlockHash, tip.previousBlockHash)) bad('wrong previous block hash')
  if (!bytesEqual(h.appHash, tip.appHash)) bad('wrong app hash')
  if (h.timeMs <= tip.previousTimeMs) bad('time does not move forward')
  if (h.timeMs > tip.previousTimeMs + MAX_BLOCK_TIME_STEP_MS)
    bad(`time is more than MAX_BLOCK_TIME_STEP_MS (${MAX_BLOCK_TIME_STEP_MS}) after the previous block`)
  const proposer = tip.validators.at(tip.validators.indexOf(h.proposer))
  if (proposer === undefined) bad('proposer is not a validator')
  else {
    // The proposer can only publish the one beacon its key gives over the previous one.
    const fault = beaconFault(proposer.publicKey, tip.previousBeacon, h.vrfProof, h.beacon)
    if (fault !== undefined) bad(fault)
  }
  // The body's verdict is remembered per block object (the core asked it first); only a
  // mismatch is worked out again, to name the part that does not match.
  if (!bodyMatchesHeader(block)) {
    if (!bytesEqual(h.txsRoot, merkleRoot(block.txs))) bad('txs root mismatch')
    if (!bytesEqual(h.evidenceRoot, evidenceRoot(block.evidence))) bad('evidence root mismatch')
    bad('last commit hash mismatch')
  }
  if (blockSizeBytes(block) > tip.maxBlockBytes) bad('too many transaction bytes')
  if (h.height === 1) {
    if (block.lastCommit !== null) bad('first block carries a last commit')
  } else if (block.lastCommit === null) {
    bad('missing last commit')
  } else if (tip.lastValidators === null) {
    bad('no validator set for the last commit')
  } else {
    verifyCommit(
      tip.chainId,
      tip.lastValidators,
      h.height - 1,
      tip.previousBlockHash,
      block.lastCommit,
      tip.lastCommit ?? null,
    )
  }
  const keys = new Set<string>()
  for (const e of block.evidence) {
    const key = evidenceKey(e)
    if (keys.has(key) || tip.committedEvidence.has(key)) bad('evidence already committed or repeated')
    if (e.voteA.height >= h.height || e.voteA.height + tip.maxEvidenceAgeHeights < h.height)
      bad('evidence too old or from the future')
    keys.add(key)
    verifyEvidence(tip.chainId, tip.validators, e)
  }
}
