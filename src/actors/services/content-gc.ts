/**
 * Content garbage collection: every `intervalBlocks` blocks, drop from the node's content
 * store what the chain named once and names no more.
 *
 * Live is what the chain state names (chain/content-refs.ts: backbone, data sets, adapter
 * pointers and the ones a slash may restore, claims, challenge traces, all until pruning
 * removes their window) plus what the node always keeps (the initial adapter states) and what
 * its roles hold. A CID becomes dead only after this node saw the chain name it (checked
 * after every block) and then saw it gone: content the chain never named (a gradient before
 * its reveal, a model range a subnet peer seeds, a fetch in flight) is never collected, and
 * after a restart nothing is collected until the chain is seen to drop it again. When in
 * doubt it is kept.
 */
import { CID } from 'multiformats/cid'
import { contentNamedByState } from '../../chain/content-refs.ts'
import type { ChainState } from '../../chain/state.ts'
import type { ContentStore } from '../../net/content-store.ts'
import type { Logger } from '../../runtime/logger.ts'

export interface ContentGcInit {
  /** Run a pass after every this many blocks; 0: never. */
  readonly intervalBlocks: number
  /** CIDs kept whatever the chain says (the initial adapter states). */
  readonly alwaysLive: readonly string[]
  /** CIDs the node's roles hold open now. @default none */
  readonly held?: () => Iterable<string>
}

export interface ContentGcComponents {
  readonly state: ChainState
  readonly content: Pick<ContentStore, 'drop'>
  readonly logger: Logger
}

/** What collection has freed since the node started (`GET /status`, storage.gc). */
export interface ContentGcStats {
  passes: number
  freedRoots: number
  freedBlocks: number
  freedBytes: number
  /** Height of the last pass; 0 before the first. */
  lastHeight: number
}

export class ContentGc {
  readonly stats: ContentGcStats = { passes: 0, freedRoots: 0, freedBlocks: 0, freedBytes: 0, lastHeight: 0 }
  readonly #init: ContentGcInit
  readonly #c: ContentGcComponents
  /** CIDs the chain named at some block since start and that have not been collected. */
  readonly #seen = new Set<string>()
  #pass: Promise<void> | undefined

  constructor(init: ContentGcInit, components: ContentGcComponents) {
    this.#init = init
    this.#c = components
  }

  /** After every executed block: note what the chain names; at the interval, start a pass (one at a time). */
  onBlock(height: number): void {
    for (const cid of contentNamedByState(this.#c.state)) this.#seen.add(cid)
    const interval = this.#init.intervalBlocks
    if (interval <= 0 || height % interval !== 0 || this.#pass !== undefined) return
    this.#pass = this.collect(height)
      .then(() => {})
      .catch((error: unknown) => this.#c.logger.error({ err: error, height }, 'content garbage collection failed'))
      .finally(() => {
        this.#pass = undefined
      })
  }

  /** The pass in progress, if any (stopping the node waits for it). */
  settled(): Promise<void> {
    return this.#pass ?? Promise.resolve()
  }

  /** One pass: drop every CID seen named and no longer live. */
  async collect(height: number): Promise<{ roots: number; blocks: number; bytes: number }> {
    const live = contentNamedByState(this.#c.state)
    for (const cid of live) this.#seen.add(cid)
    for (const cid of this.#init.alwaysLive) live.add(cid)
    for (const cid of this.#init.held?.() ?? []) live.add(cid)
    const dead: CID[] = []
    for (const text of this.#seen) {
      if (live.has(text)) continue
      this.#seen.delete(text)
      try {
        dead.push(CID.parse(text))
      } catch {
        // The chain checks CIDs on entry; one that does not parse names nothing stored here.
      }
    }
    const freed = await this.#c.content.drop(dead)
    this.stats.passes++
    this.stats.freedRoots += freed.roots
    this.stats.freedBlocks += freed.blocks
    this.stats.freedBytes += freed.bytes
    this.stats.lastHeight = height
    this.#c.logger.info({ height, dead: dead.length, ...freed }, 'content garbage collected')
    return freed
  }
}
