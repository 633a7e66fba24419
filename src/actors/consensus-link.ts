/**
 * The consensus engine's network link over gossip: `ConsensusTransport` (send) and
 * `ConsensusInbox` (receive) carried on the chain's consensus topic. Every message is the
 * consensus module's own encoding; a message that does not decode is the forwarder's fault
 * (REJECT, which lowers its gossip score). Messages for one peer (decided blocks for a node
 * that is catching up) travel the same topic with `to` set, and only the addressee takes them.
 */
import type { ConsensusInbox, ConsensusMessage, ConsensusTransport } from '../consensus/index.ts'
import { decodeMessage, encodeMessage } from '../consensus/index.ts'
import { GossipValidationError } from '../net/errors.ts'
import type { GossipRouter } from '../net/gossip.ts'
import type { ConsensusGossip } from '../net/topics.ts'
import type { Logger } from '../runtime/logger.ts'

type Handler = (message: ConsensusMessage, from: string) => void

export interface ConsensusLink extends ConsensusTransport, ConsensusInbox {
  /** Leave the topic; nothing is delivered afterwards. */
  close(): void
}

export interface ConsensusLinkInit {
  readonly gossip: GossipRouter
  readonly selfPeerId: string
  /** Whether the node signs its gossip (then `from` must be the signer). @default true */
  readonly signedGossip?: boolean
  readonly logger: Logger
}

export function consensusLink(init: ConsensusLinkInit): ConsensusLink {
  const { gossip, selfPeerId, logger } = init
  const signed = init.signedGossip ?? true
  const handlers = new Set<Handler>()
  /** Decoded once in validation, handed to the handlers without decoding again. */
  const decoded = new WeakMap<ConsensusGossip, ConsensusMessage>()
  const publish = (message: ConsensusMessage, to: string): void => {
    gossip.publish('consensus', { body: encodeMessage(message), to, from: selfPeerId }).catch((error: unknown) => {
      // A publish fails only when no peer is reachable; consensus re-sends on its gossip tick.
      logger.debug({ err: error, kind: message.kind }, 'consensus publish failed')
    })
  }
  const leave = gossip.subscribe('consensus', {
    validate(payload, context) {
      if (signed && payload.from !== context.from) {
        throw new GossipValidationError(
          'reject',
          `consensus message signed by ${context.from} claims to be from ${payload.from}`,
        )
      }
      try {
        decoded.set(payload, decodeMessage(payload.body))
      } catch (error) {
        throw new GossipValidationError('reject', `undecodable consensus message: ${(error as Error).message}`)
      }
    },
    handle(payload) {
      if (payload.to !== '' && payload.to !== selfPeerId) return
      const message = decoded.get(payload) ?? decodeMessage(payload.body)
      for (const handler of handlers) handler(message, payload.from)
    },
  })
  return {
    broadcast: (message) => publish(message, ''),
    send: (peer, message) => publish(message, peer),
    subscribe(handler) {
      handlers.add(handler)
      return () => handlers.delete(handler)
    },
    close() {
      handlers.clear()
      leave()
    },
  }
}
