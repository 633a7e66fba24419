/**
 * What the role actors of one node share: the chain, the transaction sender, the network
 * node, the kernels, the training data, and caches of fetched model pieces, with counters
 * of the bytes each piece cost (the sharding figures).
 */
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import type { KeyPair } from '../chain/keys.ts'
import type { Claim, Task, Window } from '../chain/state.ts'
import type { ModelConfig } from '../ml/config.ts'
import type { Kernels } from '../ml/kernels/contract.ts'
import type { Params, StageWeights } from '../ml/weights.ts'
import type { NetNode } from '../net/node.ts'
import { deadlineSignal } from '../runtime/clock.ts'
import type { RuntimeComponents } from '../runtime/components.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import type { ChainNode } from './chain-node.ts'
import { peerIdOfPubKey } from './identity.ts'
import type { Misbehaviour } from './misbehaviour.ts'
import { joinAdapters, joinStages } from './training/evaluate.ts'
import { fetchStage } from './training/model-store.ts'
import {
  type AdapterState,
  decodeAdapterState,
  encodeAdapterState,
  initialAdapterState,
  type TrainingProtocol,
} from './training/protocol.ts'
import { TensorInbox } from './training/tensor-inbox.ts'
import type { TxSender } from './tx-sender.ts'

/** How long a node waits for model bytes (backbone range, adapter state) before asking again. */
const FETCH_DEADLINE_MS = 60_000

export interface TrainingData {
  /** The approved data set's training bytes (its CID is in the genesis). */
  readonly train: Uint8Array
  readonly shardCount: number
}

export interface NodeMetrics {
  /** Bytes of backbone fetched for the stages this node ran. */
  backboneBytes: number
  /** Bytes of adapter states fetched. */
  adapterBytes: number
  tasksRun: number
  submissions: number
  challengesMade: number
  verdicts: number
}

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
  readonly metrics: NodeMetrics = {
    backboneBytes: 0,
    adapterBytes: 0,
    tasksRun: 0,
    submissions: 0,
    challengesMade: 0,
    verdicts: 0,
  }
  readonly #stages = new Map<number, Promise<StageWeights>>()
  readonly #adapterStates = new Map<string, Promise<AdapterState>>()
  readonly #peers = new Map<string, PeerId>()

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
  }

  get chainId(): string {
    return this.chain.chain.state.globals.chainId
  }

  /** The peer id of a staker, from its public key on chain. */
  peerOf(address: string): PeerId {
    let peer = this.#peers.get(address)
    if (peer === undefined) {
      const staker = this.chain.query<{ pubKey: string } | null>(`staker/${address}`)
      if (staker === null) throw new InvalidArgumentError(`${address} is not a staker`)
      peer = peerIdOfPubKey(staker.pubKey)
      this.#peers.set(address, peer)
    }
    return peer
  }

  /** The staker address behind a peer id, if any. */
  addressOfPeer(peer: PeerId): string | undefined {
    const id = peer.toString()
    for (const [address, p] of this.#peers) if (p.toString() === id) return address
    for (const s of this.chain.query<{ address: string; pubKey: string }[]>('stakers')) {
      if (peerIdOfPubKey(s.pubKey).toString() === id) {
        this.#peers.set(s.address, peerIdOfPubKey(s.pubKey))
        return s.address
      }
    }
    return undefined
  }

  subnetLayers(subnet: number): readonly [number, number] {
    const s = this.chain.chain.state.subnets.get(String(subnet))
    if (s === undefined) throw new InvalidArgumentError(`no subnet ${subnet}`)
    return s.layers
  }

  subnetIds(): number[] {
    return this.chain.chain.state.subnets
      .entries()
      .map(([, s]) => s.id)
      .sort((a, b) => a - b)
  }

  /** The backbone weights of a subnet's layer range, fetched once by the range CID in genesis. */
  stageWeights(subnet: number): Promise<StageWeights> {
    let p = this.#stages.get(subnet)
    if (p === undefined) {
      const [first, end] = this.subnetLayers(subnet)
      const model = this.chain.chain.state.globals.model
      const range = model.backbone.find((b) => b.layers[0] === first && b.layers[1] === end)
      if (range === undefined) throw new InvalidArgumentError(`genesis names no backbone for layers [${first}, ${end})`)
      // A fetch that cannot finish (no peer has the bytes yet) must fail, so the next window
      // asks again instead of waiting on a promise that never settles.
      const signal = deadlineSignal(this.c.clock, FETCH_DEADLINE_MS, `fetching backbone range ${range.cid}`)
      p = fetchStage(this.net.content, range.cid, signal, this.modelSeeders()).then((f) => {
        this.metrics.backboneBytes += f.bytes
        return f.stage
      })
      p.catch(() => this.#stages.delete(subnet))
      this.#stages.set(subnet, p)
    }
    return p
  }

  /** The adapter-state CID a subnet's model pointer names, or null before the first aggregate. */
  adapterPointer(subnet: number): string | null {
    return this.chain.chain.state.adapters.get(String(subnet)) ?? null
  }

  /** The adapter state behind `cid` (null: the initial state of the subnet). */
  adapterState(subnet: number, cid: string | null): Promise<AdapterState> {
    const key = `${subnet}/${cid ?? 'initial'}`
    let p = this.#adapterStates.get(key)
    if (p === undefined) {
      p =
        cid === null
          ? Promise.resolve(
              initialAdapterState(this.config, this.protocol, this.chainId, subnet, this.subnetLayers(subnet)),
            )
          : this.fetch(cid, undefined, this.#aggregatorOf(cid)).then((bytes) => {
              this.metrics.adapterBytes += bytes.length
              return decodeAdapterState(bytes)
            })
      p.catch(() => this.#adapterStates.delete(key))
      this.#adapterStates.set(key, p)
      // Keep the cache small: states of old windows are not needed again.
      if (this.#adapterStates.size > 16) this.#adapterStates.delete(this.#adapterStates.keys().next().value as string)
    }
    return p
  }

  /** The node that aggregated the adapter state `cid`, from the recent windows' aggregate claims. */
  #aggregatorOf(cid: string): string | undefined {
    const latest = this.window()?.id ?? 0
    for (let w = latest; w >= Math.max(0, latest - 8); w--) {
      const claim = this.chain.query<Claim[]>(`claims/${w}`).find((c) => c.kind === 'aggregate' && c.cid === cid)
      if (claim !== undefined) return claim.owner
    }
    return undefined
  }

  /** Store the initial adapter state of every subnet, so its CID resolves on the network too. */
  async storeInitialAdapterStates(): Promise<void> {
    for (const subnet of this.subnetIds()) {
      const s = initialAdapterState(this.config, this.protocol, this.chainId, subnet, this.subnetLayers(subnet))
      await this.net.content.put(encodeAdapterState(s))
    }
  }

  window(id?: number): Window | null {
    return this.chain.query<Window | null>(id === undefined ? 'window' : `window/${id}`)
  }

  tasksOf(window: number, miner?: string): Task[] {
    return this.chain.query<Task[]>(miner === undefined ? `tasks/${window}` : `tasks/${window}/${miner}`)
  }

  /**
   * Put bytes in the content store (pinned) and return the CID string. The provider record
   * goes out in the background: connected peers find the bytes by bitswap at once, and a
   * DHT round must not hold up a submission.
   */
  async store(bytes: Uint8Array): Promise<string> {
    const cid = await this.net.content.put(bytes, { announce: false })
    void this.net.content.announce(cid)
    return cid.toString()
  }

  /** The whole current model: every subnet's range and its adapters at the chain's pointers. */
  async currentModel(): Promise<{ model: StageWeights; adapters: Params; pointers: (string | null)[] }> {
    const ids = this.subnetIds()
    const stages = await Promise.all(ids.map((k) => this.stageWeights(k)))
    const pointers = ids.map((k) => this.adapterPointer(k))
    const states = await Promise.all(ids.map((k, i) => this.adapterState(k, pointers[i] ?? null)))
    return { model: joinStages(stages), adapters: joinAdapters(states), pointers }
  }

  /**
   * Bytes by CID from the content store, or a `DeadlineError` after `FETCH_DEADLINE_MS`: a
   * role never waits forever on a peer that does not answer, it fails and tries again later.
   * `from` names the node that stored the bytes (a claim's owner): it is dialled first, so
   * bitswap asks it directly rather than only the peers this node happens to be connected to
   * and the DHT, which on a small or young network may know no provider yet.
   */
  async fetch(cid: string, signal?: AbortSignal, from?: string): Promise<Uint8Array> {
    const deadline = deadlineSignal(this.c.clock, FETCH_DEADLINE_MS, `fetching ${cid}`)
    return this.net.content.get(CID.parse(cid), {
      signal: signal === undefined ? deadline : AbortSignal.any([signal, deadline]),
      providers: from === undefined || from === this.address ? [] : [this.peerOf(from)],
    })
  }

  /** The genesis model's seeders (the validators), as peers to fetch backbone pieces from. */
  modelSeeders(): PeerId[] {
    return this.chain.chain.state
      .withRole('validator')
      .map((v) => v.address)
      .filter((a) => a !== this.address)
      .map((a) => this.peerOf(a))
  }
}
