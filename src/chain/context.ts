/** What a handler knows about the block it runs in: height and time, never the host clock. */
export interface BlockContext {
  readonly height: number
  readonly timeMs: number
  /** Address of the block's proposer (fees and bond shares go there). */
  readonly proposer: string
  /** Hex of the block hash. Never a seed: its proposer could grind it (transaction order, time). */
  readonly hash: string
  /**
   * Hex of the block's beacon (consensus/beacon.ts): the proposer's VRF output over the previous
   * beacon, checked by consensus before the block is voted for. Seeds windows opened, challenges
   * raised and panels drawn in this block; the proposer can withhold it, never choose it.
   */
  readonly beacon: string
}
