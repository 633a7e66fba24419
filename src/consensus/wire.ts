/**
 * Conversions between the consensus types and fixed-order arrays, for hashing, signing, the
 * WAL and the wire. Decoding checks every field's shape and throws InvalidConsensusDataError,
 * so bytes from disk or from a peer never reach the core half-formed.
 */
import { BEACON_SIZE_BYTES, VRF_PROOF_SIZE_BYTES } from './beacon.ts'
import { decode, encode } from './codec.ts'
import { InvalidConsensusDataError } from './errors.ts'
import type {
  Block,
  BlockHeader,
  Commit,
  CommitSig,
  CommittedBlock,
  DuplicateVoteEvidence,
  Proposal,
  Vote,
  VoteType,
} from './types.ts'

type Arr = readonly unknown[]

function fail(what: string): never {
  throw new InvalidConsensusDataError(`malformed ${what}`)
}

function arr(x: unknown, n: number, what: string): Arr {
  if (!Array.isArray(x) || x.length !== n) fail(what)
  return x
}

function int(x: unknown, what: string, min = 0): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min) fail(what)
  return x
}

/**
 * A fixed-size field (hash, signature, key), copied out of the decoded buffer: such fields
 * outlive their message (in vote sets, commits, evidence), and a view would keep a whole block's
 * bytes alive for a 32-byte hash.
 */
function bytes(x: unknown, what: string, size?: number): Uint8Array {
  if (!(x instanceof Uint8Array) || (size !== undefined && x.byteLength !== size)) fail(what)
  return new Uint8Array(x)
}

/**
 * A block's transaction, as a view of the decoded buffer (a plain Uint8Array, never a Buffer):
 * the transactions are most of a block's bytes, so a view keeps little more alive than a copy
 * would hold, and copying them cost every receiver of a proposal a second pass over the block.
 * Nothing decoded here reuses its source buffer (messages, WAL records and stored blocks are
 * each read into their own).
 */
function txBytes(x: unknown): Uint8Array {
  if (!(x instanceof Uint8Array)) fail('tx')
  return x.constructor === Uint8Array ? x : new Uint8Array(x.buffer, x.byteOffset, x.byteLength)
}

function str(x: unknown, what: string): string {
  if (typeof x !== 'string') fail(what)
  return x
}

function list<T>(x: unknown, what: string, item: (v: unknown) => T): T[] {
  if (!Array.isArray(x)) fail(what)
  return x.map(item)
}

export function voteTypeCode(type: VoteType): number {
  return type === 'prevote' ? 1 : 2
}

export function voteToArray(v: Vote): Arr {
  return [voteTypeCode(v.type), v.height, v.round, v.blockHash, v.validatorIndex, v.signature]
}

export function voteFromArray(x: unknown): Vote {
  const a = arr(x, 6, 'vote')
  const code = int(a[0], 'vote type')
  if (code !== 1 && code !== 2) fail('vote type')
  return {
    type: code === 1 ? 'prevote' : 'precommit',
    height: int(a[1], 'vote height', 1),
    round: int(a[2], 'vote round'),
    blockHash: a[3] === null ? null : bytes(a[3], 'vote block hash', 32),
    validatorIndex: int(a[4], 'vote validator index'),
    signature: bytes(a[5], 'vote signature', 64),
  }
}

export function proposalToArray(p: Proposal): Arr {
  return [p.height, p.round, p.polRound, p.blockHash, p.signature]
}

export function proposalFromArray(x: unknown): Proposal {
  const a = arr(x, 5, 'proposal')
  return {
    height: int(a[0], 'proposal height', 1),
    round: int(a[1], 'proposal round'),
    polRound: int(a[2], 'proposal pol round', -1),
    blockHash: bytes(a[3], 'proposal block hash', 32),
    signature: bytes(a[4], 'proposal signature', 64),
  }
}

export function commitToArray(c: Commit): Arr {
  return [c.height, c.round, c.blockHash, c.signatures.map((s) => [s.validatorIndex, s.signature])]
}

export function commitFromArray(x: unknown): Commit {
  const a = arr(x, 4, 'commit')
  return {
    height: int(a[0], 'commit height', 1),
    round: int(a[1], 'commit round'),
    blockHash: bytes(a[2], 'commit block hash', 32),
    signatures: list(a[3], 'commit signatures', (s): CommitSig => {
      const e = arr(s, 2, 'commit signature')
      return { validatorIndex: int(e[0], 'commit validator index'), signature: bytes(e[1], 'commit signature', 64) }
    }),
  }
}

export function evidenceToArray(e: DuplicateVoteEvidence): Arr {
  return [voteToArray(e.voteA), voteToArray(e.voteB)]
}

export function evidenceFromArray(x: unknown): DuplicateVoteEvidence {
  const a = arr(x, 2, 'evidence')
  return { voteA: voteFromArray(a[0]), voteB: voteFromArray(a[1]) }
}

export function headerToArray(h: BlockHeader): Arr {
  return [
    h.chainId,
    h.height,
    h.timeMs,
    h.previousBlockHash,
    h.txsRoot,
    h.evidenceRoot,
    h.lastCommitHash,
    h.appHash,
    h.proposer,
    h.vrfProof,
    h.beacon,
  ]
}

export function headerFromArray(x: unknown): BlockHeader {
  const a = arr(x, 11, 'block header')
  return {
    chainId: str(a[0], 'chain id'),
    height: int(a[1], 'block height', 1),
    timeMs: int(a[2], 'block time'),
    previousBlockHash: bytes(a[3], 'previous block hash', 32),
    txsRoot: bytes(a[4], 'txs root', 32),
    evidenceRoot: bytes(a[5], 'evidence root', 32),
    lastCommitHash: bytes(a[6], 'last commit hash', 32),
    appHash: bytes(a[7], 'app hash', 32),
    proposer: bytes(a[8], 'proposer', 20),
    vrfProof: bytes(a[9], 'VRF proof', VRF_PROOF_SIZE_BYTES),
    beacon: bytes(a[10], 'beacon', BEACON_SIZE_BYTES),
  }
}

export function blockToArray(b: Block): Arr {
  return [
    headerToArray(b.header),
    b.txs,
    b.evidence.map(evidenceToArray),
    b.lastCommit === null ? null : commitToArray(b.lastCommit),
  ]
}

export function blockFromArray(x: unknown): Block {
  const a = arr(x, 4, 'block')
  return {
    header: headerFromArray(a[0]),
    txs: list(a[1], 'txs', txBytes),
    evidence: list(a[2], 'evidence list', evidenceFromArray),
    lastCommit: a[3] === null ? null : commitFromArray(a[3]),
  }
}

export function encodeCommittedBlock(cb: CommittedBlock): Uint8Array {
  return encode([blockToArray(cb.block), commitToArray(cb.commit)])
}

export function decodeCommittedBlock(data: Uint8Array): CommittedBlock {
  const a = arr(safeDecode(data, 'committed block'), 2, 'committed block')
  return { block: blockFromArray(a[0]), commit: commitFromArray(a[1]) }
}

export function safeDecode(data: Uint8Array, what: string): unknown {
  try {
    return decode(data)
  } catch {
    fail(what)
  }
}
