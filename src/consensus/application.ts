/**
 * What consensus needs from the application (ABCI's shape, reduced): `checkTx` before a
 * transaction enters the mempool, `executeBlock` once a block is decided (returning the app
 * hash that the next block's header carries, and validator-set changes), `info` for the restart handshake, and `query`
 * for reads. `src/chain` implements this; `KvApplication` is the small one used in tests.
 */
import type { Block } from './types.ts'
import type { ValidatorUpdate } from './validator-set.ts'

/** What executing a block yields. */
export interface ExecutedBlock {
  /** The state after the block: block height + 1's header carries it. */
  readonly appHash: Uint8Array
  /**
   * Changes to the validator set (power 0 removes): they take effect at height + 2, as in
   * CometBFT, so height + 1's set is already fixed when its votes start to arrive. Each key
   * at most once; removing a non-member or emptying the set stops the node (an application bug).
   */
  readonly validatorUpdates: readonly ValidatorUpdate[]
  /**
   * Indices of the block's txs the application refused at execution. They changed nothing (no
   * fee, no nonce), so the very same bytes may be valid in a later block: the mempool does not
   * take them for committed (a sender re-signing one gets the same bytes back). @default none
   */
  readonly rejected?: readonly number[]
}

export interface CheckTxResult {
  readonly ok: boolean
  readonly reason?: string
  /**
   * Refused for now, not for what it is: it may be admitted later (a nonce ahead of its
   * sender's next, that sender's pending transactions at their cap). A peer relaying it did
   * nothing wrong: transactions of one sender routinely reach a node out of order by
   * different peers.
   */
  readonly notYet?: boolean
}

export interface Application {
  /** Stateless-or-cheap admission check; must not change the committed state. */
  checkTx(tx: Uint8Array): CheckTxResult
  /** Execute a decided block. Called once per height, in order. */
  executeBlock(block: Block): ExecutedBlock
  /**
   * Last executed height (0 before the first block), its app hash, and the validator updates
   * that block returned (the restart handshake needs them when the application kept a block
   * whose tip was never saved).
   */
  info(): {
    readonly height: number
    readonly appHash: Uint8Array
    readonly validatorUpdates: readonly ValidatorUpdate[]
  }
  query(key: Uint8Array): Uint8Array | undefined
}
