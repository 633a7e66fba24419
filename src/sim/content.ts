/**
 * The simulated network's content, fetched as a node's `ContentFetcher`
 * (src/actors/services/content-fetcher.ts) fetches it. Miners publish the bytes of the
 * gradients they reveal and aggregators those of the adapter states they name (cost-model.ts);
 * a fetch gets them after `fetchMs` of simulated time, or fails when its deadline passes with
 * nobody serving them: a CID nobody published, or a claim whose owner withholds its content.
 * `from` lists a claim's holders with its owner first (availability.ts, `holdersOf`), and in the
 * model of withholding (misbehaviours.ts) a withholder's replicas do not serve its content
 * either, so the owner alone decides.
 */

import { FETCH_DEADLINE_MS, type FetchOptions } from '../actors/services/content-fetcher.ts'
import { cidOf } from '../codec/cid.ts'
import { R3mesError } from '../runtime/errors.ts'
import type { Turns } from './turns.ts'

/** Simulated ms a fetch of content someone serves takes (a request and a small transfer). */
export const DEFAULT_FETCH_MS = 200

export interface SimContentInit {
  readonly turns: Turns
  /** Miners that serve nobody the content of their claims. */
  readonly withholders: ReadonlySet<string>
  /** @default DEFAULT_FETCH_MS */
  readonly fetchMs?: number
}

export class SimContent {
  readonly #init: SimContentInit
  readonly #bytes = new Map<string, Uint8Array>()

  constructor(init: SimContentInit) {
    this.#init = init
  }

  /** Store `bytes` under their CID (returned). */
  publish(bytes: Uint8Array): string {
    const cid = cidOf(bytes).toString()
    if (!this.#bytes.has(cid)) this.#bytes.set(cid, bytes)
    return cid
  }

  /** Store `bytes` as a node's content store does: resolves to their CID. */
  store(bytes: Uint8Array): Promise<string> {
    return Promise.resolve(this.publish(bytes))
  }

  fetch(cid: string, options: FetchOptions = {}): Promise<Uint8Array> {
    const bytes = this.#bytes.get(cid)
    const owner = options.from?.[0]
    const served = bytes !== undefined && (owner === undefined || !this.#init.withholders.has(owner))
    if (served) return this.#init.turns.after(this.#init.fetchMs ?? DEFAULT_FETCH_MS, () => bytes, options.signal)
    return this.#init.turns.after(
      options.deadlineMs ?? FETCH_DEADLINE_MS,
      () => {
        throw new R3mesError('ERR_NOT_SERVED', `nobody served ${cid} in time`, { cid })
      },
      options.signal,
    )
  }
}
