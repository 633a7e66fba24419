/**
 * Equivocation evidence from the consensus engine: one validator signed two different votes
 * for the same height and round. The engine's own vote format is its business; what reaches
 * the application is this `Evidence`: the validator's address, height, round and the two
 * conflicting votes, each as the 32-byte digest of the vote's sign-bytes with the validator's
 * ed25519 signature over that digest. Encoded as canonical JSON (hex for bytes).
 *
 * Valid evidence slashes `equivocationSlashBps` of the validator's stake and jails it (it loses
 * the validator role for good), once per (validator, height), however many times it arrives.
 */
import { canonicalJson } from '../ml/serialize.ts'
import type { BlockContext } from './context.ts'
import { reject, TxCode } from './errors.ts'
import { fromHex, type KeyPair, signBytes, toHex, verifySignature } from './keys.ts'
import type { ChainState } from './state.ts'

export interface SignedVoteDigest {
  readonly digest: string
  readonly signature: string
}

export interface Evidence {
  readonly validator: string
  readonly height: number
  readonly round: number
  readonly voteA: SignedVoteDigest
  readonly voteB: SignedVoteDigest
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

/** Sign a vote digest as a validator would (for tests and simulations). */
export function signVoteDigest(key: KeyPair, digest: Uint8Array): SignedVoteDigest {
  return { digest: toHex(digest), signature: toHex(signBytes(key.secretKey, digest)) }
}

function decodeEvidence(bytes: Uint8Array): Evidence {
  let e: Evidence
  try {
    e = JSON.parse(Buffer.from(bytes).toString('utf8')) as Evidence
    if (canonicalJson(e as never) !== Buffer.from(bytes).toString('utf8')) throw new Error('not canonical')
  } catch {
    return reject(TxCode.badEvidence, 'evidence is not canonical JSON')
  }
  const vote = (v: unknown): boolean =>
    v !== null &&
    typeof v === 'object' &&
    fromHex((v as SignedVoteDigest).digest, 32) !== undefined &&
    fromHex((v as SignedVoteDigest).signature, 64) !== undefined
  if (
    typeof e.validator !== 'string' ||
    !Number.isSafeInteger(e.height) ||
    !Number.isSafeInteger(e.round) ||
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
  if (e.voteA.digest === e.voteB.digest) reject(TxCode.badEvidence, 'the two votes are the same vote')
  const pub = fromHex(v.pubKey, 32) as Uint8Array
  for (const vote of [e.voteA, e.voteB]) {
    if (!verifySignature(pub, fromHex(vote.digest) as Uint8Array, fromHex(vote.signature) as Uint8Array))
      reject(TxCode.badEvidence, 'a vote signature does not verify under the validator’s key')
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
