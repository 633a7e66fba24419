/** What a handler knows about the block it runs in: height and time, never the host clock. */
export interface BlockContext {
  readonly height: number
  readonly timeMs: number
  /** Address of the block's proposer (fees and bond shares go there). */
  readonly proposer: string
  /** Hex of the block hash: seeds windows opened and challenges raised in this block. */
  readonly hash: string
}
