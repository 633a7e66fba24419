/**
 * The validators' misbehaviours in a simulated run, as consensus transports wrapped around the
 * simulated network's, the way src/actors/chain-node.ts wraps a real node's link:
 *
 * - equivocatingValidator: src/actors/equivocating-validator.ts itself (a nil prevote signed
 *   beside every prevote for a block); peers must turn the pair into evidence and the chain
 *   slash and jail it;
 * - seedGrinder: src/actors/seed-grinder.ts itself (withholds or forges its proposals to choose
 *   the beacon); honest validators must refuse every forged beacon;
 * - byzantineValidator: the attacks of src/actors/byzantine-validator.ts that travel on the
 *   consensus channel (that module also speaks libp2p, which a simulation has none of): votes
 *   and proposals for far-future rounds and heights, its own proposals' twins dated a day
 *   ahead, `decided` messages with junk commit signatures, junk transactions, junk evidence.
 *   Nothing of it is a double sign: peers must refuse it and slash nobody.
 */
import { equivocatingTransport } from '../actors/equivocating-validator.ts'
import { seedGrinderTransport } from '../actors/seed-grinder.ts'
import { ChainReader } from '../chain/reader.ts'
import type { ChainState } from '../chain/state.ts'
import { hashBlock } from '../consensus/block.ts'
import { addressOf, type Signer } from '../consensus/keys.ts'
import type { ConsensusMessage, ConsensusTransport } from '../consensus/messages.ts'
import { proposalSignBytes, voteSignBytes } from '../consensus/signing.ts'
import type { BlockStore } from '../consensus/stores.ts'
import type { Block, Proposal, UnsignedProposal, UnsignedVote, Vote } from '../consensus/types.ts'
import type { Logger } from '../runtime/logger.ts'
import type { SeededRandom } from '../runtime/random.ts'
import type { MisbehaviourCast } from './misbehaviours.ts'

/** One attack with every this many honest broadcasts (as the real Byzantine validator). */
const ATTACK_EVERY_BROADCASTS = 4
const FAR_FUTURE = 1_000_000
const FAR_FUTURE_BLOCK_TIME_MS = 24 * 3600 * 1000
const JUNK_TXS = 16
const JUNK_TX_BYTES = 200

const ATTACKS = [
  'farFutureRoundVote',
  'farFutureHeightVote',
  'farFutureRoundProposal',
  'junkDecided',
  'junkTxs',
  'junkEvidence',
] as const

export interface MisbehavingValidatorInit {
  readonly index: number
  readonly cast: MisbehaviourCast
  readonly chainId: string
  readonly signer: Signer
  /** Its place in the consensus validator set (which votes are its own). */
  readonly validatorIndex: number
  /** Its own chain state (the grinder reads which height opens a window, and the stakes). */
  readonly state: ChainState
  readonly blockStore: BlockStore
  readonly random: SeededRandom
  readonly logger: Logger
  /** It signed a second vote at `height` (the equivocation the chain must punish). */
  readonly onEquivocated: (height: number) => void
}

/** The transport validator `index` sends through: `link` itself unless it misbehaves. */
export function misbehavingTransport(link: ConsensusTransport, init: MisbehavingValidatorInit): ConsensusTransport {
  const { cast, index, chainId, signer, validatorIndex, logger } = init
  let out = link
  if (cast.equivocators.has(index)) {
    // Every prevote for a block it sends gets a nil twin: note the height the chain must punish.
    const noting: ConsensusTransport = {
      send: (peer, m) => link.send(peer, m),
      broadcast: (m) => {
        if (
          m.kind === 'vote' &&
          m.vote.type === 'prevote' &&
          m.vote.blockHash !== null &&
          m.vote.validatorIndex === validatorIndex
        )
          init.onEquivocated(m.vote.height)
        link.broadcast(m)
      },
    }
    out = equivocatingTransport({ chainId, signer, validatorIndex, link: noting, logger })
  }
  if (cast.byzantine.has(index)) out = byzantineSimTransport(out, init)
  if (cast.grinders.has(index))
    out = seedGrinderTransport({ chainId, signer, link: out, chain: new ChainReader(init.state), logger })
  return out
}

/** The consensus-channel attacks of a Byzantine validator, beside its honest messages. */
function byzantineSimTransport(link: ConsensusTransport, init: MisbehavingValidatorInit): ConsensusTransport {
  const { chainId, signer, validatorIndex, blockStore, random } = init
  const me = addressOf(signer.publicKey)
  let broadcasts = 0
  let next = 0
  let height = 1
  const junk = (n: number): Uint8Array => {
    const b = new Uint8Array(n)
    for (let i = 0; i < n; i++) b[i] = random.nextU32() & 0xff
    return b
  }
  const signVote = (v: UnsignedVote): Vote => ({ ...v, signature: signer.sign(voteSignBytes(chainId, v)) })
  const signProposal = (p: UnsignedProposal): Proposal => ({
    ...p,
    signature: signer.sign(proposalSignBytes(chainId, p)),
  })
  const attack = (kind: (typeof ATTACKS)[number]): void => {
    const last = blockStore.load(blockStore.height())
    switch (kind) {
      case 'farFutureRoundVote':
        link.broadcast({
          kind: 'vote',
          vote: signVote({ type: 'prevote', height, round: FAR_FUTURE, blockHash: null, validatorIndex }),
        })
        return
      case 'farFutureHeightVote':
        link.broadcast({
          kind: 'vote',
          vote: signVote({
            type: 'precommit',
            height: height + FAR_FUTURE,
            round: 0,
            blockHash: junk(32),
            validatorIndex,
          }),
        })
        return
      case 'farFutureRoundProposal': {
        if (last === undefined) return
        const block: Block = { ...last.block, header: { ...last.block.header, height, proposer: me } }
        const proposal = signProposal({ height, round: FAR_FUTURE, polRound: -1, blockHash: hashBlock(block) })
        link.broadcast({ kind: 'proposal', proposal, block })
        return
      }
      case 'junkDecided': {
        if (last === undefined) return
        const signatures = last.commit.signatures.map((s) => ({
          validatorIndex: s.validatorIndex,
          signature: junk(64),
        }))
        link.broadcast({ kind: 'decided', block: last.block, commit: { ...last.commit, signatures } })
        return
      }
      case 'junkTxs':
        link.broadcast({ kind: 'txs', txs: Array.from({ length: JUNK_TXS }, () => junk(JUNK_TX_BYTES)) })
        return
      case 'junkEvidence': {
        const vote = (blockHash: Uint8Array | null): Vote => ({
          type: 'prevote',
          height: Math.max(1, height - 1),
          round: 0,
          blockHash,
          validatorIndex: validatorIndex === 0 ? 1 : 0,
          signature: junk(64),
        })
        link.broadcast({ kind: 'evidence', evidence: { voteA: vote(junk(32)), voteB: vote(null) } })
        return
      }
    }
  }
  const twin = (m: Extract<ConsensusMessage, { kind: 'proposal' }>): ConsensusMessage => {
    const block: Block = {
      ...m.block,
      header: { ...m.block.header, timeMs: m.block.header.timeMs + FAR_FUTURE_BLOCK_TIME_MS },
    }
    const { signature: _, ...unsigned } = m.proposal
    return { kind: 'proposal', proposal: signProposal({ ...unsigned, blockHash: hashBlock(block) }), block }
  }
  return {
    send: (peer, m) => link.send(peer, m),
    broadcast: (m) => {
      if (m.kind === 'status') height = m.height
      else if (m.kind === 'vote' && m.vote.validatorIndex === validatorIndex) height = m.vote.height
      const mine = m.kind === 'proposal' && Buffer.from(m.block.header.proposer).equals(me)
      link.broadcast(mine ? twin(m) : m)
      if (++broadcasts % ATTACK_EVERY_BROADCASTS !== 0) return
      attack(ATTACKS[next++ % ATTACKS.length] as (typeof ATTACKS)[number])
    },
  }
}
