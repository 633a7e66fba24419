/**
 * The one object the aggregator, verifier, arbiter and challenger roles still take (they read
 * what they need from it); built over the node's shared pieces (node-pieces.ts), so those
 * roles share the caches and counters of the others. The miner and serving roles take typed
 * components instead; this facade goes once the last role does too.
 */
import type { PeerId } from '@libp2p/interface'
import type { KeyPair } from '../chain/keys.ts'
import type { Task, Window } from '../chain/state.ts'
import type { ModelConfig } from '../ml/config.ts'
import type { Kernels } from '../ml/kernels/contract.ts'
import type { Params, StageWeights } from '../ml/weights.ts'
import type { NetNode } from '../net/node.ts'
import type { RuntimeComponents } from '../runtime/components.ts'
import type { Misbehaviour } from '../topology/roles.ts'
import type { ChainNode } from './chain-node.ts'
import type { NodePieces } from './node-pieces.ts'
import type { ContentFetcher } from './services/content-fetcher.ts'
import type { NodeMetrics } from './services/metrics.ts'
import type { ModelPieces } from './services/model-pieces.ts'
import type { PeerDirectory } from './services/peer-directory.ts'
import type { TrainingData } from './services/training-setup.ts'
import type { AdapterState, TrainingProtocol } from './training/protocol.ts'
import type { TensorInbox } from './training/tensor-inbox.ts'
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
  readonly metrics: NodeMetrics
  readonly peers: PeerDirectory
  readonly content: ContentFetcher
  readonly model: ModelPieces

  constructor(pieces: NodePieces) {
    this.key = pieces.key
    this.address = pieces.key.address
    this.chain = pieces.chain
    this.tx = pieces.tx
    this.net = pieces.net
    this.kernels = pieces.training.kernels
    this.cpuKernels = pieces.training.cpuKernels
    this.config = pieces.training.config
    this.protocol = pieces.training.protocol
    this.data = pieces.training.data
    this.misbehaviour = pieces.misbehaviours
    this.c = pieces.runtime
    this.inbox = pieces.inbox
    this.metrics = pieces.metrics
    this.peers = pieces.peers
    this.content = pieces.content
    this.model = pieces.model
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
