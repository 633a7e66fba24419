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
import { byzantineMessages, channelAttackMessage, heightSent } from '../actors/byzantine-messages.ts'
import { equivocatingTransport } from '../actors/equivocating-validator.ts'
import { seedGrinderTransport } from '../actors/seed-grinder.ts'
import { ChainReader } from '../chain/reader.ts'
import type { ChainState } from '../chain/state.ts'
import type { Signer } from '../consensus/keys.ts'
import type { ConsensusMessage, ConsensusTransport } from '../consensus/messages.ts'
import type { BlockStore } from '../consensus/stores.ts'
import type { Logger } from '../runtime/logger.ts'
import type { SeededRandom } from '../runtime/random.ts'
import type { MisbehaviourCast } from './misbehaviours.ts'

/** One attack with every this many honest broadcasts (as the real Byzantine validator). */
const ATTACK_EVERY_BROADCASTS = 4
const JUNK_TXS = 16

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
      peers: link.peers?.bind(link),
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
  const build = byzantineMessages({ chainId, signer, validatorIndex, blockStore, random })
  let broadcasts = 0
  let next = 0
  let height = 1
  const attack = (kind: (typeof ATTACKS)[number]): void => {
    if (kind === 'junkTxs') {
      link.broadcast({ kind: 'txs', txs: build.junkTxs(JUNK_TXS) })
      return
    }
    const message = channelAttackMessage(build, kind, height)
    if (message !== undefined) link.broadcast(message)
  }
  const observe = (m: ConsensusMessage): void => {
    height = heightSent(m, validatorIndex, height)
  }
  return {
    send: (peer, m) => {
      observe(m)
      link.send(peer, m)
    },
    peers: link.peers?.bind(link),
    broadcast: (m) => {
      observe(m)
      link.broadcast(build.isOwnProposal(m) ? build.farFutureTwin(m) : m)
      if (++broadcasts % ATTACK_EVERY_BROADCASTS !== 0) return
      attack(ATTACKS[next++ % ATTACKS.length] as (typeof ATTACKS)[number])
    },
  }
}
