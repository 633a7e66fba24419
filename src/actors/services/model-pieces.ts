/**
 * The model pieces a role computes with, fetched once and cached: a subnet's backbone range
 * (by the range CID the genesis names; only that range, so `metrics.backboneBytes` is the
 * sharding saving) and adapter states (by the CID a model pointer or a trace names; the
 * initial state is computed, never fetched).
 */
import type { PeerId } from '@libp2p/interface'
import type { ChainReader } from '../../chain/reader.ts'
import type { Params, StageWeights } from '../../ml/weights.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { joinAdapters, joinStages } from '../training/evaluate.ts'
import { fetchStage } from '../training/model-store.ts'
import { type AdapterState, decodeAdapterState, encodeAdapterState, initialAdapterState } from '../training/protocol.ts'
import type { ContentFetcher } from './content-fetcher.ts'
import type { NodeMetrics } from './metrics.ts'
import type { TrainingSetup } from './training-setup.ts'

/** Adapter states kept: the states of old windows are not needed again. */
const MAX_CACHED_ADAPTER_STATES = 16

export interface ModelPiecesComponents {
  readonly chain: ChainReader
  readonly content: ContentFetcher
  readonly training: TrainingSetup
  readonly metrics: NodeMetrics
  /** Peers to ask for the genesis backbone besides those that announced it (the validators). */
  readonly modelSeeders: () => PeerId[]
}

export interface CurrentModel {
  readonly model: StageWeights
  readonly adapters: Params
  /** Final adapter-state CID of each subnet, in subnet order (null: the initial state). */
  readonly pointers: readonly (string | null)[]
}

export class ModelPieces {
  readonly #c: ModelPiecesComponents
  readonly #stages = new Map<number, Promise<StageWeights>>()
  readonly #adapterStates = new Map<string, Promise<AdapterState>>()

  constructor(components: ModelPiecesComponents) {
    this.#c = components
  }

  subnetLayers(subnet: number): readonly [number, number] {
    const s = this.#c.chain.subnet(subnet)
    if (s === null) throw new InvalidArgumentError(`no subnet ${subnet}`)
    return s.layers
  }

  /** The CID of a subnet's backbone range, as the genesis names it. */
  rangeCid(subnet: number): string {
    const [first, end] = this.subnetLayers(subnet)
    const range = this.#c.chain.backbone.find((b) => b.layers[0] === first && b.layers[1] === end)
    if (range === undefined) throw new InvalidArgumentError(`genesis names no backbone for layers [${first}, ${end})`)
    return range.cid
  }

  /** The backbone weights of a subnet's layer range, fetched once. */
  stageWeights(subnet: number, signal?: AbortSignal): Promise<StageWeights> {
    let p = this.#stages.get(subnet)
    if (p === undefined) {
      // A fetch that cannot finish fails at its deadline and is forgotten, so the next
      // window asks again instead of waiting on a promise that never settles.
      p = fetchStage(
        (cid, options) =>
          this.#c.content.fetch(cid, {
            signal: options.signal,
            sameHoldersAs: options.rangeCid,
            providers: this.#c.modelSeeders(),
          }),
        this.rangeCid(subnet),
        signal,
      ).then((f) => {
        this.#c.metrics.backboneBytes += f.bytes
        return f.stage
      })
      p.catch(() => this.#stages.delete(subnet))
      this.#stages.set(subnet, p)
    }
    return p
  }

  /** The adapter state behind `cid` (null: the initial state of the subnet); `from` stored it. */
  adapterState(subnet: number, cid: string | null, from?: string): Promise<AdapterState> {
    const key = `${subnet}/${cid ?? 'initial'}`
    let p = this.#adapterStates.get(key)
    if (p === undefined) {
      p =
        cid === null
          ? Promise.resolve(this.initialAdapterState(subnet))
          : this.#c.content
              .fetch(cid, { from: from === undefined ? [] : [from], providers: this.#c.modelSeeders() })
              .then((bytes) => {
                this.#c.metrics.adapterBytes += bytes.length
                return decodeAdapterState(bytes)
              })
      p.catch(() => this.#adapterStates.delete(key))
      this.#adapterStates.set(key, p)
      if (this.#adapterStates.size > MAX_CACHED_ADAPTER_STATES)
        this.#adapterStates.delete(this.#adapterStates.keys().next().value as string)
    }
    return p
  }

  initialAdapterState(subnet: number): AdapterState {
    const { config, protocolAt } = this.#c.training
    // The state before any aggregate: window 0's protocol (only its LoRA shape matters here).
    return initialAdapterState(config, protocolAt(0), this.#c.chain.chainId, subnet, this.subnetLayers(subnet))
  }

  /** The encoded initial adapter state of every subnet (stored by every node, so its CID resolves). */
  initialAdapterStateBytes(): Uint8Array[] {
    return this.#c.chain.subnets().map((s) => encodeAdapterState(this.initialAdapterState(s.id)))
  }

  /** The node that aggregated the adapter state `cid`, from the recent windows' aggregate claims. */
  aggregatorOf(cid: string): string | undefined {
    const latest = this.#c.chain.currentWindow()?.id ?? 0
    for (let w = latest; w >= Math.max(0, latest - 8); w--) {
      const claim = this.#c.chain.claims(w).find((c) => c.kind === 'aggregate' && c.cid === cid)
      if (claim !== undefined) return claim.owner
    }
    return undefined
  }

  /**
   * The whole current model: every subnet's range and its adapters at the chain's final
   * pointers (an aggregate still in its challenge period is not served: a dispute could undo it).
   */
  async currentModel(): Promise<CurrentModel> {
    const ids = this.#c.chain.subnets().map((s) => s.id)
    const stages = await Promise.all(ids.map((k) => this.stageWeights(k)))
    const pointers = ids.map((k) => this.#c.chain.finalAdapterPointer(k))
    const states = await Promise.all(
      ids.map((k, i) => {
        const pointer = pointers[i] ?? null
        return this.adapterState(k, pointer, pointer === null ? undefined : this.aggregatorOf(pointer))
      }),
    )
    return { model: joinStages(stages), adapters: joinAdapters(states), pointers }
  }
}
