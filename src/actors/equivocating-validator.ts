/**
 * The `equivocatingValidator` misbehaviour (tests and chaos scenarios): beside each of its
 * prevotes for a block this validator signs and sends a nil prevote for the same height and
 * round, around its privval (which would refuse). Peers must turn the pair into evidence and
 * the chain must slash it, once.
 */
import type { Signer } from '../consensus/keys.ts'
import type { ConsensusTransport } from '../consensus/messages.ts'
import { voteSignBytes } from '../consensus/signing.ts'
import type { UnsignedVote } from '../consensus/types.ts'
import type { Logger } from '../runtime/logger.ts'

export interface EquivocatingTransportInit {
  readonly chainId: string
  readonly signer: Signer
  readonly validatorIndex: number
  /** The honest transport the messages go out on. */
  readonly link: ConsensusTransport
  readonly logger: Logger
}

export function equivocatingTransport(init: EquivocatingTransportInit): ConsensusTransport {
  const { chainId, signer, validatorIndex, link, logger } = init
  return {
    send: (peer, message) => link.send(peer, message),
    peers: link.peers?.bind(link),
    broadcast: (message) => {
      link.broadcast(message)
      if (message.kind !== 'vote') return
      const v = message.vote
      if (v.type !== 'prevote' || v.blockHash === null || v.validatorIndex !== validatorIndex) return
      const twin: UnsignedVote = { ...v, blockHash: null }
      link.broadcast({ kind: 'vote', vote: { ...twin, signature: signer.sign(voteSignBytes(chainId, twin)) } })
      logger.info({ height: v.height, round: v.round }, 'equivocated: signed a second prevote')
    },
  }
}
