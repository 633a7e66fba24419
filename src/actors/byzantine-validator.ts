/**
 * The `byzantineValidator` misbehaviour: a validator that keeps doing its honest work (its
 * core's proposals and votes go out, signed through its privval as usual) and, beside them,
 * sends what a hostile validator with a real key and a real place in the set can send:
 *
 * - votes and proposals it signs itself (around its privval) for far-future rounds and heights;
 * - when it proposes, a twin of its block whose time lies far in the future, in place of the
 *   honest one (peers must refuse the block, and the round move on);
 * - `decided` messages with a real committed block and a commit of junk signatures;
 * - `status` messages whose frame names another peer as author (a node that answered them
 *   would send its blocks to that peer, not to the liar);
 * - batches of transactions that do not decode, on the consensus channel and on the tx topic;
 * - evidence of equivocation whose votes carry junk signatures.
 *
 * Honest peers must keep committing, agree on every block, and slash nobody for it: none of
 * this is a double sign of the same height and round, so the chain has nothing to slash.
 *
 * One attack goes out with every `ATTACK_EVERY_BROADCASTS`-th broadcast of the honest core,
 * in turn: the core re-sends its status and votes every gossip interval, so the attacks keep
 * coming for as long as the validator runs and stop when it stops.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import type { Signer } from '../consensus/keys.ts'
import { type ConsensusMessage, type ConsensusTransport, encodeMessage } from '../consensus/messages.ts'
import type { BlockStore } from '../consensus/stores.ts'
import { encodeMessageFrame } from '../net/flood-channel.ts'
import type { NetNode } from '../net/node.ts'
import { consensusProtocol } from '../net/node.ts'
import { type Clock, deadlineSignal } from '../runtime/clock.ts'
import type { Logger } from '../runtime/logger.ts'
import type { SeededRandom } from '../runtime/random.ts'
import { byzantineMessages, channelAttackMessage, heightSent } from './byzantine-messages.ts'

/** An attack with every this many honest broadcasts (the core broadcasts a few times a gossip interval). */
export const ATTACK_EVERY_BROADCASTS = 4
/** Junk transactions per flood (each `JUNK_TX_BYTES`, byzantine-messages.ts). */
export const JUNK_TXS_PER_FLOOD = 64

export const BYZANTINE_ATTACKS = [
  'farFutureRoundVote',
  'farFutureHeightVote',
  'farFutureRoundProposal',
  'junkDecided',
  'forgedStatusAuthor',
  'junkTxFlood',
  'junkEvidence',
] as const
export type ByzantineAttack = (typeof BYZANTINE_ATTACKS)[number]

export interface ByzantineValidatorInit {
  readonly chainId: string
  readonly signer: Signer
  readonly validatorIndex: number
  /** The honest link: everything the core sends still goes through it. */
  readonly link: ConsensusTransport
  /** For frames with a forged author (written on a stream of our own) and the tx topic. */
  readonly net: NetNode
  /** Real committed blocks, for `decided` messages that look right but for their commit. */
  readonly blockStore: BlockStore
  readonly random: SeededRandom
  readonly clock: Clock
  readonly logger: Logger
}

/** The transport, and how many of each attack it has sent ('farFutureBlockTime': its own proposals' twins). */
export interface ByzantineTransport extends ConsensusTransport {
  readonly sent: ReadonlyMap<ByzantineAttack | 'farFutureBlockTime', number>
}

/** The consensus transport of a Byzantine validator: the honest link plus a running mix of attacks. */
export function byzantineTransport(init: ByzantineValidatorInit): ByzantineTransport {
  const { chainId, signer, validatorIndex, link, net, blockStore, random, clock, logger } = init
  const build = byzantineMessages({ chainId, signer, validatorIndex, blockStore, random })
  const log = logger.child({ misbehaviour: 'byzantineValidator' })
  let broadcasts = 0
  let next = 0
  const sent = new Map<ByzantineAttack | 'farFutureBlockTime', number>()
  const count = (kind: ByzantineAttack | 'farFutureBlockTime') => sent.set(kind, (sent.get(kind) ?? 0) + 1)
  /** The height the honest core is deciding (from its own status messages and votes). */
  let height = 1
  const rawStreams = new Map<string, Stream>()
  /** A frame on the consensus protocol, on a stream of our own, naming `author` as its author. */
  const sendForged = async (peer: PeerId, author: string, message: ConsensusMessage): Promise<void> => {
    const key = peer.toString()
    let stream = rawStreams.get(key)
    if (stream === undefined || stream.status !== 'open') {
      stream = await net.libp2p.dialProtocol(peer, consensusProtocol(chainId), {
        signal: deadlineSignal(clock, 5_000, 'a raw consensus stream'),
      })
      rawStreams.set(key, stream)
    }
    stream.send(encodeMessageFrame(random.nextU32(), author, '', encodeMessage(message)).wire)
  }

  const attack = (kind: ByzantineAttack): void => {
    switch (kind) {
      case 'forgedStatusAuthor': {
        const peers = net.libp2p.getPeers()
        for (const [i, peer] of peers.entries()) {
          // Name another peer as the author: a node that answers a status answers its author.
          const victim = peers[(i + 1) % peers.length] ?? peer
          sendForged(peer, victim.toString(), { kind: 'status', height: 1 }).catch((error: unknown) => {
            rawStreams.delete(peer.toString())
            log.debug({ err: error, peer: peer.toString() }, 'forged status not sent')
          })
        }
        return
      }
      case 'junkTxFlood': {
        const txs = build.junkTxs(JUNK_TXS_PER_FLOOD)
        link.broadcast({ kind: 'txs', txs })
        for (const tx of txs.slice(0, 4))
          net.gossip.publish('tx', { tx }).catch((error: unknown) => {
            log.debug({ err: error }, 'junk tx not published')
          })
        return
      }
      default: {
        const message = channelAttackMessage(build, kind, height)
        if (message !== undefined) link.broadcast(message)
      }
    }
  }

  const observe = (message: ConsensusMessage): void => {
    height = heightSent(message, validatorIndex, height)
  }

  return {
    sent,
    send: (peer, message) => {
      observe(message)
      link.send(peer, message)
    },
    peers: link.peers?.bind(link),
    broadcast: (message) => {
      observe(message)
      const mine = build.isOwnProposal(message)
      link.broadcast(mine ? build.farFutureTwin(message) : message)
      if (mine) count('farFutureBlockTime')
      broadcasts++
      if (broadcasts % ATTACK_EVERY_BROADCASTS !== 0) return
      const kind = BYZANTINE_ATTACKS[next % BYZANTINE_ATTACKS.length] as ByzantineAttack
      next++
      log.info({ attack: kind, height }, 'byzantine: attack sent')
      attack(kind)
      count(kind)
    },
  }
}
