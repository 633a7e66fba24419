/**
 * The consensus engine's network link: `ConsensusTransport` (send) and `ConsensusInbox`
 * (receive) over the node's consensus flood channel (`src/net/flood-channel.ts`), one stream
 * per connected peer, as CometBFT's reactor carries consensus on its own peer channels. Every
 * message is the consensus module's own encoding, decoded once when it arrives; a message that
 * does not decode is refused (neither handled nor relayed). Messages for one peer (decided
 * blocks for a node that is catching up) carry that peer as their addressee, and only it
 * takes them. Handlers are told the neighbour a message came from, as the connection
 * authenticates it: the author a message names is only what its sender claims, so nothing is
 * ever sent to it on the message's word. A `status` (a peer asking for a decided block) is
 * taken only straight from its author: the answer goes to the neighbour that asked, never to
 * a name a relayed message gives. Votes and blocks prove their own authors with signatures.
 */
import type { ConsensusInbox, ConsensusMessage, ConsensusTransport } from '../consensus/index.ts'
import { decodeMessage, encodeMessage } from '../consensus/index.ts'
import type { FloodChannel } from '../net/flood-channel.ts'
import type { Logger } from '../runtime/logger.ts'

type Handler = (message: ConsensusMessage, from: string) => void

export interface ConsensusLink extends ConsensusTransport, ConsensusInbox {
  /** Stop taking messages; nothing is delivered afterwards. */
  close(): void
}

export interface ConsensusLinkInit {
  readonly channel: FloodChannel
  readonly logger: Logger
}

export function consensusLink(init: ConsensusLinkInit): ConsensusLink {
  const { channel, logger } = init
  const handlers = new Set<Handler>()
  /** Decoded once in validation, handed to the handlers without decoding again. */
  const decoded = new WeakMap<Uint8Array, ConsensusMessage>()
  const publish = (message: ConsensusMessage, to: string): void => {
    try {
      channel.publish(encodeMessage(message), to)
    } catch (error) {
      // Only a message over the channel's cap fails here; consensus never builds one.
      logger.error({ err: error, kind: message.kind }, 'consensus message not sent')
    }
  }
  const leave = channel.subscribe({
    validate(body) {
      decoded.set(body, decodeMessage(body))
    },
    handle(body, context) {
      const message = decoded.get(body) ?? decodeMessage(body)
      if (message.kind === 'status' && context.author !== context.from) return
      for (const handler of handlers) handler(message, context.from)
    },
  })
  return {
    broadcast: (message) => publish(message, ''),
    send: (peer, message) => publish(message, peer),
    peers: () => channel.peers(),
    subscribe(handler) {
      handlers.add(handler)
      return () => handlers.delete(handler)
    },
    disconnect(peer, reason) {
      channel.closePeer(peer, reason)
    },
    close() {
      handlers.clear()
      leave()
    },
  }
}
