/**
 * The consensus data types. Hashes are 32-byte SHA-256, addresses 20 bytes, signatures 64-byte
 * ed25519. Heights start at 1; rounds at 0. A `null` block hash in a vote means nil.
 */

export type VoteType = 'prevote' | 'precommit'

export interface Vote {
  readonly type: VoteType
  readonly height: number
  readonly round: number
  /** The block voted for, or null for nil. */
  readonly blockHash: Uint8Array | null
  /** Index of the signer in the validator set of `height`. */
  readonly validatorIndex: number
  readonly signature: Uint8Array
}

export type UnsignedVote = Omit<Vote, 'signature'>

export interface Proposal {
  readonly height: number
  readonly round: number
  /** The round whose +2/3 prevotes justify re-proposing this block (the paper's validRound), or -1. */
  readonly polRound: number
  readonly blockHash: Uint8Array
  /** Signed by the proposer of (height, round). */
  readonly signature: Uint8Array
}

export type UnsignedProposal = Omit<Proposal, 'signature'>

export interface CommitSig {
  readonly validatorIndex: number
  readonly signature: Uint8Array
}

/** +2/3 precommits for one block: the proof that the block was decided. */
export interface Commit {
  readonly height: number
  readonly round: number
  readonly blockHash: Uint8Array
  readonly signatures: readonly CommitSig[]
}

/** Two votes by one validator of one type, height and round for different values. */
export interface DuplicateVoteEvidence {
  readonly voteA: Vote
  readonly voteB: Vote
}

export interface BlockHeader {
  readonly chainId: string
  readonly height: number
  /** Proposer's wall time; strictly greater than the previous block's. */
  readonly timeMs: number
  /** Hash of block height-1 (32 zero bytes at height 1). */
  readonly previousBlockHash: Uint8Array
  readonly txsRoot: Uint8Array
  readonly evidenceRoot: Uint8Array
  /** Hash of `lastCommit` (hash of nothing at height 1). */
  readonly lastCommitHash: Uint8Array
  /**
   * Application state after block height-1, i.e. before this block's transactions (as in
   * CometBFT). See docs/ARCHITECTURE.md for why.
   */
  readonly appHash: Uint8Array
  /** Address of the validator that built this block. */
  readonly proposer: Uint8Array
  /** The proposer's ECVRF proof (80 bytes) over `beaconAlpha` of the previous block's beacon (consensus/beacon.ts). */
  readonly vrfProof: Uint8Array
  /** SHA-256 of (tag, previous beacon, the proof's VRF output): the chain's randomness at this height. */
  readonly beacon: Uint8Array
}

export interface Block {
  readonly header: BlockHeader
  readonly txs: readonly Uint8Array[]
  readonly evidence: readonly DuplicateVoteEvidence[]
  /** The commit of block height-1; null at height 1. */
  readonly lastCommit: Commit | null
}

export interface CommittedBlock {
  readonly block: Block
  /** The commit this node saw for `block` (the next block carries one too, perhaps another). */
  readonly commit: Commit
}

export const ZERO_HASH: Uint8Array = new Uint8Array(32)
