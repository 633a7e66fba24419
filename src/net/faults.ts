/**
 * Fault injection on real connections, switchable at run time; chaos tests drive it.
 *
 * - `partition` / `block` / `disconnect` act on the libp2p connections themselves: the
 *   connection gater refuses dials and inbound upgrades to or from blocked peers, and
 *   existing connections are hung up, so no protocol can cross the cut. `heal` lifts the
 *   rules and redials the peers that were cut off.
 * - `setDelay` and `setLoss` act per message on what crosses a connection: gossip messages
 *   received from the peer wait `delayMs` and are dropped with probability `loss` before
 *   validation (a drop is an IGNORE, so the sender is not blamed), and activation frames sent
 *   to the peer wait `delayMs`; a lossy activation stream is aborted (a stream is reliable:
 *   losing part of it means losing the stream).
 *
 * Every decision is local to this node (each node of a testnet runs its own injector), and
 * randomness comes from the node's SeededRandom, so a chaos run replays from its seed.
 */
import type { ConnectionGater, Libp2p, PeerId } from '@libp2p/interface'
import { assert } from '../runtime/assert.ts'
import type { Logger } from '../runtime/logger.ts'
import type { SeededRandom } from '../runtime/random.ts'

export interface LinkFaults {
  /** Added one-way latency, in ms. @default 0 */
  delayMs: number
  /** Probability in [0, 1] that a message from the peer is dropped. @default 0 */
  loss: number
}

export interface FaultInjectorComponents {
  random: SeededRandom
  logger: Logger
}

export class FaultInjector {
  readonly #random: SeededRandom
  readonly #log: Logger
  readonly #links = new Map<string, LinkFaults>()
  readonly #blocked = new Set<string>()
  /** Peers we were connected to when they were cut off: heal() dials them again. */
  readonly #cutOff = new Map<string, PeerId>()
  #libp2p: Libp2p | undefined

  constructor(components: FaultInjectorComponents) {
    this.#random = components.random.fork('faults')
    this.#log = components.logger.child({ component: 'faults' })
  }

  /** Attach to the node whose connections the injector cuts (done by the node factory). */
  attach(libp2p: Libp2p): void {
    this.#libp2p = libp2p
  }

  /** The gater handed to libp2p; consults the current rules on every dial and upgrade. */
  readonly gater: ConnectionGater = {
    denyDialPeer: (peer) => this.isBlocked(peer.toString()),
    denyInboundEncryptedConnection: (peer) => this.isBlocked(peer.toString()),
    denyOutboundEncryptedConnection: (peer) => this.isBlocked(peer.toString()),
  }

  isBlocked(peer: string): boolean {
    return this.#blocked.has(peer)
  }

  linkFaults(peer: string): LinkFaults {
    return this.#links.get(peer) ?? { delayMs: 0, loss: 0 }
  }

  setDelay(peer: string, delayMs: number): void {
    assert(Number.isFinite(delayMs) && delayMs >= 0, 'delay must be >= 0 ms')
    this.#links.set(peer, { ...this.linkFaults(peer), delayMs })
    this.#log.info({ peer, delayMs }, 'fault: delay')
  }

  setLoss(peer: string, loss: number): void {
    assert(loss >= 0 && loss <= 1, 'loss must be a probability')
    this.#links.set(peer, { ...this.linkFaults(peer), loss })
    this.#log.info({ peer, loss }, 'fault: loss')
  }

  /** Decide, once per message, whether the link drops it. */
  shouldDrop(peer: string): boolean {
    const loss = this.#links.get(peer)?.loss ?? 0
    return loss > 0 && this.#random.chance(loss)
  }

  /** Close every connection to `peer` now; it may reconnect (unlike `block`). */
  async disconnect(peer: PeerId): Promise<void> {
    this.#log.info({ peer: peer.toString() }, 'fault: disconnect')
    await this.#libp2p?.hangUp(peer)
  }

  /** Cut `peer` off until `unblock` or `heal`: existing connections close, new ones are refused. */
  async block(peer: PeerId): Promise<void> {
    const id = peer.toString()
    if (this.#libp2p?.getConnections(peer).length) this.#cutOff.set(id, peer)
    this.#blocked.add(id)
    this.#log.info({ peer: id }, 'fault: block')
    await this.#libp2p?.hangUp(peer)
  }

  async unblock(peer: PeerId): Promise<void> {
    this.#blocked.delete(peer.toString())
    await this.#redial([peer.toString()])
  }

  /**
   * Split the network into groups: this node keeps talking to peers of its own group and is
   * cut off from every peer listed in another group. Peers listed nowhere are not affected.
   */
  async partition(groups: readonly (readonly PeerId[])[]): Promise<void> {
    const self = this.#libp2p?.peerId.toString()
    assert(self !== undefined, 'fault injector is not attached to a node')
    const own = groups.find((g) => g.some((p) => p.toString() === self))
    const cut = groups.filter((g) => g !== own).flat()
    await Promise.all(cut.map((peer) => this.block(peer)))
  }

  /** Lift every fault and reconnect to the peers that were cut off. */
  async heal(): Promise<void> {
    const cut = [...this.#blocked]
    this.#blocked.clear()
    this.#links.clear()
    this.#log.info({ peers: cut.length }, 'fault: heal')
    await this.#redial(cut)
  }

  async #redial(ids: string[]): Promise<void> {
    const libp2p = this.#libp2p
    if (libp2p === undefined) return
    await Promise.all(
      ids.map(async (id) => {
        const peer = this.#cutOff.get(id)
        if (peer === undefined) return
        this.#cutOff.delete(id)
        try {
          await libp2p.dial(peer)
        } catch (error) {
          // The peer may be gone for real; discovery will find it again if it comes back.
          this.#log.warn({ peer: id, err: error }, 'redial after heal failed')
        }
      }),
    )
  }
}

export function faultInjector(): (components: FaultInjectorComponents) => FaultInjector {
  return (components) => new FaultInjector(components)
}
