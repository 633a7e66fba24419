/**
 * What a peer can make the chain's DHT keep in our datastore. The chain keeps its state on
 * chain, not in DHT records, so the DHT stores no records at all (every PUT_VALUE is refused);
 * and provider records (the content store announces the roots it holds) are bounded per key,
 * per peer and in total. kad-dht itself stores every valid record and every provider it is
 * told of, without a bound.
 */
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { ValidateFn } from '@libp2p/kad-dht'
import type { Datastore } from 'interface-datastore'
import type { CID } from 'multiformats/cid'
import type { Clock } from '../runtime/clock.ts'
import type { Logger } from '../runtime/logger.ts'
import { DhtRecordRefusedError, ProviderRecordLimitError } from './errors.ts'

/** Where kad-dht keeps its records and provider records in the datastore. */
export const DHT_DATASTORE_PREFIX = '/dht'

/** A validator that refuses every record. */
const refuseRecord: ValidateFn = async (key) => {
  throw new DhtRecordRefusedError(new TextDecoder().decode(key))
}

/**
 * kad-dht's record validators: every namespace refused. kad-dht takes a record whose key
 * namespace has a validator that passes; its only default is `pk` (public keys, which libp2p 3
 * peer ids already embed), which let any peer store one record per key pair it generates.
 */
export function refusingRecordValidators(): Record<string, ValidateFn> {
  return { pk: refuseRecord }
}

/** The part of kad-dht's provider store that peers' ADD_PROVIDER messages reach. */
export interface ProviderStore {
  addProvider(cid: CID, provider: PeerId, options?: AbortOptions): Promise<void>
  getProviders(cid: CID, options?: AbortOptions): Promise<PeerId[]>
}

export interface ProviderBounds {
  /** Providers stored for one key. */
  maxPerKey: number
  /** Provider records one peer may make us store. */
  maxPerPeer: number
  /** Provider records of other peers, in total. */
  maxTotal: number
  /** Least time between two recounts from the datastore. */
  recountIntervalMs: number
}

export interface ProviderBoundsComponents {
  datastore: Pick<Datastore, 'queryKeys'>
  /** Our own records are never refused: we publish only what we hold. */
  peerId: PeerId
  clock: Clock
  logger: Logger
}

/**
 * Counts of stored provider records, kept in memory and checked before kad-dht stores one.
 * kad-dht deletes expired records (after 48 h) behind these counts, so they only overstate:
 * before refusing a record, the counts are taken again from the datastore, at most once per
 * `recountIntervalMs`.
 */
export class ProviderRecordBounds {
  readonly #bounds: ProviderBounds
  readonly #c: ProviderBoundsComponents
  readonly #log: Logger
  readonly #perPeer = new Map<string, number>()
  #total = 0
  #countedAtMs = Number.NEGATIVE_INFINITY

  constructor(bounds: ProviderBounds, components: ProviderBoundsComponents) {
    this.#bounds = bounds
    this.#c = components
    this.#log = components.logger.child({ component: 'dht-providers' })
  }

  /** Provider records of other peers now counted. */
  get total(): number {
    return this.#total
  }

  /** Count the stored provider records of other peers (keys end in the provider's peer id). */
  async count(options?: AbortOptions): Promise<void> {
    const self = this.#c.peerId.toString()
    const perPeer = new Map<string, number>()
    let total = 0
    for await (const key of this.#c.datastore.queryKeys({ prefix: `${DHT_DATASTORE_PREFIX}/provider` }, options)) {
      const peer = key.baseNamespace()
      if (peer === self) continue
      perPeer.set(peer, (perPeer.get(peer) ?? 0) + 1)
      total++
    }
    this.#perPeer.clear()
    for (const [peer, n] of perPeer) this.#perPeer.set(peer, n)
    this.#total = total
    this.#countedAtMs = this.#c.clock.monotonicMs()
  }

  /**
   * Route `store`'s `addProvider` through the bounds: a record over one is refused with a
   * ProviderRecordLimitError (kad-dht then drops the peer's message), a refresh of a record
   * already stored always passes.
   */
  guard(store: ProviderStore): void {
    const add = store.addProvider.bind(store)
    store.addProvider = async (cid, provider, options) => {
      const peer = provider.toString()
      if (peer === this.#c.peerId.toString()) return add(cid, provider, options)
      if (this.#countedAtMs === Number.NEGATIVE_INFINITY) await this.count(options)
      const stored = await store.getProviders(cid, options)
      if (stored.some((p) => p.equals(provider))) return add(cid, provider, options)
      if (stored.length >= this.#bounds.maxPerKey) {
        throw this.#refuse('per key', this.#bounds.maxPerKey, cid, peer)
      }
      if (this.#over(peer) && this.#c.clock.monotonicMs() - this.#countedAtMs >= this.#bounds.recountIntervalMs) {
        await this.count(options)
      }
      if ((this.#perPeer.get(peer) ?? 0) >= this.#bounds.maxPerPeer) {
        throw this.#refuse('per peer', this.#bounds.maxPerPeer, cid, peer)
      }
      if (this.#total >= this.#bounds.maxTotal) throw this.#refuse('in total', this.#bounds.maxTotal, cid, peer)
      // Counted before the write, so concurrent messages cannot all pass the same last slot.
      this.#perPeer.set(peer, (this.#perPeer.get(peer) ?? 0) + 1)
      this.#total++
      try {
        await add(cid, provider, options)
      } catch (error) {
        this.#perPeer.set(peer, (this.#perPeer.get(peer) ?? 1) - 1)
        this.#total--
        throw error
      }
    }
  }

  #over(peer: string): boolean {
    return (this.#perPeer.get(peer) ?? 0) >= this.#bounds.maxPerPeer || this.#total >= this.#bounds.maxTotal
  }

  #refuse(bound: 'per key' | 'per peer' | 'in total', limit: number, cid: CID, peer: string): ProviderRecordLimitError {
    const error = new ProviderRecordLimitError(bound, limit, { cid: cid.toString(), peer })
    this.#log.debug({ err: error }, 'provider record refused')
    return error
  }
}
