/**
 * The pure core's state, inputs and effects. The core never does IO: its caller (the driver
 * in node.ts, the XState actor, or the simulator) writes each input to the WAL, calls
 * `step`, and carries out the effects it returns.
 */

import type { Block, Commit, DuplicateVoteEvidence, Proposal, UnsignedProposal, UnsignedVote, Vote } from './types.ts'
import type { ValidatorSet, ValidatorUpdate } from './validator-set.ts'
import type { VoteSet } from './vote-set.ts'

/** Steps of a round, in order (CometBFT's RoundStepType). `commit` waits for the application. */
export const STEPS = ['newHeight', 'propose', 'prevote', 'precommit', 'commit'] as const
export type Step = (typeof STEPS)[number]

export function stepIndex(step: Step): number {
  return STEPS.indexOf(step)
}

export type TimeoutKind = 'propose' | 'prevote' | 'precommit' | 'commit'

export interface TimeoutConfig {
  /** Round r waits `proposeMs + r × proposeDeltaMs` for a proposal (timeouts grow until the network is synchronous again). */
  proposeMs: number
  proposeDeltaMs: number
  prevoteMs: number
  prevoteDeltaMs: number
  precommitMs: number
  precommitDeltaMs: number
  /** Pause after a commit before the next height, to collect more precommits and transactions. */
  commitMs: number
}

export interface ConsensusConfig {
  chainId: string
  /**
   * The address this node signs as, or null for a node that only follows. A node whose address
   * is not in a height's validator set follows that height without signing (it may join later).
   */
  myAddress: Uint8Array | null
  timeouts: TimeoutConfig
  /** @default 1 MiB of transaction bytes per block */
  maxBlockBytes: number
  /** Evidence older than this many heights is no longer accepted into a block. */
  maxEvidenceAgeHeights: number
  /** Votes and proposals for rounds further ahead than this are ignored (bounds the work a peer can cause). Nodes run with MAX_ROUNDS_AHEAD. */
  maxRoundsAhead: number
}

export const DEFAULT_TIMEOUTS: TimeoutConfig = {
  proposeMs: 3000,
  proposeDeltaMs: 500,
  prevoteMs: 1000,
  prevoteDeltaMs: 500,
  precommitMs: 1000,
  precommitDeltaMs: 500,
  commitMs: 1000,
}

/** The committed chain as the next height starts from it (what the state store persists). */
export interface Tip {
  /** The height being decided next (last committed + 1). */
  height: number
  /** Validators of `height` with their proposer priorities at round 0. */
  validators: ValidatorSet
  /**
   * Validators of `height + 1`, priorities at its round 0: the application's updates returned
   * after block h take effect at h + 2 (as in CometBFT), so the next set is always known.
   */
  nextValidators: ValidatorSet
  /** Validators of `height - 1`, who signed `lastCommit` (null at height 1). */
  lastValidators: ValidatorSet | null
  lastBlockHash: Uint8Array
  lastBlockTimeMs: number
  /** The beacon of block height-1 (at height 1, the genesis beacon): what block `height`'s VRF proof is over. */
  lastBeacon: Uint8Array
  /** Application state after block height-1 (goes into block `height`'s header). */
  appHash: Uint8Array
  lastCommit: Commit | null
  /** Keys of evidence committed within the evidence age window. */
  committedEvidence: ReadonlyMap<string, number>
}

export interface ProposalEntry {
  readonly proposal: Proposal
  readonly block: Block
  /** When it arrived from a peer, by this node's clock (absent for its own proposal). */
  readonly receivedMs?: number
}

export interface ConsensusState {
  readonly config: ConsensusConfig
  readonly tip: Tip
  /** This node's index in `tip.validators`, or -1 when it does not sign at this height. */
  readonly myIndex: number
  readonly round: number
  readonly step: Step
  readonly lockedRound: number
  readonly lockedBlock: Block | null
  readonly validRound: number
  readonly validBlock: Block | null
  /** The first correctly signed proposal of each round (with its block). */
  readonly proposals: ReadonlyMap<number, ProposalEntry>
  /** Blocks seen in proposals of this height, by hash key; their validity once computed. */
  readonly blocks: ReadonlyMap<string, Block>
  readonly validity: ReadonlyMap<string, boolean>
  readonly prevotes: ReadonlyMap<number, VoteSet>
  readonly precommits: ReadonlyMap<number, VoteSet>
  /** Once-only rules of the paper (lines 34, 36, 47), by round. */
  readonly prevoteTimeoutRounds: ReadonlySet<number>
  readonly precommitTimeoutRounds: ReadonlySet<number>
  readonly polkaRounds: ReadonlySet<number>
  /** This node's proposal waiting to be signed (kept so a restart can ask again). */
  readonly pendingOwnProposal: { readonly proposal: UnsignedProposal; readonly block: Block } | null
  /** This node's vote waiting to be signed (kept so a restart can ask again). */
  readonly pendingOwnVote: UnsignedVote | null
  readonly awaitingContent: boolean
  readonly decision: { readonly block: Block; readonly commit: Commit } | null
  /** Equivocations already reported, so each is reported once. */
  readonly reportedEvidence: ReadonlySet<string>
  /** Messages for the next height, replayed when it starts (bounded). */
  readonly nextHeightInputs: readonly ConsensusInput[]
}

export type ConsensusInput =
  | { readonly type: 'start' }
  /** Re-issue what the node still owes after a restart: its vote, proposal, timeout or commit. */
  | { readonly type: 'resume' }
  | {
      readonly type: 'proposal'
      readonly proposal: Proposal
      readonly block: Block
      /**
       * This node's wall clock when the proposal arrived from a peer (absent for its own): a
       * fresh proposal whose block time runs further ahead of it than MAX_BLOCK_TIME_DRIFT_MS
       * gets a nil prevote. Logged with the input, so a replay decides the same.
       */
      readonly receivedMs?: number
    }
  | { readonly type: 'vote'; readonly vote: Vote }
  | { readonly type: 'timeout'; readonly kind: TimeoutKind; readonly height: number; readonly round: number }
  | {
      readonly type: 'proposalContent'
      readonly height: number
      readonly round: number
      readonly timeMs: number
      readonly txs: readonly Uint8Array[]
      readonly evidence: readonly DuplicateVoteEvidence[]
      /** The proposer's ECVRF proof over `beaconAlpha(previousBeacon)` of the request. */
      readonly vrfProof: Uint8Array
    }
  /** A decided block and its commit, learned from a peer (catch-up). */
  | { readonly type: 'decided'; readonly block: Block; readonly commit: Commit }
  /** The application executed the decided block of `height`; its validator updates take effect at height + 2. */
  | {
      readonly type: 'blockApplied'
      readonly height: number
      readonly appHash: Uint8Array
      readonly validatorUpdates: readonly ValidatorUpdate[]
    }

export type ConsensusEffect =
  | { readonly type: 'signVote'; readonly vote: UnsignedVote }
  | { readonly type: 'signProposal'; readonly proposal: UnsignedProposal; readonly block: Block }
  | {
      readonly type: 'requestProposalContent'
      readonly height: number
      readonly round: number
      readonly maxBytes: number
      /** The beacon the block's VRF proof must be over (the tip's last beacon). */
      readonly previousBeacon: Uint8Array
    }
  | {
      readonly type: 'scheduleTimeout'
      readonly kind: TimeoutKind
      readonly height: number
      readonly round: number
      readonly durationMs: number
    }
  | { readonly type: 'commitBlock'; readonly block: Block; readonly commit: Commit }
  /** A new height started: persist the tip. */
  | { readonly type: 'newHeight'; readonly tip: Tip }
  | { readonly type: 'evidence'; readonly evidence: DuplicateVoteEvidence }

export interface StepResult {
  readonly state: ConsensusState
  readonly effects: readonly ConsensusEffect[]
}
