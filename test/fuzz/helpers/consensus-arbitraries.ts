/**
 * Arbitraries that build structurally valid consensus values from the real types. The
 * decoders check shape, not signatures (the core verifies those against the validator set),
 * so signatures are 64 arbitrary bytes here.
 */
import fc from 'fast-check'
import type { ConsensusInput } from '../../../src/consensus/core-types.ts'
import type { ConsensusMessage } from '../../../src/consensus/messages.ts'
import type {
  Block,
  BlockHeader,
  Commit,
  CommittedBlock,
  DuplicateVoteEvidence,
  Proposal,
  Vote,
} from '../../../src/consensus/types.ts'
import { rec } from './bytes.ts'

export const bytesOf = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n })
const hash = bytesOf(32)
const signature = bytesOf(64)
/** Small values mostly, the edges of safe integers sometimes: both are legal on the wire. */
const uint = (min = 0): fc.Arbitrary<number> =>
  fc.oneof(fc.integer({ min, max: 1000 }), fc.constantFrom(min, Number.MAX_SAFE_INTEGER, 2 ** 32, 2 ** 53 - 2))
export const height = uint(1)
export const round = uint(0)

export const vote: fc.Arbitrary<Vote> = rec({
  type: fc.constantFrom('prevote' as const, 'precommit' as const),
  height,
  round,
  blockHash: fc.option(hash, { nil: null }),
  validatorIndex: uint(0),
  signature,
})

export const proposal: fc.Arbitrary<Proposal> = rec({
  height,
  round,
  polRound: fc.oneof(fc.constant(-1), uint(0)),
  blockHash: hash,
  signature,
})

export const commit: fc.Arbitrary<Commit> = rec({
  height,
  round,
  blockHash: hash,
  signatures: fc.array(rec({ validatorIndex: uint(0), signature }), { maxLength: 4 }),
})

export const evidence: fc.Arbitrary<DuplicateVoteEvidence> = rec({ voteA: vote, voteB: vote })

export const header: fc.Arbitrary<BlockHeader> = rec({
  chainId: fc.string({ maxLength: 32 }),
  height,
  timeMs: uint(0),
  previousBlockHash: hash,
  txsRoot: hash,
  evidenceRoot: hash,
  lastCommitHash: hash,
  appHash: hash,
  proposer: bytesOf(20),
  vrfProof: bytesOf(80),
  beacon: hash,
})

const txs = fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 })

export const block: fc.Arbitrary<Block> = rec({
  header,
  txs,
  evidence: fc.array(evidence, { maxLength: 2 }),
  lastCommit: fc.option(commit, { nil: null }),
})

export const committedBlock: fc.Arbitrary<CommittedBlock> = rec({ block, commit })

export const message: fc.Arbitrary<ConsensusMessage> = fc.oneof(
  rec({ kind: fc.constant('proposal' as const), proposal, block }),
  rec({ kind: fc.constant('vote' as const), vote }),
  rec({ kind: fc.constant('decided' as const), block, commit }),
  rec({ kind: fc.constant('evidence' as const), evidence }),
  rec({ kind: fc.constant('txs' as const), txs }),
  rec({ kind: fc.constant('status' as const), height }),
  rec({ kind: fc.constant('status' as const), height, proposalRound: fc.nat({ max: 1000 }) }),
)

export const input: fc.Arbitrary<ConsensusInput> = fc.oneof(
  fc.constantFrom({ type: 'start' as const }, { type: 'resume' as const }),
  rec({ type: fc.constant('proposal' as const), proposal, block }),
  rec({ type: fc.constant('vote' as const), vote }),
  rec({
    type: fc.constant('timeout' as const),
    kind: fc.constantFrom('propose' as const, 'prevote' as const, 'precommit' as const, 'commit' as const),
    height,
    round,
  }),
  rec({
    type: fc.constant('proposalContent' as const),
    height,
    round,
    timeMs: uint(0),
    txs,
    evidence: fc.array(evidence, { maxLength: 2 }),
    vrfProof: bytesOf(80),
  }),
  rec({ type: fc.constant('decided' as const), block, commit }),
  rec({
    type: fc.constant('blockApplied' as const),
    height,
    appHash: hash,
    validatorUpdates: fc.array(rec({ publicKey: hash, power: uint(0) }), { maxLength: 3 }),
  }),
)
