/**
 * Typed failures of the chain application. Every rejected transaction carries one of these
 * codes in its result, so a client can tell "bad signature" from "wrong window" without
 * parsing the log. The code strings are part of the chain's API.
 */
import { R3mesError } from '../runtime/errors.ts'

export const TxCode = {
  ok: 'OK',
  decode: 'ERR_TX_DECODE',
  tooLarge: 'ERR_TX_TOO_LARGE',
  badSignature: 'ERR_BAD_SIGNATURE',
  wrongChain: 'ERR_WRONG_CHAIN',
  unknownAccount: 'ERR_UNKNOWN_ACCOUNT',
  wrongNonce: 'ERR_WRONG_NONCE',
  /** Refused at admission only: the sender already has MAX_PENDING_TXS_PER_SENDER waiting for the block. */
  tooManyPending: 'ERR_TOO_MANY_PENDING',
  feeTooLow: 'ERR_FEE_TOO_LOW',
  insufficientFunds: 'ERR_INSUFFICIENT_FUNDS',
  invalidField: 'ERR_INVALID_FIELD',
  insufficientStake: 'ERR_INSUFFICIENT_STAKE',
  notRegistered: 'ERR_NOT_REGISTERED',
  wrongWindow: 'ERR_WRONG_WINDOW',
  notAssigned: 'ERR_NOT_ASSIGNED',
  duplicate: 'ERR_DUPLICATE',
  commitMismatch: 'ERR_COMMIT_MISMATCH',
  noCommit: 'ERR_NO_COMMIT',
  metadataTooLarge: 'ERR_METADATA_TOO_LARGE',
  unknownClaim: 'ERR_UNKNOWN_CLAIM',
  notChallengeable: 'ERR_NOT_CHALLENGEABLE',
  challengeClosed: 'ERR_CHALLENGE_CLOSED',
  bondTooSmall: 'ERR_BOND_TOO_SMALL',
  selfChallenge: 'ERR_SELF_CHALLENGE',
  /** An appeal by anyone but the challenge's challenger. */
  notChallenger: 'ERR_NOT_CHALLENGER',
  unknownChallenge: 'ERR_UNKNOWN_CHALLENGE',
  notSelected: 'ERR_NOT_SELECTED',
  badVrfProof: 'ERR_BAD_VRF_PROOF',
  deadlinePassed: 'ERR_DEADLINE_PASSED',
  wrongStage: 'ERR_WRONG_STAGE',
  notAggregator: 'ERR_NOT_AGGREGATOR',
  notDue: 'ERR_NOT_DUE',
  badAggregate: 'ERR_BAD_AGGREGATE',
  unknownProposal: 'ERR_UNKNOWN_PROPOSAL',
  votingClosed: 'ERR_VOTING_CLOSED',
  badEvidence: 'ERR_BAD_EVIDENCE',
  votingPowerCap: 'ERR_VOTING_POWER_CAP',
  /** A consensus key or peer id named without a valid proof of possession (key-proofs.ts). */
  badKeyProof: 'ERR_BAD_KEY_PROOF',
  /** A consensus key or peer id another staker already uses. */
  keyInUse: 'ERR_KEY_IN_USE',
  /** A key change the staker's validator history forbids (see `register` in staking.ts). */
  keyLocked: 'ERR_KEY_LOCKED',
} as const
export type TxCodeValue = (typeof TxCode)[keyof typeof TxCode]

/** A transaction (or evidence) the chain refuses; state is left exactly as it was. */
export class TxRejected extends R3mesError {
  constructor(code: TxCodeValue, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details)
  }
}

/** A genesis file or parameter set that cannot start a chain; the message names the field. */
export class GenesisError extends R3mesError {
  readonly field: string
  constructor(field: string, message: string) {
    super('ERR_GENESIS', `genesis field '${field}': ${message}`, { field })
    this.field = field
  }
}

export function reject(code: TxCodeValue, message: string, details: Record<string, unknown> = {}): never {
  throw new TxRejected(code, message, details)
}

/** A gentx (a staker's signed self-stake at genesis) that is malformed, forged or does not fit the genesis. */
export class GentxError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ERR_GENTX', message, details)
  }
}
