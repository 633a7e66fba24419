/**
 * A node: one libp2p node, one content store, one chain, and the role actors its
 * configuration names, hosted by one XState actor system (`nodeMachine` spawns a role
 * machine per role and hands each executed block to all of them). The system's inspection
 * stream feeds a structured event log (pino at debug level, and a ring of recent events the
 * status endpoint serves), so a run can be followed actor by actor.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { type ActorRefFrom, type AnyActorRef, createActor, enqueueActions, type InspectionEvent, setup } from 'xstate'
import type { Genesis as ChainGenesis } from '../chain/genesis.ts'
import { submissionId } from '../chain/windows.ts'
import type { TimeoutConfig } from '../consensus/core-types.ts'
import { getModelConfig } from '../ml/config.ts'
import { type BackendChoice, getKernels } from '../ml/kernels/select.ts'
import { IDENTITY_FILE } from '../net/identity.ts'
import { createNetNode, type GossipTuning, type NetNode } from '../net/node.ts'
import type { RuntimeComponents } from '../runtime/components.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import { onNextTurn } from '../runtime/event-loop.ts'
import { ChainNode } from './chain-node.ts'
import { installLibp2pIdentity, loadNodeKey } from './identity.ts'
import type { Misbehaviour } from './misbehaviour.ts'
import { NodeServices } from './node-services.ts'
import { AggregatorWork } from './roles/aggregator.ts'
import { ChallengerWork } from './roles/challenger.ts'
import { MinerWork } from './roles/miner.ts'
import { type RoleWork, roleMachine } from './roles/role-machine.ts'
import { ServingWork } from './roles/serving.ts'
import { ArbiterWork, VerifierWork } from './roles/verifier.ts'
import { joinSubnets, type SubnetServices } from './subnet/subnet-services.ts'
import { resolveDataset } from './training/datasets.ts'
import { publishBackbone } from './training/model-store.ts'
import { trainingProtocol } from './training/protocol.ts'
import { boundaryTensorBytes, installTensorReceiver } from './training/tensor-admission.ts'
import { TxSender } from './tx-sender.ts'

export const NODE_ROLES = [
  'validator',
  'miner',
  'aggregator',
  'verifier',
  'arbiter',
  'challenger',
  'serving',
  'subnet-peer',
] as const
export type NodeRole = (typeof NODE_ROLES)[number]

export interface NodeConfig {
  readonly home: string
  readonly genesis: ChainGenesis
  readonly roles: readonly NodeRole[]
  /** @default ['/ip4/127.0.0.1/tcp/0'] */
  readonly listen?: string[]
  readonly bootstrap?: string[]
  /** Kernels for training and verification (arbiters always re-execute on the CPU). @default 'auto' */
  readonly backend?: BackendChoice
  /** Share of other miners' submissions a challenger re-executes. @default 0.25 */
  readonly challengeFraction?: number
  readonly misbehaviours?: readonly Misbehaviour[]
  /** A backbone folder to publish into the content store (the genesis model's seeders). */
  readonly modelDir?: string
  /** Consensus timeouts. @default derived from the genesis block time */
  readonly timeouts?: TimeoutConfig
  readonly gossip?: GossipTuning
  /** 32-byte seed for a node with no key yet. @default random */
  readonly seed?: Uint8Array
  /** The subnet a subnet peer seeds (a miner's subnet is the one it staked in). */
  readonly subnet?: number
}

/** Consensus timeouts for a target block time: a round fits in a few block times. */
export function timeoutsFor(blockTimeMs: number): TimeoutConfig {
  const half = Math.max(1, Math.round(blockTimeMs / 2))
  return {
    proposeMs: 2 * blockTimeMs,
    proposeDeltaMs: half,
    prevoteMs: blockTimeMs,
    prevoteDeltaMs: half,
    precommitMs: blockTimeMs,
    precommitDeltaMs: half,
    commitMs: blockTimeMs,
  }
}

// ---- the actor system ---------------------------------------------------------------------

interface HostedRole {
  readonly role: NodeRole
  readonly work: RoleWork
}

type NodeEvent = { type: 'block'; height: number } | { type: 'stop' }

export const nodeMachine = setup({
  types: {
    input: {} as { roles: readonly HostedRole[]; logger: RuntimeComponents['logger'] },
    context: {} as { roles: ActorRefFrom<typeof roleMachine>[]; height: number },
    events: {} as NodeEvent,
  },
  actors: { role: roleMachine },
}).createMachine({
  id: 'node',
  context: ({ input, spawn }) => ({
    height: 0,
    roles: input.roles.map((r) =>
      spawn('role', { id: r.role, input: { role: r.role, work: r.work, logger: input.logger } }),
    ),
  }),
  initial: 'running',
  states: {
    running: {
      on: {
        block: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            enqueue.assign({ height: event.height })
            for (const ref of context.roles) enqueue.sendTo(ref, event)
          }),
        },
        stop: {
          target: 'stopped',
          actions: enqueueActions(({ context, enqueue }) => {
            for (const ref of context.roles) enqueue.sendTo(ref, { type: 'stop' })
          }),
        },
      },
    },
    stopped: { type: 'final' },
  },
})

export interface ActorEventRecord {
  readonly atMs: number
  readonly actor: string
  readonly kind: string
  readonly event?: string
  readonly state?: unknown
}

// ---- the node -----------------------------------------------------------------------------

export interface NodeStatus {
  readonly address: string
  readonly peerId: string
  readonly roles: readonly NodeRole[]
  readonly validator: boolean
  readonly height: number
  readonly appHash: string
  readonly window: number | null
  readonly peers: number
  readonly metrics: NodeServices['metrics']
  /** Claims whose reveal the chain acknowledged to this miner (the latest 256), by claim id. */
  readonly acknowledged: readonly string[]
}

export class R3mesNode {
  readonly services: NodeServices
  readonly chain: ChainNode
  readonly net: NetNode
  readonly roles: readonly NodeRole[]
  readonly works: ReadonlyMap<NodeRole, RoleWork>
  /** The subnet topics this node joined, and its subnet peer machine if it is one. */
  readonly subnet: SubnetServices | undefined
  /** The most recent actor events (inspection), oldest first. */
  readonly events: ActorEventRecord[] = []
  readonly #system
  readonly #unsubscribe: () => void
  #stopped = false

  constructor(init: {
    services: NodeServices
    roles: readonly NodeRole[]
    works: Map<NodeRole, RoleWork>
    components: RuntimeComponents
    subnet?: SubnetServices
  }) {
    this.services = init.services
    this.subnet = init.subnet
    this.chain = init.services.chain
    this.net = init.services.net
    this.roles = init.roles
    this.works = init.works
    const log = init.components.logger.child({ component: 'actors' })
    const clock = init.components.clock
    const record = (r: ActorEventRecord): void => {
      this.events.push(r)
      if (this.events.length > 500) this.events.shift()
      log.debug(r, 'actor event')
    }
    this.#system = createActor(nodeMachine, {
      input: { roles: [...init.works].map(([role, work]) => ({ role, work })), logger: init.components.logger },
      inspect: (ev: InspectionEvent) => {
        const actor = (ev.actorRef as AnyActorRef).id
        if (ev.type === '@xstate.snapshot') {
          const value = (ev.snapshot as { value?: unknown }).value
          record({ atMs: clock.nowMs(), actor, kind: 'snapshot', event: ev.event.type, state: value })
        } else if (ev.type === '@xstate.event' && ev.event.type !== 'block') {
          record({ atMs: clock.nowMs(), actor, kind: 'event', event: ev.event.type })
        }
      },
    })
    this.#system.start()
    this.#unsubscribe = this.chain.onBlock((b) => {
      // After the block is fully applied: roles read the chain's new state.
      onNextTurn(() => {
        if (!this.#stopped) this.#system.send({ type: 'block', height: b.block.height })
      })
    })
  }

  status(): NodeStatus {
    const w = this.services.window()
    return {
      address: this.services.address,
      peerId: this.net.peerId.toString(),
      roles: this.roles,
      validator: this.chain.validatorIndex >= 0,
      height: this.chain.height,
      appHash: Buffer.from(this.chain.chain.appHash()).toString('hex'),
      window: w?.id ?? null,
      peers: this.net.libp2p.getPeers().length,
      metrics: { ...this.services.metrics },
      acknowledged: [...((this.works.get('miner') as MinerWork | undefined)?.outcomes.values() ?? [])]
        .filter((o) => o.code === 'OK')
        .slice(-256)
        .map((o) => submissionId(o.taskId, this.services.address)),
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#unsubscribe()
    this.#system.send({ type: 'stop' })
    this.#system.stop()
    this.subnet?.stop()
    for (const work of this.works.values()) work.stop?.()
    this.services.tx.close()
    this.chain.stop()
    await this.net.stop()
  }
}

/** Start a node from its configuration: network, chain, and the roles it names. */
export async function startNode(config: NodeConfig, components: RuntimeComponents): Promise<R3mesNode> {
  const roles = [...new Set(config.roles)]
  for (const r of roles)
    if (!(NODE_ROLES as readonly string[]).includes(r))
      throw new InvalidArgumentError(`unknown role '${r}'; expected some of ${NODE_ROLES.join(', ')}`)
  const genesis = config.genesis
  const identity = loadNodeKey(config.home, () => config.seed ?? new Uint8Array(randomBytes(32)))
  const netHome = join(config.home, 'net')
  if (!existsSync(join(netHome, IDENTITY_FILE))) await installLibp2pIdentity(netHome, identity.seed)
  const net = await createNetNode(
    {
      chainId: genesis.chainId,
      homeDir: netHome,
      listen: config.listen,
      bootstrap: config.bootstrap,
      // A node takes every consensus message from each of its mesh peers; checking the
      // signature of the first copy only is what keeps a 2-core testnet of nine nodes going.
      gossip: { skipDuplicateSignatureChecks: true, ...config.gossip },
      // Only a pipeline stage takes tensors; on any other node the protocol is not served.
      activations: { receive: roles.includes('miner') },
    },
    components,
  )
  try {
    const chain = new ChainNode(
      {
        home: config.home,
        genesis,
        seed: identity.seed,
        net,
        timeouts: config.timeouts ?? timeoutsFor(genesis.params.blockTimeMs),
        equivocate: (config.misbehaviours ?? []).includes('equivocatingValidator'),
        byzantine: (config.misbehaviours ?? []).includes('byzantineValidator'),
      },
      components,
    )
    const modelConfig = getModelConfig(genesis.model.config)
    const approved = genesis.datasets[0]
    if (approved === undefined) throw new InvalidArgumentError('the genesis approves no data set to train on')
    const dataset = resolveDataset(approved)
    const kernels = getKernels(config.backend ?? 'auto')
    let cpuKernels = kernels
    try {
      cpuKernels = getKernels('cpu')
    } catch {
      cpuKernels = getKernels('ts')
    }
    const tx = new TxSender({ chain, key: identity.key, logger: components.logger })
    // The subnet topics: holder hints for the content fetcher, and the subnet peer role.
    const subnet = joinSubnets(
      { roles, address: identity.key.address, ...(config.subnet === undefined ? {} : { subnet: config.subnet }) },
      { gossip: net.gossip, chain: chain.reader, self: net.peerId, logger: components.logger },
    )
    const services = new NodeServices({
      key: identity.key,
      chain,
      tx,
      net,
      kernels,
      cpuKernels,
      config: modelConfig,
      protocol: trainingProtocol(modelConfig),
      data: { train: dataset.train, shardCount: approved.shardCount },
      misbehaviour: new Set(config.misbehaviours ?? []),
      components,
      holders: subnet.directory,
    })
    if (roles.includes('miner'))
      installTensorReceiver(net.activations, {
        self: identity.key.address,
        query: (path) => chain.query(path),
        tensorBytes: boundaryTensorBytes(modelConfig, services.protocol),
        inbox: services.inbox,
        logger: components.logger,
      })
    if (config.modelDir !== undefined) {
      const cids = await publishBackbone(
        net.content,
        config.modelDir,
        genesis.subnets.map((s) => s.layers),
      )
      genesis.subnets.forEach((s, i) => {
        const named = genesis.model.backbone.find((b) => b.layers[0] === s.layers[0] && b.layers[1] === s.layers[1])
        if (named?.cid !== cids[i])
          throw new InvalidArgumentError(
            `the backbone in ${config.modelDir} is not the genesis model: layers [${s.layers}] are ${cids[i]}, genesis names ${named?.cid}`,
          )
      })
    }
    await services.storeInitialAdapterStates()

    const works = new Map<NodeRole, RoleWork>()
    if (roles.includes('miner')) works.set('miner', new MinerWork(services))
    if (roles.includes('aggregator') || roles.includes('validator'))
      works.set('aggregator', new AggregatorWork(services))
    if (roles.includes('verifier')) works.set('verifier', new VerifierWork(services))
    if (roles.includes('arbiter')) works.set('arbiter', new ArbiterWork(services))
    if (roles.includes('challenger') || (config.misbehaviours ?? []).includes('griefingChallenger'))
      works.set('challenger', new ChallengerWork(services, config.challengeFraction ?? 0.25))
    if (roles.includes('serving')) works.set('serving', new ServingWork(services, dataset.heldOut))
    if (roles.includes('subnet-peer'))
      // joinSubnets refused a subnet peer without a subnet.
      subnet.startPeer(config.subnet as number, {
        model: services.model,
        content: services.content,
        pins: net.content,
        chain: chain.reader,
        modelSeeders: () => services.modelSeeders(),
        logger: components.logger,
        onBlock: (listener) => chain.onBlock((b) => listener(b.block.height)),
      })
    const node = new R3mesNode({ services, roles, works, components, subnet })
    chain.start()
    return node
  } catch (error) {
    await net.stop().catch(() => {})
    throw error
  }
}
