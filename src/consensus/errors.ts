/**
 * Expected consensus failures, each with a stable code. Broken invariants are assertions
 * (src/runtime/assert.ts) instead: a node that would otherwise double-sign stops.
 */
import { R3mesError } from '../runtime/errors.ts'

/** A vote, proposal, block, commit or evidence failed validation (bad signature, wrong height, ...). */
export class InvalidConsensusDataError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ERR_CONSENSUS_INVALID_DATA', message, details)
  }
}

/** The signer refused: signing would conflict with a vote or proposal it already signed. */
export class DoubleSignRefusedError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ERR_CONSENSUS_DOUBLE_SIGN_REFUSED', message, details)
  }
}

/** The write-ahead log is damaged before its last record: the node must not start on it. */
export class WalCorruptError extends R3mesError {
  readonly offset: number
  constructor(path: string, offset: number, reason: string) {
    super('ERR_CONSENSUS_WAL_CORRUPT', `write-ahead log ${path} is corrupt at byte offset ${offset}: ${reason}`, {
      path,
      offset,
      reason,
    })
    this.offset = offset
  }
}

/** A block or state file on disk fails its integrity check or contradicts another store. */
export class StoreCorruptError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ERR_CONSENSUS_STORE_CORRUPT', message, details)
  }
}

/** A fault hook fired (tests and simulations only: inert unless a hook is installed). */
export class InjectedFaultError extends R3mesError {
  constructor(site: string, count: number) {
    super('ERR_INJECTED_FAULT', `injected fault at ${site} #${count}`, { site, count })
  }
}

/** A transaction was refused by the mempool (too big, full, duplicate, or rejected by the application). */
export class TxRejectedError extends R3mesError {
  /**
   * True when the tx itself is at fault (out of bounds, refused by the application): a peer
   * that gossips many of these is misbehaving. False for duplicates and a full pool.
   */
  readonly invalid: boolean
  /** Refused by the application for now (`CheckTxResult.notYet`): it may be admitted later. */
  readonly notYet: boolean
  constructor(reason: string, details: Record<string, unknown> = {}, invalid = false, notYet = false) {
    super('ERR_CONSENSUS_TX_REJECTED', `transaction rejected: ${reason}`, { reason, ...details })
    this.invalid = invalid
    this.notYet = notYet
  }
}
