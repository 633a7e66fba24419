/**
 * A node: one libp2p node, one content store, one chain, and a machine for each role its
 * configuration names, hosted by one XState actor system: `nodeMachine` spawns each role's
 * machine (system id = the role's name) and hands it every executed block; stopping the node
 * stops them. The validator's machine is the consensus actor the chain node runs. Both
 * inspection streams feed the node's event log (actor-events.ts, `GET /events`), and
 * `status()` shows each role's state.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { type AnyActorRef, createActor } from 'xstate'
import type { Genesis as ChainGenesis } from '../chain/genesis.ts'
import type { KeyPair } from '../chain/keys.ts'
import type { ChainReader } from '../chain/reader.ts'
import { submissionId } from '../chain/windows.ts'
import type { TimeoutConfig } from '../consensus/core-types.ts'
import { getModelConfig } from '../ml/config.ts'
import { type BackendChoice, getKernels } from '../ml/kernels/select.ts'
import { IDENTITY_FILE } from '../net/identity.ts'
import { createNetNode, type GossipTuning, type NetNode } from '../net/node.ts'
import { KEYS_DIR, loadOperatorKeys, type OperatorKeys } from '../operator/home.ts'
import type { RuntimeComponents } from '../runtime/components.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import { onNextTurn } from '../runtime/event-loop.ts'
import { DEFAULT_CHALLENGE_FRACTION, type Misbehaviour, NODE_ROLES, type NodeRole } from '../topology/roles.ts'
import { ActorEventLog, type ActorEventRecord } from './actor-events.ts'
import { ChainNode, DEFAULT_GC_INTERVAL_BLOCKS, type StorageOptions, type StorageStatus } from './chain-node.ts'
import { installLibp2pIdentity, loadNodeKey } from './identity.ts'
import { nodeMachine } from './node-machine.ts'
import { buildNodePieces, type NodePieces } from './node-pieces.ts'
import { type HostedRoleOptions, hostedRoles } from './node-roles.ts'
import type { minerMachine, TaskOutcome } from './roles/miner.ts'
import { ContentGc, type ContentGcStats } from './services/content-gc.ts'
import type { NodeMetrics } from './services/metrics.ts'
import type { ModelPieces } from './services/model-pieces.ts'
import { NodePrometheus } from './services/prometheus.ts'
import type { TrainingSetup } from './services/training-setup.ts'
import type { SwappableModelSource } from './serving/model-source.ts'
import type { LossRecord, servingMachine } from './serving/serving-machine.ts'
import type { SubnetDirectory } from './subnet/subnet-directory.ts'
import { resolveDataset } from './training/datasets.ts'
import { genesisTokenizer } from './training/genesis-tokenizer.ts'
import { publishBackbone } from './training/model-store.ts'
import { boundaryTensorBytes, installTensorReceiver } from './training/tensor-admission.ts'
import { windowProtocols } from './training/window-protocol.ts'

export interface NodeConfig {
  readonly home: string
  readonly genesis: ChainGenesis
  readonly roles: readonly NodeRole[]
  /** @default ['/ip4/127.0.0.1/tcp/0'] */
  readonly listen?: string[]
  readonly bootstrap?: string[]
  /** Addresses to announce instead of the listen addresses (a public address before a NAT). @default [] */
  readonly announce?: string[]
  /** The network is a LAN: the DHT keeps private addresses. @default false */
  readonly lan?: boolean
  /** Serve as a circuit relay for peers that cannot be dialled. @default false */
  readonly relay?: boolean
  /** Kernels for training and verification (arbiters always re-execute on the CPU). @default 'auto' */
  readonly backend?: BackendChoice
  /** Share of other miners' submissions a challenger re-executes. @default 0.25 */
  readonly challengeFraction?: number
  /** Inner steps of a task a challenger re-executes (0: the whole task). @default DEFAULT_SPOT_STEPS */
  readonly spotSteps?: number
  readonly misbehaviours?: readonly Misbehaviour[]
  /** A backbone folder to publish into the content store (the genesis model's seeders). */
  readonly modelDir?: string
  /** Consensus timeouts. @default derived from the genesis block time */
  readonly timeouts?: TimeoutConfig
  readonly gossip?: GossipTuning
  /**
   * The keys the node signs with: transactions with `account`, consensus with `consensusSeed`.
   * @default the home's `keys/` (loadOperatorKeys), else its legacy `node.key` (created from
   * `seed` when missing), which is all three keys at once
   */
  readonly keys?: OperatorKeys
  /** 32-byte seed of a legacy `node.key` for a home with no key yet. @default random */
  readonly seed?: Uint8Array
  /** The subnet a subnet peer seeds (a miner's subnet is the one it staked in). */
  readonly subnet?: number
  /** Snapshots, block pruning and content garbage collection. @default see StorageOptions */
  readonly storage?: StorageOptions
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

export type { ActorEventRecord } from './actor-events.ts'

export interface NodeStatus {
  readonly address: string
  readonly peerId: string
  readonly roles: readonly NodeRole[]
  /** The state of each role's machine ('validator': the consensus actor's, or 'following'). */
  readonly machines: Readonly<Record<string, unknown>>
  readonly validator: boolean
  readonly height: number
  readonly round: number | null
  readonly appHash: string
  readonly window: number | null
  readonly peers: number
  readonly metrics: NodeMetrics
  /** Claims whose reveal the chain acknowledged to this miner (the latest 256), by claim id. */
  readonly acknowledged: readonly string[]
  /** Snapshots and pruning (chain-node.ts), and what content garbage collection freed. */
  readonly storage: StorageStatus & { readonly gc: ContentGcStats }
}

const NO_GC: ContentGcStats = { passes: 0, freedRoots: 0, freedBlocks: 0, freedBytes: 0, lastHeight: 0 }

/** Acknowledged reveals `/status` lists (the testnet checks each is on chain). */
const MAX_ACKNOWLEDGED_LISTED = 256

export interface R3mesNodeInit {
  readonly pieces: NodePieces
  readonly roles: readonly NodeRole[]
  readonly options?: HostedRoleOptions
  /** The event log (built before the chain node when it records consensus too). @default a new one */
  readonly log?: ActorEventLog
  /** Content garbage collection, told of every block. @default none */
  readonly gc?: ContentGc
  /** The Prometheus registry the network layer already registers on (startNode's). @default a new one */
  readonly registry?: Registry
}

export class R3mesNode {
  readonly address: string
  readonly key: KeyPair
  readonly chain: ChainNode
  readonly reader: ChainReader
  readonly net: NetNode
  readonly model: ModelPieces
  readonly training: TrainingSetup
  readonly metrics: NodeMetrics
  /** The node's Prometheus metrics (`GET /metrics`). */
  readonly prometheus: NodePrometheus
  /** The subnet topics this node joined. */
  readonly subnets: SubnetDirectory
  readonly roles: readonly NodeRole[]
  /** The serving role's model source (the completion API answers from it), on a node that serves. */
  readonly servingSource: SwappableModelSource | undefined
  readonly #pieces: NodePieces
  readonly #log: ActorEventLog
  readonly #system
  readonly #unsubscribe: () => void
  readonly #gc: ContentGc | undefined
  #stopped = false

  constructor(init: R3mesNodeInit) {
    const p = init.pieces
    this.#pieces = p
    this.address = p.key.address
    this.key = p.key
    this.chain = p.chain
    this.reader = p.reader
    this.net = p.net
    this.model = p.model
    this.training = p.training
    this.metrics = p.metrics
    this.subnets = p.subnets
    this.roles = init.roles
    this.#log = init.log ?? new ActorEventLog(p.runtime)
    this.prometheus = new NodePrometheus(
      {
        chain: p.reader,
        round: () => (p.chain.validating() ? p.chain.consensusPosition().round : null),
        mempool: () => p.chain.mempoolSize(),
        peers: () => p.net.libp2p.getPeers().length,
        metrics: p.metrics,
        onBlock: (listener) => p.chain.onBlock((b) => listener(b.block)),
      },
      init.registry,
    )
    const { hosted, servingSource } = hostedRoles(p, init.roles, init.options)
    this.servingSource = servingSource
    this.#system = createActor(nodeMachine, { input: { roles: hosted }, inspect: this.#log.inspectRoles })
    this.#system.start()
    this.#gc = init.gc
    this.#unsubscribe = this.chain.onBlock((b) => {
      this.#gc?.onBlock(b.block.height)
      // After the block is fully applied: roles read the chain's new state.
      onNextTurn(() => {
        if (!this.#stopped) this.#system.send({ type: 'block', height: b.block.height })
      })
    })
  }

  /** The most recent actor events (inspection), oldest first. */
  get events(): readonly ActorEventRecord[] {
    return this.#log.events
  }

  /** The machine hosting `role` on this node, if it hosts one. */
  role(role: string): AnyActorRef | undefined {
    return this.#system.system.get(role) as AnyActorRef | undefined
  }

  /** Every task outcome this node's miner recorded, oldest first (none when it does not mine). */
  minerOutcomes(): readonly TaskOutcome[] {
    const miner = this.role('miner') as ReturnType<typeof createActor<typeof minerMachine>> | undefined
    return [...(miner?.getSnapshot().context.outcomes.values() ?? [])]
  }

  /** Held-out loss of every model the serving role loaded, in order (none when it does not serve). */
  lossHistory(): readonly LossRecord[] {
    const serving = this.role('serving') as ReturnType<typeof createActor<typeof servingMachine>> | undefined
    return serving?.getSnapshot().context.history ?? []
  }

  status(): NodeStatus {
    const w = this.reader.currentWindow()
    const consensus = this.chain.consensusPosition()
    const validator = this.chain.validating()
    const machines: Record<string, unknown> = { validator: validator ? consensus.state : 'following' }
    for (const ref of this.#system.getSnapshot().context.roles)
      machines[ref.id] = (ref.getSnapshot() as { value?: unknown }).value
    return {
      address: this.address,
      peerId: this.net.peerId.toString(),
      roles: this.roles,
      machines,
      validator,
      height: this.chain.height,
      round: validator ? consensus.round : null,
      appHash: Buffer.from(this.chain.appHash()).toString('hex'),
      window: w?.id ?? null,
      peers: this.net.libp2p.getPeers().length,
      metrics: { ...this.metrics },
      acknowledged: this.minerOutcomes()
        .filter((o) => o.code === 'OK')
        .slice(-MAX_ACKNOWLEDGED_LISTED)
        .map((o) => submissionId(o.taskId, this.address)),
      storage: { ...this.chain.storage, gc: { ...(this.#gc?.stats ?? NO_GC) } },
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#unsubscribe()
    this.prometheus.stop()
    this.#system.send({ type: 'stop' })
    this.#system.stop()
    this.#pieces.subnets.stop()
    this.#pieces.tx.close()
    this.chain.stop()
    await this.#gc?.settled()
    await this.net.stop()
  }
}

/**
 * The keys `config` names, else the home's: separate keys under `keys/`, else the legacy
 * `node.key` (created when missing) as all three. The libp2p identity is `net/identity.key`
 * when it exists; a legacy home gets one derived from `node.key`, so its peer id is the one a
 * genesis staker without a named peer id has; any other node without one gets a fresh key.
 */
async function nodeKeys(config: NodeConfig): Promise<OperatorKeys> {
  const netHome = join(config.home, 'net')
  if (config.keys !== undefined) return config.keys
  if (existsSync(join(config.home, KEYS_DIR))) return loadOperatorKeys(config.home)
  const legacy = loadNodeKey(config.home, () => config.seed ?? new Uint8Array(randomBytes(32)))
  if (!existsSync(join(netHome, IDENTITY_FILE))) await installLibp2pIdentity(netHome, legacy.seed)
  return { account: legacy.key, consensusSeed: legacy.seed, consensus: legacy.key }
}

/**
 * Say so when this node's keys are not the ones its staker names on chain: peers would not
 * find it by its peer id, or it would not sign in the validator set. Not an error: a node may
 * start before the `register` that names its keys is committed.
 */
function warnOnKeyMismatch(
  chain: ChainReader,
  keys: OperatorKeys,
  peerId: string,
  components: RuntimeComponents,
): void {
  const staker = chain.staker(keys.account.address)
  if (staker === null) return
  const consensusKey = Buffer.from(keys.consensus.publicKey).toString('hex')
  if (staker.peerId !== peerId)
    components.logger.warn(
      { address: keys.account.address, onChain: staker.peerId, local: peerId },
      'this node is not the peer its staker names on chain: register its peer id',
    )
  if (staker.consensusKey !== consensusKey)
    components.logger.warn(
      { address: keys.account.address, onChain: staker.consensusKey, local: consensusKey },
      'this node’s consensus key is not the one its staker names on chain',
    )
}

/** Start a node from its configuration: network, chain, and the roles it names. */
export async function startNode(config: NodeConfig, components: RuntimeComponents): Promise<R3mesNode> {
  const roles = [...new Set(config.roles)]
  for (const r of roles)
    if (!(NODE_ROLES as readonly string[]).includes(r))
      throw new InvalidArgumentError(`unknown role '${r}'; expected some of ${NODE_ROLES.join(', ')}`)
  const genesis = config.genesis
  const keys = await nodeKeys(config)
  // Start-up stages are logged so that a node that never reports ready says where it stopped.
  components.logger.info({ listen: config.listen, bootstrap: config.bootstrap?.length ?? 0 }, 'starting libp2p')
  // One registry per node: libp2p's metrics and the content traffic, then the node's own.
  const registry = new Registry()
  const net = await createNetNode(
    {
      chainId: genesis.chainId,
      registry,
      homeDir: join(config.home, 'net'),
      listen: config.listen,
      bootstrap: config.bootstrap,
      ...(config.announce === undefined ? {} : { announce: config.announce }),
      ...(config.lan === undefined ? {} : { lan: config.lan }),
      ...(config.relay === undefined ? {} : { relay: config.relay }),
      // A node takes every consensus message from each of its mesh peers; checking the
      // signature of the first copy only is what keeps a 2-core testnet of nine nodes going.
      gossip: { skipDuplicateSignatureChecks: true, ...config.gossip },
      // Only a pipeline stage takes tensors; on any other node the protocol is not served.
      activations: { receive: roles.includes('miner') },
    },
    components,
  )
  try {
    components.logger.info({ peerId: net.peerId.toString() }, 'libp2p started; opening the chain')
    const log = new ActorEventLog(components)
    const chain = new ChainNode(
      {
        home: config.home,
        genesis,
        consensusSeed: keys.consensusSeed,
        ...(config.storage === undefined ? {} : { storage: config.storage }),
        net,
        timeouts: config.timeouts ?? timeoutsFor(genesis.params.blockTimeMs),
        equivocate: (config.misbehaviours ?? []).includes('equivocatingValidator'),
        byzantine: (config.misbehaviours ?? []).includes('byzantineValidator'),
        seedGrinder: (config.misbehaviours ?? []).includes('seedGrinder'),
        inspect: log.inspectConsensus,
      },
      components,
    )
    warnOnKeyMismatch(chain.reader, keys, net.peerId.toString(), components)
    const modelConfig = getModelConfig(genesis.model.config)
    const approved = genesis.datasets[0]
    if (approved === undefined) throw new InvalidArgumentError('the genesis approves no data set to train on')
    components.logger.info({ height: chain.reader.height }, 'chain opened; loading the tokenizer')
    const tokenizer = await genesisTokenizer(genesis.model, config.modelDir, net.content, components.clock)
    const dataset = resolveDataset(approved, tokenizer)
    const kernels = getKernels(config.backend ?? 'auto')
    let cpuKernels = kernels
    try {
      cpuKernels = getKernels('cpu')
    } catch {
      cpuKernels = getKernels('ts')
    }
    const pieces = buildNodePieces(
      {
        key: keys.account,
        chain,
        net,
        training: {
          config: modelConfig,
          tokenizer,
          protocolAt: windowProtocols(modelConfig, chain.reader),
          data: { train: dataset.train, shardCount: approved.shardCount },
          kernels,
          cpuKernels,
        },
        misbehaviours: config.misbehaviours ?? [],
        roles,
        ...(config.subnet === undefined ? {} : { subnet: config.subnet }),
      },
      components,
    )
    if (roles.includes('miner'))
      installTensorReceiver(net.activations, {
        self: keys.account.address,
        chain: chain.reader,
        tensorBytes: (window) => boundaryTensorBytes(modelConfig, pieces.training.protocolAt(window)),
        protocolAt: pieces.training.protocolAt,
        inbox: pieces.inbox,
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
    // Every node stores the initial adapter states, so their CIDs resolve from anyone.
    const initialAdapters: string[] = []
    for (const bytes of pieces.model.initialAdapterStateBytes())
      initialAdapters.push((await net.content.put(bytes)).toString())
    const gc = new ContentGc(
      {
        intervalBlocks: config.storage?.gcIntervalBlocks ?? DEFAULT_GC_INTERVAL_BLOCKS,
        alwaysLive: initialAdapters,
      },
      { state: chain.app.chain.state, content: net.content, logger: components.logger.child({ component: 'gc' }) },
    )
    const node = new R3mesNode({
      pieces,
      roles,
      log,
      gc,
      registry,
      options: {
        heldOut: dataset.heldOut,
        challengeFraction: config.challengeFraction ?? DEFAULT_CHALLENGE_FRACTION,
        ...(config.spotSteps === undefined ? {} : { spotSteps: config.spotSteps }),
        ...(config.subnet === undefined ? {} : { subnet: config.subnet }),
      },
    })
    chain.start()
    return node
  } catch (error) {
    await net.stop().catch(() => {})
    throw error
  }
}
