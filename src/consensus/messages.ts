/**
 * What validators send each other, and its wire encoding (msgpackr over fixed-order arrays).
 * The network layer carries these bytes on the consensus topic; it never looks inside.
 */
import { MAX_CONSENSUS_MESSAGE_BYTES, MAX_TX_MESSAGE_BYTES, MAX_TXS_PER_MESSAGE } from '../runtime/limits.ts'
import { encode } from './codec.ts'
import { InvalidConsensusDataError } from './errors.ts'
import type { Block, Commit, DuplicateVoteEvidence, Proposal, Vote } from './types.ts'
import {
  blockFromArray,
  blockToArray,
  commitFromArray,
  commitToArray,
  evidenceFromArray,
  evidenceToArray,
  proposalFromArray,
  proposalToArray,
  safeDecode,
  voteFromArray,
  voteToArray,
} from './wire.ts'

export type ConsensusMessage =
  | { readonly kind: 'proposal'; readonly proposal: Proposal; readonly block: Block }
  | { readonly kind: 'vote'; readonly vote: Vote }
  /** A decided block with its commit, sent to a peer that is a height behind. */
  | { readonly kind: 'decided'; readonly block: Block; readonly commit: Commit }
  | { readonly kind: 'evidence'; readonly evidence: DuplicateVoteEvidence }
  /** Transactions for the mempool, batched (one message per burst, not per tx). */
  | { readonly kind: 'txs'; readonly txs: readonly Uint8Array[] }
  /**
   * The height a node is deciding, sent to a few peers when it makes no progress: a peer that
   * has decided it answers with `decided`. `proposalRound`, when present, is the round of this
   * height whose proposal the node lacks: a peer holding it answers with that proposal.
   */
  | { readonly kind: 'status'; readonly height: number; readonly proposalRound?: number }

export function encodeMessage(m: ConsensusMessage): Uint8Array {
  switch (m.kind) {
    case 'proposal':
      return encode([m.kind, proposalToArray(m.proposal), blockToArray(m.block)])
    case 'vote':
      return encode([m.kind, voteToArray(m.vote)])
    case 'decided':
      return encode([m.kind, blockToArray(m.block), commitToArray(m.commit)])
    case 'evidence':
      return encode([m.kind, evidenceToArray(m.evidence)])
    case 'txs':
      return encode([m.kind, m.txs])
    case 'status':
      return encode(m.proposalRound === undefined ? [m.kind, m.height] : [m.kind, m.height, m.proposalRound])
  }
}

export function decodeMessage(bytes: Uint8Array): ConsensusMessage {
  if (bytes.byteLength > MAX_CONSENSUS_MESSAGE_BYTES) throw new InvalidConsensusDataError('message too large')
  const a = safeDecode(bytes, 'consensus message')
  if (!Array.isArray(a)) throw new InvalidConsensusDataError('malformed consensus message')
  switch (a[0]) {
    case 'proposal':
      return { kind: 'proposal', proposal: proposalFromArray(a[1]), block: blockFromArray(a[2]) }
    case 'vote':
      return { kind: 'vote', vote: voteFromArray(a[1]) }
    case 'decided':
      return { kind: 'decided', block: blockFromArray(a[1]), commit: commitFromArray(a[2]) }
    case 'evidence':
      return { kind: 'evidence', evidence: evidenceFromArray(a[1]) }
    case 'txs':
      if (!Array.isArray(a[1]) || !a[1].every((t) => t instanceof Uint8Array))
        throw new InvalidConsensusDataError('malformed txs message')
      if (a[1].length > MAX_TXS_PER_MESSAGE)
        throw new InvalidConsensusDataError(`txs message of ${a[1].length} txs, over ${MAX_TXS_PER_MESSAGE}`)
      if (a[1].reduce((n: number, t: Uint8Array) => n + t.byteLength, 0) > MAX_TX_MESSAGE_BYTES)
        throw new InvalidConsensusDataError(`txs message over ${MAX_TX_MESSAGE_BYTES} bytes of txs`)
      return { kind: 'txs', txs: a[1] as Uint8Array[] }
    case 'status': {
      if (typeof a[1] !== 'number' || !Number.isSafeInteger(a[1]) || a[1] < 1)
        throw new InvalidConsensusDataError('malformed status message')
      if (a.length === 2) return { kind: 'status', height: a[1] }
      if (a.length !== 3 || typeof a[2] !== 'number' || !Number.isSafeInteger(a[2]) || a[2] < 0)
        throw new InvalidConsensusDataError('malformed status message: its proposal round')
      return { kind: 'status', height: a[1], proposalRound: a[2] }
    }
    default:
      throw new InvalidConsensusDataError('unknown consensus message kind')
  }
}

/** How a node reaches its peers. The network layer implements it; tests use in-memory ones. */
export interface ConsensusTransport {
  broadcast(message: ConsensusMessage): void
  send(peer: string, message: ConsensusMessage): void
  /**
   * The peers `send` reaches directly, in a stable order. A node asks a few of them for what it
   * lacks rather than all: at 100 validators, asking everyone for a 400 KiB block brings 99 copies.
   * Without it, asking is a broadcast.
   */
  peers?(): readonly string[]
}
