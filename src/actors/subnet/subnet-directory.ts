/**
 * The subnet directory: this node's view of the subnet topics it joined. It checks every
 * `presence` and `holdings` message (ACCEPT / IGNORE / REJECT, see `#check*`), keeps what
 * they say in bounded maps, and answers three questions:
 *
 * - `readyMiners(subnet, window)`: the miners that said they are alive and ready for the
 *   window (pipeline neighbours are chosen among them);
 * - `holdersOf(cid)`: the peers that announced holding a CID (`HolderHints`: the content
 *   fetcher asks them before the DHT, so a gradient or boundary tensor is found without
 *   asking the chain who stored it);
 * - `recentContent(subnet, sinceWindow)`: what the subnet announced lately (a subnet peer
 *   fetches and pins it, so it outlives the miners that made it).
 *
 * It also publishes this node's own presence and holdings (`announcePresence`,
 * `announce`). The content fetcher's `store()` does not report here: it does not know which
 * subnet bytes belong to, so the role that stored them announces them.
 *
 * Gossipsub signs every message with the author's key, so `from` is the author: a payload
 * naming another peer is a forgery and is REJECTed. Unsigned gossip names no author, and its
 * subnet messages are IGNOREd.
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { ChainReader } from '../../chain/reader.ts'
import { GossipValidationError } from '../../net/errors.ts'
import type { GossipContext, GossipRouter, TopicSubscriber } from '../../net/gossip.ts'
import type { HoldingsGossip, PresenceGossip } from '../../net/topics.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import {
  MAX_HOLDINGS_CIDS_PER_MESSAGE,
  MAX_RECENT_SUBNET_CIDS,
  MAX_UNSTAKED_PRESENCE_PER_SUBNET,
  SUBNET_GOSSIP_WINDOW_SLACK,
} from '../../runtime/limits.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { HolderHints } from '../services/content-fetcher.ts'
import type { PeerDirectory } from '../services/peer-directory.ts'
import { HolderIndex, type HolderIndexBounds } from './holder-index.ts'

/** The part of the gossip router the directory uses (a test hands in its own). */
export type SubnetGossip = Pick<GossipRouter, 'joinSubnet' | 'publish'>

export interface SubnetDirectoryComponents {
  readonly gossip: SubnetGossip
  readonly chain: ChainReader
  readonly peers: PeerDirectory
  /** This node's peer id (its presence and holdings name it). */
  readonly self: PeerId
  readonly logger: Logger
}

export interface SubnetDirectoryInit {
  /**
   * The subnets whose topics this node joins: a miner or subnet peer its own; a node that
   * fetches across subnets (aggregator, verifier, arbiter, challenger, serving) every one.
   */
  readonly subnets: readonly number[]
  /** Tighter bounds (tests). @default the limits of runtime/limits.ts */
  readonly holderBounds?: HolderIndexBounds
  /** @default MAX_UNSTAKED_PRESENCE_PER_SUBNET */
  readonly maxUnstakedPresence?: number
  /** @default MAX_RECENT_SUBNET_CIDS */
  readonly maxRecentCids?: number
}

/** A miner that said it is ready for a window. */
export interface ReadyMiner {
  readonly address: string
  readonly peer: PeerId
  readonly presence: PresenceGossip
}

/** A CID the subnet announced, and the window it belongs to. */
export interface RecentContent {
  readonly cid: string
  readonly window: number
}

interface SubnetBoard {
  /** Staked miners of the subnet by window, then by peer id: bounded by the chain's stakers. */
  readonly miners: Map<number, Map<string, ReadyMiner>>
  /** Presence of peers the chain does not know (subnet peers), least recent first. */
  readonly unstaked: Map<string, PresenceGossip>
  /** Announced CIDs, least recently announced first. */
  readonly recent: Map<string, number>
}

export class SubnetDirectory implements HolderHints {
  readonly #c: SubnetDirectoryComponents
  readonly #log: Logger
  readonly #subnets: readonly number[]
  readonly #boards = new Map<number, SubnetBoard>()
  readonly #holders: HolderIndex
  readonly #maxUnstakedPresence: number
  readonly #maxRecentCids: number
  readonly #leaves: (() => void)[] = []

  constructor(init: SubnetDirectoryInit, components: SubnetDirectoryComponents) {
    this.#c = components
    this.#log = components.logger.child({ component: 'subnet-directory' })
    this.#subnets = [...new Set(init.subnets)].sort((a, b) => a - b)
    this.#holders = new HolderIndex(init.holderBounds)
    this.#maxUnstakedPresence = init.maxUnstakedPresence ?? MAX_UNSTAKED_PRESENCE_PER_SUBNET
    this.#maxRecentCids = init.maxRecentCids ?? MAX_RECENT_SUBNET_CIDS
    for (const subnet of this.#subnets)
      this.#boards.set(subnet, { miners: new Map(), unstaked: new Map(), recent: new Map() })
  }

  /** The subnets this node joined. */
  get subnets(): readonly number[] {
    return this.#subnets
  }

  /** Holder hints in the index (for the status endpoint and the bounds tests). */
  get holderHints(): number {
    return this.#holders.size
  }

  /** Join every subnet's topics. */
  start(): void {
    if (this.#leaves.length > 0) return
    for (const subnet of this.#subnets) {
      this.#leaves.push(
        this.#c.gossip.joinSubnet(subnet, {
          presence: this.#subscriber(subnet, this.#checkPresence, this.#recordPresence),
          holdings: this.#subscriber(subnet, this.#checkHoldings, this.#recordHoldings),
        }),
      )
    }
  }

  stop(): void {
    for (const leave of this.#leaves.splice(0)) leave()
  }

  holdersOf(cid: string): PeerId[] {
    return this.#holders.holdersOf(cid)
  }

  /** How many holder hints `peer` has here. */
  hintsOf(peer: PeerId | string): number {
    return this.#holders.hintsOf(peer)
  }

  /** The staked miners of `subnet` that said they are ready for `window`, by address. */
  readyMiners(subnet: number, window: number): ReadyMiner[] {
    const ready = this.#board(subnet).miners.get(window)
    return [...(ready?.values() ?? [])].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
  }

  /** The latest presence of the subnet's unstaked members (its subnet peers), most recent first. */
  subnetPeers(subnet: number): PresenceGossip[] {
    return [...this.#board(subnet).unstaked.values()].reverse()
  }

  /** CIDs the subnet announced for `sinceWindow` or later, most recent first. */
  recentContent(subnet: number, sinceWindow: number): RecentContent[] {
    return [...this.#board(subnet).recent]
      .filter(([, window]) => window >= sinceWindow)
      .reverse()
      .map(([cid, window]) => ({ cid, window }))
  }

  /** Tell the subnet this node is alive and ready for `presence.window`. */
  async announcePresence(subnet: number, presence: Omit<PresenceGossip, 'peer'>): Promise<void> {
    this.#board(subnet)
    await this.#c.gossip.publish('presence', { peer: this.#c.self.toString(), ...presence }, subnet)
  }

  /** Tell the subnet this node holds and serves `cids` (of `window`; default the current one). */
  async announce(subnet: number, cids: readonly string[], window = this.#currentWindow()): Promise<void> {
    this.#board(subnet)
    const unique = [...new Set(cids)]
    for (let i = 0; i < unique.length; i += MAX_HOLDINGS_CIDS_PER_MESSAGE) {
      const batch = unique.slice(i, i + MAX_HOLDINGS_CIDS_PER_MESSAGE)
      await this.#c.gossip.publish('holdings', { peer: this.#c.self.toString(), window, cids: batch }, subnet)
    }
  }

  #subscriber<T extends PresenceGossip | HoldingsGossip>(
    subnet: number,
    check: (subnet: number, payload: T, context: GossipContext) => void,
    record: (subnet: number, payload: T, author: PeerId) => void,
  ): TopicSubscriber<'presence'> & TopicSubscriber<'holdings'> {
    return {
      validate: (payload, context) => check.call(this, subnet, payload as T, context),
      handle: (payload, context) => record.call(this, subnet, payload as T, peerIdFromString(context.from)),
    } as TopicSubscriber<'presence'> & TopicSubscriber<'holdings'>
  }

  /** Checks every subnet message shares: an author, who is itself, in a window near ours. */
  #checkAuthorAndWindow(payload: PresenceGossip | HoldingsGossip, context: GossipContext): void {
    if (!context.signed) throw new GossipValidationError('ignore', 'unsigned subnet message: no author to credit')
    if (payload.peer !== context.from)
      throw new GossipValidationError('reject', `message names ${payload.peer} but is signed by ${context.from}`)
    const current = this.#currentWindow()
    if (Math.abs(payload.window - current) > SUBNET_GOSSIP_WINDOW_SLACK)
      throw new GossipValidationError('ignore', `window ${payload.window} is far from the current ${current}`)
  }

  #checkPresence(subnet: number, payload: PresenceGossip, context: GossipContext): void {
    this.#checkAuthorAndWindow(payload, context)
    const staker = this.#stakerOf(context.from)
    const minerOf = staker?.roles.includes('miner') === true ? staker.subnet : undefined
    const stakedMiner = minerOf !== undefined
    if (stakedMiner && minerOf !== subnet)
      throw new GossipValidationError('reject', `a miner of subnet ${minerOf} claims subnet ${subnet}`)
    if (payload.roles.includes('miner') && !stakedMiner)
      throw new GossipValidationError('reject', `claims the miner role in subnet ${subnet} without a miner's stake`)
    const board = this.#board(subnet)
    const known = stakedMiner
      ? board.miners.get(payload.window)?.get(context.from)?.presence
      : board.unstaked.get(context.from)
    if (known !== undefined && samePresence(known, payload))
      throw new GossipValidationError('ignore', 'presence already known')
  }

  #checkHoldings(_subnet: number, payload: HoldingsGossip, context: GossipContext): void {
    this.#checkAuthorAndWindow(payload, context)
    if (payload.cids.length > MAX_HOLDINGS_CIDS_PER_MESSAGE)
      throw new GossipValidationError('ignore', `${payload.cids.length} CIDs, over ${MAX_HOLDINGS_CIDS_PER_MESSAGE}`)
    if (payload.cids.length === 0) throw new GossipValidationError('ignore', 'no CIDs')
    if (payload.cids.every((cid) => this.#holders.knows(cid, context.from, payload.window)))
      throw new GossipValidationError('ignore', 'holdings already known')
  }

  #recordPresence(subnet: number, payload: PresenceGossip, author: PeerId): void {
    const board = this.#board(subnet)
    const id = author.toString()
    const staker = this.#stakerOf(id)
    if (staker?.roles.includes('miner') === true) {
      let ready = board.miners.get(payload.window)
      if (ready === undefined) {
        ready = new Map()
        board.miners.set(payload.window, ready)
      }
      ready.set(id, { address: staker.address, peer: author, presence: payload })
      // Windows too old to be accepted again go.
      const oldest = this.#currentWindow() - SUBNET_GOSSIP_WINDOW_SLACK
      for (const window of board.miners.keys()) if (window < oldest) board.miners.delete(window)
    } else {
      board.unstaked.delete(id)
      board.unstaked.set(id, payload)
      while (board.unstaked.size > this.#maxUnstakedPresence)
        board.unstaked.delete(board.unstaked.keys().next().value as string)
    }
    const held = [payload.range, payload.adapter].filter((cid): cid is string => cid !== null)
    for (const cid of held) this.#holders.add(cid, author, payload.window)
  }

  #recordHoldings(subnet: number, payload: HoldingsGossip, author: PeerId): void {
    const board = this.#board(subnet)
    let added = 0
    for (const cid of payload.cids) {
      if (this.#holders.add(cid, author, payload.window)) added++
      board.recent.delete(cid)
      board.recent.set(cid, payload.window)
    }
    while (board.recent.size > this.#maxRecentCids) board.recent.delete(board.recent.keys().next().value as string)
    this.#log.debug({ subnet, peer: author.toString(), cids: payload.cids.length, added }, 'holdings')
  }

  #stakerOf(peer: string): { address: string; roles: readonly string[]; subnet: number | null } | undefined {
    const address = this.#c.peers.addressOfPeer(peerIdFromString(peer))
    if (address === undefined) return undefined
    const staker = this.#c.chain.staker(address)
    return staker === null ? undefined : { address, roles: staker.roles, subnet: staker.subnet }
  }

  #currentWindow(): number {
    return this.#c.chain.currentWindow()?.id ?? 0
  }

  #board(subnet: number): SubnetBoard {
    const board = this.#boards.get(subnet)
    if (board === undefined)
      throw new InvalidArgumentError(`subnet ${subnet} is not one this node joined (${this.#subnets.join(', ')})`)
    return board
  }
}

function samePresence(a: PresenceGossip, b: PresenceGossip): boolean {
  return (
    a.window === b.window &&
    a.range === b.range &&
    a.adapter === b.adapter &&
    a.roles.length === b.roles.length &&
    a.roles.every((role) => b.roles.includes(role))
  )
}

export function subnetDirectory(init: SubnetDirectoryInit): (components: SubnetDirectoryComponents) => SubnetDirectory {
  return (components) => new SubnetDirectory(init, components)
}
