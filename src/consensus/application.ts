/**
 * What consensus needs from the application (ABCI's shape, reduced): `checkTx` before a
 * transaction enters the mempool, `executeBlock` once a block is decided (returning the app
 * hash that the next block's header carries), `info` for the restart handshake, and `query`
 * for reads. `src/chain` implements this; `KvApplication` is the small one used in tests.
 */
import type { Block } from './types.ts'

export interface CheckTxResult {
  readonly ok: boolean
  readonly reason?: string
}

export interface Application {
  /** Stateless-or-cheap admission check; must not change the committed state. */
  checkTx(tx: Uint8Array): CheckTxResult
  /** Execute a decided block; returns the app hash of the state after it. Called once per height, in order. */
  executeBlock(block: Block): Uint8Array
  /** Last executed height (0 before the first block) and its app hash. */
  info(): { readonly height: number; readonly appHash: Uint8Array }
  query(key: Uint8Array): Uint8Array | undefined
}
