/**
 * The consensus messages a Byzantine validator sends beside its honest ones, built with its own
 * key: far-future votes and proposals, its proposals' far-future twins, `decided` messages with
 * junk commit signatures, junk transactions and junk evidence. Nothing here touches the
 * network, so the real Byzantine validator (byzantine-validator.ts, over libp2p) and the
 * simulator's (src/sim/validator-misbehaviours.ts) build the very same messages from the same
 * seeded stream.
 */
import { hashBlock } from '../consensus/block.ts'
import { addressOf, type Signer } from '../consensus/keys.ts'
import type { ConsensusMessage } from '../consensus/messages.ts'
import { proposalSignBytes, voteSignBytes } from '../consensus/signing.ts'
import type { BlockStore } from '../consensus/stores.ts'
import type { Block, Proposal, UnsignedProposal, UnsignedVote, Vote } from '../consensus/types.ts'
import type { SeededRandom } from '../runtime/random.ts'

/** How far ahead the far-future votes and proposals claim to be. */
export const FAR_FUTURE_ROUNDS = 1_000_000
export const FAR_FUTURE_HEIGHTS = 1_000_000
/** How far ahead of the honest block time the twin proposal's block claims to be: a day. */
export const FAR_FUTURE_BLOCK_TIME_MS = 24 * 3600 * 1000
/** The size of each junk transaction. */
export const JUNK_TX_BYTES = 200

export interface ByzantineMessagesInit {
  readonly chainId: string
  readonly signer: Signer
  /** Its place in the validator set (the index its own votes carry). */
  readonly validatorIndex: number
  /** Real committed blocks, for messages that look right but for what they claim. */
  readonly blockStore: BlockStore
  /** Junk bytes come from here, so a seeded run sends the same junk each time. */
  readonly random: SeededRandom
}

export interface ByzantineMessages {
  /** `n` bytes of junk. */
  junk(n: number): Uint8Array
  /** A signed nil prevote for a round a million ahead of `height`'s. */
  farFutureRoundVote(height: number): ConsensusMessage
  /** A signed precommit of a junk block for a height a million ahead. */
  farFutureHeightVote(height: number): ConsensusMessage
  /** A signed proposal of the last committed block, renumbered, for a round a million ahead (none before a block). */
  farFutureRoundProposal(height: number): ConsensusMessage | undefined
  /** The last committed block with a commit of junk signatures (none before a block). */
  junkDecided(): ConsensusMessage | undefined
  /** `count` transactions that do not decode. */
  junkTxs(count: number): Uint8Array[]
  /** Evidence of equivocation at the height before `height`, both votes with junk signatures. */
  junkEvidence(height: number): ConsensusMessage
  /** The honest proposal's twin: its block dated a day ahead, signed for the same height and round. */
  farFutureTwin(m: Extract<ConsensusMessage, { kind: 'proposal' }>): ConsensusMessage
  /** Whether `m` is a proposal of this validator's own block. */
  isOwnProposal(m: ConsensusMessage): m is Extract<ConsensusMessage, { kind: 'proposal' }>
}

export function byzantineMessages(init: ByzantineMessagesInit): ByzantineMessages {
  const { chainId, signer, validatorIndex, blockStore, random } = init
  const me = addressOf(signer.publicKey)
  const junk = (n: number): Uint8Array => {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = random.nextU32() & 0xff
    return out
  }
  const signVote = (v: UnsignedVote): Vote => ({ ...v, signature: signer.sign(voteSignBytes(chainId, v)) })
  const signProposal = (p: UnsignedProposal): Proposal => ({
    ...p,
    signature: signer.sign(proposalSignBytes(chainId, p)),
  })
  const lastCommitted = () => blockStore.load(blockStore.height())
  return {
    junk,
    farFutureRoundVote: (height) => ({
      kind: 'vote',
      vote: signVote({ type: 'prevote', height, round: FAR_FUTURE_ROUNDS, blockHash: null, validatorIndex }),
    }),
    farFutureHeightVote: (height) => ({
      kind: 'vote',
      vote: signVote({
        type: 'precommit',
        height: height + FAR_FUTURE_HEIGHTS,
        round: 0,
        blockHash: junk(32),
        validatorIndex,
      }),
    }),
    farFutureRoundProposal: (height) => {
      const last = lastCommitted()
      if (last === undefined) return undefined
      const block: Block = { ...last.block, header: { ...last.block.header, height, proposer: me } }
      const proposal = signProposal({ height, round: FAR_FUTURE_ROUNDS, polRound: -1, blockHash: hashBlock(block) })
      return { kind: 'proposal', proposal, block }
    },
    junkDecided: () => {
      const last = lastCommitted()
      if (last === undefined) return undefined
      const commit = {
        ...last.commit,
        signatures: last.commit.signatures.map((s) => ({ validatorIndex: s.validatorIndex, signature: junk(64) })),
      }
      return { kind: 'decided', block: last.block, commit }
    },
    junkTxs: (count) => Array.from({ length: count }, () => junk(JUNK_TX_BYTES)),
    junkEvidence: (height) => {
      const vote = (blockHash: Uint8Array | null): Vote => ({
        type: 'prevote',
        height: Math.max(1, height - 1),
        round: 0,
        blockHash,
        validatorIndex: validatorIndex === 0 ? 1 : 0,
        signature: junk(64),
      })
      return { kind: 'evidence', evidence: { voteA: vote(junk(32)), voteB: vote(null) } }
    },
    farFutureTwin: (m) => {
      const block: Block = {
        ...m.block,
        header: { ...m.block.header, timeMs: m.block.header.timeMs + FAR_FUTURE_BLOCK_TIME_MS },
      }
      const { signature: _, ...unsigned } = m.proposal
      return { kind: 'proposal', proposal: signProposal({ ...unsigned, blockHash: hashBlock(block) }), block }
    },
    isOwnProposal: (m): m is Extract<ConsensusMessage, { kind: 'proposal' }> =>
      m.kind === 'proposal' && Buffer.from(m.block.header.proposer).equals(me),
  }
}

/** The attacks whose message is built here whole, sent to every peer (the others need the network or a count). */
export type ChannelAttack =
  | 'farFutureRoundVote'
  | 'farFutureHeightVote'
  | 'farFutureRoundProposal'
  | 'junkDecided'
  | 'junkEvidence'

/** The message of `kind` at `height`, or undefined when there is none yet (nothing committed to build on). */
export function channelAttackMessage(
  build: ByzantineMessages,
  kind: ChannelAttack,
  height: number,
): ConsensusMessage | undefined {
  switch (kind) {
    case 'farFutureRoundVote':
      return build.farFutureRoundVote(height)
    case 'farFutureHeightVote':
      return build.farFutureHeightVote(height)
    case 'farFutureRoundProposal':
      return build.farFutureRoundProposal(height)
    case 'junkDecided':
      return build.junkDecided()
    case 'junkEvidence':
      return build.junkEvidence(height)
  }
}

/** The height a validator is deciding, as its own outgoing `message` tells (a status names it, its own vote carries it); else `height`. */
export function heightSent(message: ConsensusMessage, validatorIndex: number, height: number): number {
  if (message.kind === 'status') return message.height
  if (message.kind === 'vote' && message.vote.validatorIndex === validatorIndex) return message.vote.height
  return height
}
