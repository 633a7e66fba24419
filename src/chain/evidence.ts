/**
 * Equivocation evidence from the consensus engine: one validator signed two different votes of
 * the same type for the same height and round. The evidence names the validator's address and
 * carries both votes' content (type, block hash or nil) and signatures; the application
 * rebuilds each vote's sign-bytes with the consensus engine's own `voteSignBytes`, so only a
 * signature the validator really gave for *that* vote counts (two unrelated signed messages,
 * say a prevote and a precommit of one round, cannot be passed off as equivocation).
 * Encoded as canonical JSON (hex for bytes).
 *
 * Valid evidence slashes `equivocationSlashBps` of the validator's stake and jails it (it loses
 * the validator role for good), once per (validator, height), however many times it arrives.
 */

import { fromHex, toHex } from '../codec/bytes.ts'
import { canonicalJson } from '../codec/canonical-json.ts'
import { ed25519Sign, ed25519Verify } from '../codec/ed25519.ts'
import { NonCanonicalValueError } from '../codec/errors.ts'
import { voteSignBytes } from '../consensus/signing.ts'
import type { VoteType } from '../consensus/types.ts'
import type { BlockContext } from './context.ts'
import { reject, TxCode } from './errors.ts'
import type { KeyPair } from './keys.ts'
import type { ChainState } from './state.ts'

export interface EvidenceVote {
  readonly type: VoteType
  /** Hex of the 32-byte block hash voted for, or null for a nil vote. */
  readonly blockHash: string | null
  /** Hex of the validator's 64-byte ed25519 signature over the vote's sign-bytes. */
  readonly signature: string
}

export interface Evidence {
  readonly validator: string
  readonly height: number
  readonly round: number
  readonly voteA: EvidenceVote
  readonly voteB: EvidenceVote
}

export function encodeEvidence(e: Evidence): Uint8Array {
  return new TextEncoder().encode(
    canonicalJson({
      validator: e.validator,
      height: e.height,
      round: e.round,
      voteA: { ...e.voteA },
      voteB: { ...e.voteB },
    }),
  )
}

function signBytesOf(
  chainId: string,
  height: number,
  round: number,
  vote: Omit<EvidenceVote, 'signature'>,
): Uint8Array {
  const blockHash = vote.blockHash === null ? null : (fromHex(vote.blockHash, 32) as Uint8Array)
  return voteSignBytes(chainId, { type: vote.type, height, round, blockHash, validatorIndex: 0 })
}

/** Sign a vote as a validator's consensus engine would (for tests and simulations). */
export function signEvidenceVote(
  key: KeyPair,
  chainId: string,
  height: number,
  round: number,
  vote: Omit<EvidenceVote, 'signature'>,
): EvidenceVote {
  return { ...vote, signature: toHex(ed25519Sign(key.secretKey, signBytesOf(chainId, height, round, vote))) }
}

function decodeEvidence(bytes: Uint8Array): Evidence {
  const text = Buffer.from(bytes).toString('utf8')
  let e: Evidence
  let canonical: string
  try {
    e = JSON.parse(text) as Evidence
    canonical = canonicalJson(e as never)
  } catch (error) {
    // RangeError: nesting deeper than the recursive encoder's stack.
    if (error instanceof SyntaxError || error instanceof NonCanonicalValueError || error instanceof RangeError)
      return reject(TxCode.badEvidence, 'evidence is not canonical JSON')
    throw error
  }
  if (canonical !== text) return reject(TxCode.badEvidence, 'evidence is not canonical JSON')
  const vote = (v: unknown): boolean => {
    if (v === null || typeof v !== 'object') return false
    const ev = v as EvidenceVote
    return (
      (ev.type === 'prevote' || ev.type === 'precommit') &&
      (ev.blockHash === null || fromHex(ev.blockHash, 32) !== undefined) &&
      fromHex(ev.signature, 64) !== undefined &&
      Object.keys(ev).length === 3
    )
  }
  if (
    typeof e.validator !== 'string' ||
    !Number.isSafeInteger(e.height) ||
    !Number.isSafeInteger(e.round) ||
    e.round < 0 ||
    !vote(e.voteA) ||
    !vote(e.voteB)
  )
    reject(TxCode.badEvidence, 'evidence fields are malformed')
  return e
}

/** Check and apply one piece of evidence; throws TxRejected when it is invalid (state untouched). */
export function applyEvidence(state: ChainState, ctx: BlockContext, bytes: Uint8Array): void {
  const e = decodeEvidence(bytes)
  const v = state.stakers.get(e.validator)
  if (v === undefined || !v.wasValidator) reject(TxCode.badEvidence, `${e.validator} has never been a validator`)
  if (e.height > ctx.height || e.height < ctx.height - state.params.evidenceMaxAgeBlocks || e.height < 1)
    reject(TxCode.badEvidence, `evidence height ${e.height} is outside the accepted range`)
  if (e.voteA.type !== e.voteB.type) reject(TxCode.badEvidence, 'the two votes are of different types')
  if (e.voteA.blockHash === e.voteB.blockHash) reject(TxCode.badEvidence, 'the two votes are for the same value')
  // Votes are signed by the consensus key, which a staker that has been a validator never changes.
  const pub = fromHex(v.consensusKey, 32) as Uint8Array
  for (const vote of [e.voteA, e.voteB]) {
    const message = signBytesOf(state.globals.chainId, e.height, e.round, vote)
    if (!ed25519Verify(pub, message, fromHex(vote.signature) as Uint8Array))
      reject(TxCode.badEvidence, 'a vote signature does not verify under the validator’s consensus key')
  }
  const key = `${e.validator}/${e.height}`
  if (state.evidence.has(key))
    reject(TxCode.duplicate, `equivocation of ${e.validator} at height ${e.height} was already punished`)
  const slashed = state.slash(
    e.validator,
    (state.bondedOf(e.validator) * BigInt(state.params.equivocationSlashBps)) / 10_000n,
  )
  const after = state.stakers.get(e.validator) ?? v
  state.stakers.set(e.validator, { ...after, jailed: true, roles: after.roles.filter((r) => r !== 'validator') })
  state.evidence.set(key, { round: e.round, slashed })
}
