/**
 * The pieces a node builds once and its roles share: the chain reader, the peer directory,
 * the content fetcher, the model pieces, the counters, the tensor inbox and sender, the
 * transaction sender, the subnet directory. Each role takes only the ones it uses, as its own components object
 * (node-roles.ts).
 */
import type { PeerId } from '@libp2p/interface'
import type { KeyPair } from '../chain/keys.ts'
import type { ChainReader } from '../chain/reader.ts'
import type { NetNode } from '../net/node.ts'
import type { RuntimeComponents } from '../runtime/components.ts'
import type { Misbehaviour } from '../topology/roles.ts'
import type { ChainNode } from './chain-node.ts'
import { type ContentFetcher, contentFetcher } from './services/content-fetcher.ts'
import { type NodeMetrics, newNodeMetrics } from './services/metrics.ts'
import { ModelPieces } from './services/model-pieces.ts'
import { type PeerDirectory, peerDirectory } from './services/peer-directory.ts'
import type { TrainingSetup } from './services/training-setup.ts'
import type { SubnetDirectory } from './subnet/subnet-directory.ts'
import { joinSubnets } from './subnet/subnet-services.ts'
import { TensorInbox } from './training/tensor-inbox.ts'
import { type TensorSender, tensorSender } from './training/tensor-sender.ts'
import { TxSender } from './tx-sender.ts'

export interface NodePieces {
  readonly key: KeyPair
  readonly chain: ChainNode
  readonly reader: ChainReader
  readonly net: NetNode
  readonly tx: TxSender
  readonly training: TrainingSetup
  readonly metrics: NodeMetrics
  readonly peers: PeerDirectory
  readonly content: ContentFetcher
  readonly model: ModelPieces
  readonly inbox: TensorInbox
  readonly tensors: TensorSender
  readonly misbehaviours: ReadonlySet<Misbehaviour>
  /** The subnet topics the node joined: holder hints for fetches, presence for pipeline neighbours. */
  readonly subnets: SubnetDirectory
  /** The genesis model's seeders (the validators), asked for backbone pieces besides announced holders. */
  readonly modelSeeders: () => PeerId[]
  readonly runtime: RuntimeComponents
}

export interface NodePiecesInit {
  readonly key: KeyPair
  readonly chain: ChainNode
  readonly net: NetNode
  readonly training: TrainingSetup
  readonly misbehaviours?: readonly Misbehaviour[]
  /** The roles the node hosts: they say which subnet topics it joins. @default none (every subnet) */
  readonly roles?: readonly string[]
  /** The subnet a subnet peer seeds. */
  readonly subnet?: number
}

export function buildNodePieces(init: NodePiecesInit, runtime: RuntimeComponents): NodePieces {
  const { key, chain, net, training } = init
  const reader = chain.reader
  const metrics = newNodeMetrics()
  const peers = peerDirectory({ chain: reader })
  const subnets = joinSubnets(
    { roles: init.roles ?? [], address: key.address, ...(init.subnet === undefined ? {} : { subnet: init.subnet }) },
    { gossip: net.gossip, chain: reader, peers, self: net.peerId, logger: runtime.logger },
  )
  const content = contentFetcher({
    content: net.content,
    peers,
    clock: runtime.clock,
    self: key.address,
    holders: subnets,
  })
  // The genesis model's seeders (the validators), as peers to fetch backbone pieces from.
  const modelSeeders = (): PeerId[] =>
    reader
      .withRole('validator')
      .map((v) => v.address)
      .filter((a) => a !== key.address)
      .map((a) => peers.peerOf(a))
  return {
    key,
    chain,
    reader,
    net,
    tx: new TxSender({ chain, key, logger: runtime.logger }),
    training,
    metrics,
    peers,
    content,
    model: new ModelPieces({ chain: reader, content, training, metrics, modelSeeders }),
    inbox: new TensorInbox(runtime.clock),
    tensors: tensorSender({ activations: net.activations, peers, clock: runtime.clock, logger: runtime.logger }),
    misbehaviours: new Set(init.misbehaviours ?? []),
    subnets,
    modelSeeders,
    runtime,
  }
}
