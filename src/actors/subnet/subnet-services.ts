/**
 * A node's part in the subnet topics: which subnets it joins, its directory of them, and,
 * on a subnet peer, the seeding machine. Miners and subnet peers join their own subnet;
 * every other role (aggregating validators, verifiers, arbiters, challengers, serving nodes)
 * fetches pieces of every subnet (gradients, adapter states, traces, ranges), so it joins
 * them all, and its content fetcher finds holders by their announcements.
 */
import type { PeerId } from '@libp2p/interface'
import { type Actor, createActor, type InspectionEvent } from 'xstate'
import type { ChainReader } from '../../chain/reader.ts'
import type { GossipRouter } from '../../net/gossip.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { onNextTurn } from '../../runtime/event-loop.ts'
import type { Logger } from '../../runtime/logger.ts'
import { peerDirectory } from '../services/peer-directory.ts'
import { SubnetDirectory } from './subnet-directory.ts'
import { type SubnetPeerComponents, subnetPeerRole } from './subnet-peer.ts'

/** The roles that belong to one subnet; any other role joins every subnet. */
const SUBNET_BOUND_ROLES: readonly string[] = ['miner', 'subnet-peer']

export interface JoinSubnetsInit {
  readonly roles: readonly string[]
  /** The subnet a subnet peer seeds (and a miner's, when the chain does not say). */
  readonly subnet?: number
  /** This node's staker address (a miner's subnet is the one it staked in). */
  readonly address: string
}

export interface JoinSubnetsComponents {
  readonly gossip: GossipRouter
  readonly chain: ChainReader
  readonly self: PeerId
  readonly logger: Logger
}

/** The subnets a node with `init.roles` joins. */
export function subnetsToJoin(init: JoinSubnetsInit, chain: ChainReader): number[] {
  const all = chain.subnets().map((s) => s.id)
  if (init.subnet !== undefined && !all.includes(init.subnet))
    throw new InvalidArgumentError(`subnet ${init.subnet} does not exist: the chain has subnets ${all.join(', ')}`)
  if (init.roles.some((role) => !SUBNET_BOUND_ROLES.includes(role))) return all
  const own = new Set<number>()
  if (init.roles.includes('subnet-peer')) {
    if (init.subnet === undefined) throw new InvalidArgumentError('a subnet peer needs the subnet it seeds (--subnet)')
    own.add(init.subnet)
  }
  if (init.roles.includes('miner')) {
    const staked = chain.staker(init.address)?.subnet ?? init.subnet
    if (staked === undefined || staked === null)
      throw new InvalidArgumentError(`miner ${init.address} trains no subnet on chain and names none`)
    own.add(staked)
  }
  return [...own]
}

/** The subnet directory and, once started, the subnet peer machine. */
export class SubnetServices {
  readonly directory: SubnetDirectory
  #peer: Actor<ReturnType<typeof subnetPeerRole>> | undefined
  #unsubscribe: (() => void) | undefined

  constructor(directory: SubnetDirectory) {
    this.directory = directory
  }

  /** The subnet peer machine, when this node is one. */
  get peer(): Actor<ReturnType<typeof subnetPeerRole>> | undefined {
    return this.#peer
  }

  /** Start seeding `subnet`; `onBlock` hands it each executed block (after it is applied). */
  startPeer(
    subnet: number,
    components: Omit<SubnetPeerComponents, 'directory'> & {
      readonly onBlock: (listener: (height: number) => void) => () => void
      readonly inspect?: (event: InspectionEvent) => void
    },
  ): void {
    if (this.#peer !== undefined) throw new InvalidArgumentError('the subnet peer is already running')
    const peer = createActor(subnetPeerRole({ ...components, directory: this.directory }), {
      input: { subnet },
      systemId: 'subnet-peer',
      ...(components.inspect === undefined ? {} : { inspect: components.inspect }),
    })
    peer.start()
    this.#peer = peer
    this.#unsubscribe = components.onBlock((height) => {
      onNextTurn(() => {
        if (this.#peer === peer) peer.send({ type: 'block', height })
      })
    })
  }

  stop(): void {
    this.#unsubscribe?.()
    this.#peer?.send({ type: 'stop' })
    this.#peer?.stop()
    this.#peer = undefined
    this.directory.stop()
  }
}

/** Join the subnet topics `init.roles` call for. */
export function joinSubnets(init: JoinSubnetsInit, components: JoinSubnetsComponents): SubnetServices {
  const directory = new SubnetDirectory(
    { subnets: subnetsToJoin(init, components.chain) },
    { ...components, peers: peerDirectory({ chain: components.chain }) },
  )
  directory.start()
  return new SubnetServices(directory)
}
