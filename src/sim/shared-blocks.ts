/**
 * One copy of each committed block for every simulated validator's block store.
 *
 * Each validator decodes the blocks it receives into its own objects, and each block store
 * keeps the last blocks for laggards to catch up from: at a thousand miners a block carries
 * hundreds of transactions, so a hundred stores of two hundred blocks each held the same
 * bytes twenty thousand times. A block is named by its header hash, which commits to its
 * transactions and evidence (consensus checks both against the header before it stores a
 * block), so blocks with one hash are one block and the stores can hold the same object.
 * Commits stay each validator's own: which precommits a validator saw differs, and it serves
 * them to laggards.
 */
import { toHex } from '../codec/bytes.ts'
import { hashBlock } from '../consensus/block.ts'
import { type BlockStore, MemoryBlockStore } from '../consensus/stores.ts'
import type { Block, CommittedBlock } from '../consensus/types.ts'

export class SharedBlocks {
  readonly #keepHeights: number
  readonly #byHeight = new Map<number, { readonly hash: string; readonly block: Block }[]>()
  #newest = 0

  /** `keepHeights`: how far below the newest height a block is still handed out (the stores' pruning bound). */
  constructor(keepHeights: number) {
    this.#keepHeights = keepHeights
  }

  /** The one object for `block` (the first one seen with its hash). */
  intern(block: Block): Block {
    const height = block.header.height
    // Older than any store keeps: nothing to share it with.
    if (height <= this.#newest - this.#keepHeights) return block
    const hash = toHex(hashBlock(block))
    const seen = this.#byHeight.get(height) ?? []
    const same = seen.find((s) => s.hash === hash)
    if (same !== undefined) return same.block
    seen.push({ hash, block })
    this.#byHeight.set(height, seen)
    if (height > this.#newest) {
      for (let h = this.#newest - this.#keepHeights; h <= height - this.#keepHeights; h++) this.#byHeight.delete(h)
      this.#newest = height
    }
    return block
  }

  /** A memory block store whose blocks are these shared ones. */
  store(): BlockStore {
    const store = new MemoryBlockStore()
    return {
      height: () => store.height(),
      base: () => store.base(),
      load: (height) => store.load(height),
      save: (cb: CommittedBlock) => store.save({ block: this.intern(cb.block), commit: cb.commit }),
      pruneBelow: (height) => store.pruneBelow(height),
    }
  }
}
