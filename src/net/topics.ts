/**
 * The gossip topics, one table keyed by topic kind (after Lodestar's gossip interface): a kind
 * does not compile until it has a payload type, a decoder that checks the shape, a size cap
 * and a bounded queue. Topic strings are versioned and carry the chain id, and the subnet for
 * per-subnet topics: `/r3mes/<chainId>/tx/1`, `/r3mes/<chainId>/subnet/<k>/<name>/1`.
 */
import {
  MAX_HOLDINGS_GOSSIP_BYTES,
  MAX_HOLDINGS_GOSSIP_PENDING,
  MAX_PRESENCE_GOSSIP_BYTES,
  MAX_PRESENCE_GOSSIP_PENDING,
  MAX_TX_GOSSIP_BYTES,
  MAX_TX_GOSSIP_PENDING,
} from '../runtime/limits.ts'
import { UnknownTopicError } from './errors.ts'
import { type Shape, type SubnetMemberRole, shapes } from './shapes.ts'

export { SUBNET_MEMBER_ROLES, type SubnetMemberRole } from './shapes.ts'

/** A signed chain transaction, opaque to the network (the chain decodes and checks it). */
export interface TxGossip {
  /** The transaction's canonical encoding. */
  tx: Uint8Array
}

/**
 * A node of the subnet says it is alive and ready for `window`: sent when it joins and when a
 * window opens. Pipeline neighbours are chosen among the miners ready for the window.
 */
export interface PresenceGossip {
  /** The node's libp2p peer id; must be the message's signer. */
  peer: string
  window: number
  /** What it does in the subnet (one or both, no repeats). */
  roles: SubnetMemberRole[]
  /** The subnet's backbone range CID, when the node holds the range. */
  range: string | null
  /** The subnet's adapter-state CID the node holds (null: the initial state). */
  adapter: string | null
}

/**
 * CIDs a node holds and serves for the subnet (a range manifest and its bundles, adapter
 * states, gradients, boundary tensors, traces), batched: a fetcher asks these peers for the
 * bytes without asking the chain who stored them.
 */
export interface HoldingsGossip {
  /** The node's libp2p peer id; must be the message's signer. */
  peer: string
  /** The window the content belongs to (the current one for the backbone and adapters). */
  window: number
  cids: string[]
}

/** Payload type per topic kind. */
export interface TopicPayloads {
  tx: TxGossip
  presence: PresenceGossip
  holdings: HoldingsGossip
}

export type TopicKind = keyof TopicPayloads

/** Chain-wide topics have one instance per chain; subnet topics one per subnet. */
export interface TopicScopes {
  tx: 'chain'
  presence: 'subnet'
  holdings: 'subnet'
}

export interface TopicSpec<K extends TopicKind> {
  kind: K
  scope: TopicScopes[K]
  /** Cap on the encoded message, checked before decoding. */
  maxBytes: number
  /** Bound on messages waiting for validation; beyond it new messages are IGNOREd. */
  queueLength: number
  /** Structural check of the decoded value; throws MalformedMessageError. */
  shape: Shape<TopicPayloads[K]>
}

export const TOPIC_VERSION = 1

export const topicSpecs: { readonly [K in TopicKind]: TopicSpec<K> } = {
  tx: {
    kind: 'tx',
    scope: 'chain',
    maxBytes: MAX_TX_GOSSIP_BYTES,
    queueLength: MAX_TX_GOSSIP_PENDING,
    shape: shapes.tx,
  },
  presence: {
    kind: 'presence',
    scope: 'subnet',
    maxBytes: MAX_PRESENCE_GOSSIP_BYTES,
    queueLength: MAX_PRESENCE_GOSSIP_PENDING,
    shape: shapes.presence,
  },
  holdings: {
    kind: 'holdings',
    scope: 'subnet',
    maxBytes: MAX_HOLDINGS_GOSSIP_BYTES,
    queueLength: MAX_HOLDINGS_GOSSIP_PENDING,
    shape: shapes.holdings,
  },
}

export const topicKinds = Object.keys(topicSpecs) as TopicKind[]

/** The kinds that exist once per subnet. */
export type SubnetTopicKind = { [K in TopicKind]: TopicScopes[K] extends 'subnet' ? K : never }[TopicKind]

export const subnetTopicKinds = topicKinds.filter((k) => topicSpecs[k].scope === 'subnet') as SubnetTopicKind[]

/** Where a topic lives: which chain and, for subnet topics, which subnet. */
export interface TopicAddress<K extends TopicKind = TopicKind> {
  kind: K
  chainId: string
  subnet?: number
}

const CHAIN_ID = /^[a-z0-9][a-z0-9-]{0,63}$/

export function isValidChainId(chainId: string): boolean {
  return CHAIN_ID.test(chainId)
}

export function topicString(address: TopicAddress): string {
  const spec = topicSpecs[address.kind]
  if (!isValidChainId(address.chainId)) throw new UnknownTopicError(address.chainId, 'bad chain id')
  if (spec.scope === 'chain') {
    if (address.subnet !== undefined) throw new UnknownTopicError(address.kind, 'chain topic takes no subnet')
    return `/r3mes/${address.chainId}/${address.kind}/${TOPIC_VERSION}`
  }
  const k = address.subnet
  if (k === undefined || !Number.isSafeInteger(k) || k < 0)
    throw new UnknownTopicError(address.kind, 'subnet topic needs a subnet index >= 0')
  return `/r3mes/${address.chainId}/subnet/${k}/${address.kind}/${TOPIC_VERSION}`
}

/** Parse one of our topic strings for `chainId`; anything else is an UnknownTopicError. */
export function parseTopic(topic: string, chainId: string): TopicAddress {
  const parts = topic.split('/')
  if (parts[0] !== '' || parts[1] !== 'r3mes') throw new UnknownTopicError(topic, 'not an r3mes topic')
  if (parts[2] !== chainId) throw new UnknownTopicError(topic, `not chain ${chainId}`)
  let kindPart: string | undefined
  let subnet: number | undefined
  let version: string | undefined
  if (parts[3] === 'subnet' && parts.length === 7) {
    if (!/^(0|[1-9][0-9]{0,8})$/.test(parts[4] ?? '')) throw new UnknownTopicError(topic, 'bad subnet index')
    subnet = Number(parts[4])
    kindPart = parts[5]
    version = parts[6]
  } else if (parts.length === 5) {
    kindPart = parts[3]
    version = parts[4]
  } else {
    throw new UnknownTopicError(topic, 'wrong number of segments')
  }
  if (kindPart === undefined || !Object.hasOwn(topicSpecs, kindPart)) throw new UnknownTopicError(topic, 'unknown kind')
  const kind = kindPart as TopicKind
  if (version !== String(TOPIC_VERSION)) throw new UnknownTopicError(topic, `unsupported version ${version}`)
  const scope = topicSpecs[kind].scope
  if ((scope === 'subnet') !== (subnet !== undefined)) throw new UnknownTopicError(topic, `wrong scope for ${kind}`)
  return subnet === undefined ? { kind, chainId } : { kind, chainId, subnet }
}
