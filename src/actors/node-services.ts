/**
 * What the role actors of one node share: the chain, the transaction sender, the network
 * node, the kernels, the training data, and caches of fetched model pieces, with counters
 * of the bytes each piece cost (the sharding figures).
 */
import type { PeerId } from '@libp2p/interface'
import type { KeyPair } from '../chain/keys.ts'
import type { Task, Window } from '../chain/state.ts'
import type { ModelConfig } from '../ml/config.ts'
import type { Kernels } from '../ml/kernels/contract.ts'
import type { Params, StageWeights } from '../ml/weights.ts'
import type { NetNode } from '../net/node.ts'
import type { RuntimeComponents } from '../runtime/components.ts'
import type { ChainNode } from './chain-node.ts'
import type { Misbehaviour } from './misbehaviour.ts'
import { type ContentFetcher, contentFetcher, type HolderHints } from './services/content-fetcher.ts'
import { type NodeMetrics, newNodeMetrics } from './services/metrics.ts'
import { ModelPieces } from './services/model-pieces.ts'
import { type PeerDirectory, peerDirectory } from './services/peer-directory.ts'
import type { TrainingData } from './services/training-setup.ts'
import type { AdapterState, TrainingProtocol } from './training/protocol.ts'
import { TensorInbox } from './training/tensor-inbox.ts'
import type { TxSender } from './tx-sender.ts'

export type { NodeMetrics } from './services/metrics.ts'
export type { TrainingData } from './services/training-setup.ts'

export class NodeServices {
  readonly address: string
  readonly key: KeyPair
  readonly chain: ChainNode
  readonly tx: TxSender
  readonly net: NetNode
  readonly kernels: Kernels
  /** The kernels of re-execution on the L3 panel: the CPU backend (or the reference). */
  readonly cpuKernels: Kernels
  readonly config: ModelConfig
  readonly protocol: TrainingProtocol
  readonly data: TrainingData
  readonly inbox: TensorInbox
  readonly misbehaviour: ReadonlySet<Misbehaviour>
  readonly c: RuntimeComponents
  readonly metrics: NodeMetrics = newNodeMetrics()
  readonly peers: PeerDirectory
  readonly content: ContentFetcher
  readonly model: ModelPieces

  constructor(init: {
    key: KeyPair
    chain: ChainNode
    tx: TxSender
    net: NetNode
    kernels: Kernels
    cpuKernels: Kernels
    config: ModelConfig
    protocol: TrainingProtocol
    data: TrainingData
    misbehaviour: ReadonlySet<Misbehaviour>
    components: RuntimeComponents
    /** Peers that announced CIDs on the subnet topics (the subnet directory). */
    holders?: HolderHints
  }) {
    this.key = init.key
    this.address = init.key.address
    this.chain = init.chain
    this.tx = init.tx
    this.net = init.net
    this.kernels = init.kernels
    this.cpuKernels = init.cpuKernels
    this.config = init.config
    this.protocol = init.protocol
    this.data = init.data
    this.misbehaviour = init.misbehaviour
    this.c = init.components
    this.inbox = new TensorInbox(init.components.clock)
    const reader = init.chain.reader
    this.peers = peerDirectory({ chain: reader })
    this.content = contentFetcher({
      content: init.net.content,
      peers: this.peers,
      clock: init.components.clock,
      self: this.address,
      ...(init.holders === undefined ? {} : { holders: init.holders }),
    })
    this.model = new ModelPieces({
      chain: reader,
      content: this.content,
      training: {
        config: init.config,
        protocol: init.protocol,
        data: init.data,
        kernels: init.kernels,
        cpuKernels: init.cpuKernels,
      },
      metrics: this.metrics,
      modelSeeders: () => this.modelSeeders(),
    })
  }

  get chainId(): string {
    return this.chain.reader.chainId
  }

  peerOf(address: string): PeerId {
    return this.peers.peerOf(address)
  }

  addressOfPeer(peer: PeerId): string | undefined {
    return this.peers.addressOfPeer(peer)
  }

  subnetLayers(subnet: number): readonly [number, number] {
    return this.model.subnetLayers(subnet)
  }

  subnetIds(): number[] {
    return this.chain.reader.subnets().map((s) => s.id)
  }

  stageWeights(subnet: number): Promise<StageWeights> {
    return this.model.stageWeights(subnet)
  }

  adapterPointer(subnet: number): string | null {
    return this.chain.reader.adapterPointer(subnet)
  }

  adapterState(subnet: number, cid: string | null): Promise<AdapterState> {
    return this.model.adapterState(subnet, cid, cid === null ? undefined : this.model.aggregatorOf(cid))
  }

  async storeInitialAdapterStates(): Promise<void> {
    for (const bytes of this.model.initialAdapterStateBytes()) await this.net.content.put(bytes)
  }

  window(id?: number): Window | null {
    return id === undefined ? this.chain.reader.currentWindow() : this.chain.reader.window(id)
  }

  tasksOf(window: number, miner?: string): Task[] {
    return this.chain.reader.tasks(window, miner)
  }

  store(bytes: Uint8Array): Promise<string> {
    return this.content.store(bytes)
  }

  currentModel(): Promise<{ model: StageWeights; adapters: Params; pointers: (string | null)[] }> {
    return this.model.currentModel().then((m) => ({ ...m, pointers: [...m.pointers] }))
  }

  fetch(cid: string, signal?: AbortSignal, from?: string): Promise<Uint8Array> {
    return this.content.fetch(cid, { signal, from: from === undefined ? [] : [from] })
  }

  /** The genesis model's seeders (the validators), as peers to fetch backbone pieces from. */
  modelSeeders(): PeerId[] {
    return this.chain.reader
      .withRole('validator')
      .map((v) => v.address)
      .filter((a) => a !== this.address)
      .map((a) => this.peerOf(a))
  }
}
