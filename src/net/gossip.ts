/**
 * Typed gossip over gossipsub. Every inbound message goes through one pipeline before it is
 * delivered or forwarded (gossipsub runs with `asyncValidation`, so nothing is forwarded until
 * we report a verdict):
 *
 *   fault injection (delay, loss) → per-topic queue bound → size cap → msgpack decode →
 *   shape check → the subscriber's own validator → handler
 *
 * A failure at any step is a `GossipValidationError` carrying IGNORE or REJECT; one adapter
 * (`#verdictOf`) turns it into gossipsub's verdict, so REJECTs lower the sender's score and an
 * unexpected error is an IGNORE (our bug must not get an honest peer pruned).
 */

import { type GossipsubMessage, TopicValidatorResult } from '@libp2p/gossipsub'
import { createTopicScoreParams, type TopicScoreParams } from '@libp2p/gossipsub/score'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { assert } from '../runtime/assert.ts'
import { type Clock, sleep } from '../runtime/clock.ts'
import { isR3mesError } from '../runtime/errors.ts'
import type { Logger } from '../runtime/logger.ts'
import { decodeMessage, encodeMessage } from './codec.ts'
import { GossipValidationError, type GossipVerdict } from './errors.ts'
import type { FaultInjector } from './faults.ts'
import {
  parseTopic,
  type SubnetTopicKind,
  subnetTopicKinds,
  type TopicAddress,
  type TopicKind,
  type TopicPayloads,
  topicSpecs,
  topicString,
} from './topics.ts'

/** The parts of the gossipsub service we use beyond its published interface. */
export interface GossipsubService {
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  publish(topic: string, data: Uint8Array): Promise<{ recipients: PeerId[] }>
  getMeshPeers(topic: string): string[]
  getScore(peerId: string): number
  reportMessageValidationResult(msgId: string, propagationSource: string, acceptance: TopicValidatorResult): void
  addEventListener(type: 'gossipsub:message', listener: (evt: CustomEvent<GossipsubMessage>) => void): void
  removeEventListener(type: 'gossipsub:message', listener: (evt: CustomEvent<GossipsubMessage>) => void): void
  score: { params: { topics: Record<string, TopicScoreParams> } }
}

export interface GossipContext {
  /** The peer that signed and first published the message (unsigned gossip: the forwarder). */
  from: string
  /** The peer that forwarded it to us (the one scored for it). */
  propagationSource: string
  topic: TopicAddress
  /** Whether the message is signed, so `from` is its author (unsigned gossip names no author). */
  signed: boolean
}

export interface TopicSubscriber<K extends TopicKind> {
  /** Semantic checks (signatures, heights, membership); throw GossipValidationError. */
  validate?(payload: TopicPayloads[K], context: GossipContext): void | Promise<void>
  /** Called once per accepted message. */
  handle(payload: TopicPayloads[K], context: GossipContext): void
}

export interface GossipStats {
  accept: number
  ignore: number
  reject: number
}

export interface GossipRouterComponents {
  libp2p: Libp2p<{ pubsub: GossipsubService }>
  clock: Clock
  logger: Logger
  faults: FaultInjector
}

export interface GossipRouterInit {
  chainId: string
  /** Tighter queue bounds for some kinds (tests, small nodes). @default the topic table's */
  queueLengths?: Partial<Record<TopicKind, number>>
}

/** Score parameters for one of our topics: a single invalid message puts the sender below 0. */
export function topicScoreParams(): TopicScoreParams {
  return createTopicScoreParams({
    topicWeight: 1,
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 100,
    firstMessageDeliveriesWeight: 0.1,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 10,
    // Quiet topics (no traffic for minutes) are normal here: do not punish missing deliveries.
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    // P4 is squared: one invalid message costs 100, below the graylist threshold (-80).
    invalidMessageDeliveriesWeight: -100,
    invalidMessageDeliveriesDecay: 0.5,
  })
}

interface Route {
  address: TopicAddress
  subscriber: TopicSubscriber<TopicKind>
  /** Messages between receipt and verdict; bounded by the topic's queueLength. */
  pending: number
}

export class GossipRouter {
  readonly #chainId: string
  readonly #pubsub: GossipsubService
  readonly #clock: Clock
  readonly #log: Logger
  readonly #faults: FaultInjector
  readonly #routes = new Map<string, Route>()
  readonly #queueLengths: Partial<Record<TopicKind, number>>
  readonly stats: GossipStats = { accept: 0, ignore: 0, reject: 0 }
  readonly #onMessage = (evt: CustomEvent<GossipsubMessage>): void => {
    // Never let a failure escape into gossipsub's event dispatch (or become an unhandled
    // rejection, which ends the process).
    this.#process(evt.detail).catch((error: unknown) => {
      this.#log.error({ err: error, topic: evt.detail.msg.topic }, 'gossip processing failed')
    })
  }

  constructor(init: GossipRouterInit, components: GossipRouterComponents) {
    this.#chainId = init.chainId
    this.#queueLengths = init.queueLengths ?? {}
    this.#pubsub = components.libp2p.services.pubsub
    assert(typeof this.#pubsub.reportMessageValidationResult === 'function', 'pubsub service is not gossipsub')
    this.#clock = components.clock
    this.#log = components.logger.child({ component: 'gossip' })
    this.#faults = components.faults
    this.#pubsub.addEventListener('gossipsub:message', this.#onMessage)
  }

  topic<K extends TopicKind>(kind: K, subnet?: number): string {
    return topicString(
      subnet === undefined ? { kind, chainId: this.#chainId } : { kind, chainId: this.#chainId, subnet },
    )
  }

  /** Join a topic. Returns a function that leaves it. One subscriber per topic. */
  subscribe<K extends TopicKind>(kind: K, subscriber: TopicSubscriber<K>, subnet?: number): () => void {
    const topic = this.topic(kind, subnet)
    assert(!this.#routes.has(topic), `already subscribed to ${topic}`)
    this.#routes.set(topic, {
      address: parseTopic(topic, this.#chainId),
      subscriber: subscriber as unknown as TopicSubscriber<TopicKind>,
      pending: 0,
    })
    this.#pubsub.score.params.topics[topic] ??= topicScoreParams()
    this.#pubsub.subscribe(topic)
    return () => {
      this.#routes.delete(topic)
      this.#pubsub.unsubscribe(topic)
    }
  }

  /**
   * Join every topic of subnet `k`: the type asks for one subscriber per subnet kind, so a
   * new subnet kind in the topic table does not compile until peers handle it.
   */
  joinSubnet(subnet: number, subscribers: { [K in SubnetTopicKind]: TopicSubscriber<K> }): () => void {
    const leaves = subnetTopicKinds.map((kind) =>
      this.subscribe(kind, subscribers[kind] as TopicSubscriber<typeof kind>, subnet),
    )
    return () => {
      for (const leave of leaves) leave()
    }
  }

  /** Encode (checking the cap and shape) and publish; returns how many peers it went to. */
  async publish<K extends TopicKind>(kind: K, payload: TopicPayloads[K], subnet?: number): Promise<number> {
    const topic = this.topic(kind, subnet)
    const spec = topicSpecs[kind]
    spec.shape(payload, topic)
    const result = await this.#pubsub.publish(topic, encodeMessage(payload, spec.maxBytes, topic))
    return result.recipients.length
  }

  meshPeers(kind: TopicKind, subnet?: number): string[] {
    return this.#pubsub.getMeshPeers(this.topic(kind, subnet))
  }

  score(peer: string): number {
    return this.#pubsub.getScore(peer)
  }

  stop(): void {
    this.#pubsub.removeEventListener('gossipsub:message', this.#onMessage)
  }

  async #process(event: GossipsubMessage): Promise<void> {
    const source = event.propagationSource.toString()
    const route = this.#routes.get(event.msg.topic)
    let verdict: GossipVerdict
    let context: GossipContext | undefined
    let payload: unknown
    if (route === undefined) {
      // Gossipsub only hands us topics we subscribed to; a race with unsubscribe lands here.
      verdict = 'ignore'
    } else if (route.pending >= this.#queueLength(route.address.kind)) {
      // Overloaded: drop without blame rather than let memory grow.
      verdict = 'ignore'
    } else {
      route.pending++
      try {
        context = {
          from: event.msg.type === 'signed' ? event.msg.from.toString() : source,
          propagationSource: source,
          topic: route.address,
          signed: event.msg.type === 'signed',
        }
        payload = await this.#validate(route, event, context)
        verdict = 'accept'
      } catch (error) {
        verdict = this.#verdictOf(error, event.msg.topic, source)
      } finally {
        route.pending--
      }
    }
    this.stats[verdict]++
    this.#pubsub.reportMessageValidationResult(event.msgId, source, toLibp2p(verdict))
    if (verdict === 'accept' && route !== undefined && context !== undefined) {
      try {
        route.subscriber.handle(payload as TopicPayloads[TopicKind], context)
      } catch (error) {
        this.#log.error({ err: error, topic: event.msg.topic }, 'gossip handler failed')
      }
    }
  }

  async #validate(route: Route, event: GossipsubMessage, context: GossipContext): Promise<unknown> {
    const source = context.propagationSource
    const link = this.#faults.linkFaults(source)
    if (link.delayMs > 0) await sleep(this.#clock, link.delayMs)
    if (this.#faults.shouldDrop(source)) throw new GossipValidationError('ignore', 'dropped by fault injection')
    const spec = topicSpecs[route.address.kind]
    let payload: unknown
    try {
      payload = spec.shape(decodeMessage(event.msg.data, spec.maxBytes, event.msg.topic), event.msg.topic)
    } catch (error) {
      // Bytes that do not decode to the topic's type are the sender's fault.
      throw new GossipValidationError('reject', (error as Error).message, { topic: event.msg.topic }, { cause: error })
    }
    await route.subscriber.validate?.(payload as TopicPayloads[TopicKind], context)
    return payload
  }

  #queueLength(kind: TopicKind): number {
    const spec = topicSpecs[kind].queueLength
    return Math.min(spec, this.#queueLengths[kind] ?? spec)
  }

  #verdictOf(error: unknown, topic: string, source: string): GossipVerdict {
    if (error instanceof GossipValidationError) {
      this.#log.debug({ topic, peer: source, verdict: error.verdict, reason: error.message }, 'gossip message dropped')
      return error.verdict
    }
    this.#log.warn(
      { topic, peer: source, err: error, code: isR3mesError(error) ? error.code : undefined },
      'validator failed',
    )
    return 'ignore'
  }
}

function toLibp2p(verdict: GossipVerdict): TopicValidatorResult {
  switch (verdict) {
    case 'accept':
      return TopicValidatorResult.Accept
    case 'ignore':
      return TopicValidatorResult.Ignore
    case 'reject':
      return TopicValidatorResult.Reject
  }
}

export function gossipRouter(init: GossipRouterInit): (components: GossipRouterComponents) => GossipRouter {
  return (components) => new GossipRouter(init, components)
}
