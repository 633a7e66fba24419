/**
 * A node's part in the subnet topics: which subnets it joins, and its directory of them (the
 * subnet peer's seeding machine is a role the node hosts, subnet-peer.ts). A subnet peer joins
 * its own subnet, a miner its own and the ones beside it on the pipeline;
 * every other role (aggregating validators, verifiers, arbiters, challengers, serving nodes)
 * fetches pieces of every subnet (gradients, adapter states, traces, ranges), so it joins
 * them all, and its content fetcher finds holders by their announcements.
 */
import type { PeerId } from '@libp2p/interface'
import type { ChainReader } from '../../chain/reader.ts'
import type { GossipRouter } from '../../net/gossip.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { PeerDirectory } from '../services/peer-directory.ts'
import { SubnetDirectory } from './subnet-directory.ts'

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
  readonly peers: PeerDirectory
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
    // A pipeline stage exchanges tensors with the stages beside it: it hears who is ready
    // there, and where its neighbours' tensors are held.
    for (const k of [staked - 1, staked, staked + 1]) if (all.includes(k)) own.add(k)
  }
  return [...own].sort((a, b) => a - b)
}

/** Join the subnet topics `init.roles` call for. */
export function joinSubnets(init: JoinSubnetsInit, components: JoinSubnetsComponents): SubnetDirectory {
  const directory = new SubnetDirectory({ subnets: subnetsToJoin(init, components.chain) }, components)
  directory.start()
  return directory
}
