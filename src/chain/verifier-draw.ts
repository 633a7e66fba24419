/**
 * L2 verifier selection by private VRF sortition, weighted by stake (as Algorand's sortition).
 *
 * Every attempt of a challenge fixes a VRF input on chain: alpha = (challenge seed, challenge
 * id, attempt), where the seed is the beacon of the block that opened the challenge. Each
 * eligible verifier evaluates ECVRF over alpha with its own key; only it can compute its output
 * beta, and anyone can check it from the proof. It is selected when beta, read as a fraction u
 * in [0, 1), falls below min(1, expected × stake / totalStake), where stake and totalStake are
 * the verifier's and all eligible verifiers' stake fixed when the attempt opened. So:
 * - nobody learns who is selected until the selected verifier shows its proof (no target to
 *   bribe or attack in advance), and no one can steer it (beta is unique per key and input);
 * - the expected number selected is `expected` (fewer when some stakes are capped at 1);
 * - a lone verifier, or one holding at least totalStake / expected, is always selected; with n
 *   equal verifiers nobody is selected with probability (1 − expected / n)^n ≤ e^−expected.
 *
 * Among the selected verifiers that claim the attempt's seat, the best ticket wins: the lowest
 * u / stake (compared exactly as u_a × stake_b < u_b × stake_a), ties by address.
 *
 * Everything here is a pure function: the chain uses it to check a claim, a verifier node uses
 * `verifierTicket` to learn whether it is selected and to get the proof it sends.
 */
import { fromHex, toHex } from '../codec/bytes.ts'
import { vrfOutput, vrfProofToHash, vrfProve } from '../codec/vrf.ts'
import type { Params } from './params.ts'

/** What the chain fixes for one L2 attempt (the `verifier-draws` query answers it). */
export interface VerifierDraw {
  readonly challengeId: string
  /** Hex block hash of the block that opened the challenge. */
  readonly seed: string
  readonly attempt: number
}

export interface VerifierTicket {
  readonly selected: boolean
  /** Hex ECVRF proof (80 bytes): what a claim and a response carry. */
  readonly proof: string
  /** Hex VRF output (64 bytes). */
  readonly beta: string
}

/** Bits of beta read as the fraction u: 256, so the threshold is exact for any real stake. */
const FRACTION_BITS = 256n

export function verifierAlpha(draw: VerifierDraw): Uint8Array {
  return new TextEncoder().encode(`r3mes/verifier/2\0${draw.seed}\0${draw.challengeId}\0${draw.attempt}`)
}

/** The first 32 bytes of beta as an unsigned big-endian integer: u × 2^256. */
function fractionOf(beta: Uint8Array): bigint {
  let x = 0n
  for (let i = 0; i < Number(FRACTION_BITS / 8n); i++) x = (x << 8n) | BigInt(beta[i] as number)
  return x
}

/** Whether a VRF output selects a verifier: u < min(1, expected × stake / totalStake). */
export function isSelected(beta: Uint8Array, stake: bigint, totalStake: bigint, expected: number): boolean {
  if (stake <= 0n || totalStake <= 0n) return false
  // u × totalStake < expected × stake, scaled by 2^256; a product ≥ totalStake × 2^256 selects always.
  return fractionOf(beta) * totalStake < (BigInt(expected) * stake) << FRACTION_BITS
}

/** True when ticket a (beta a, stake a) beats ticket b: lower u / stake, exactly; ties to the lower address. */
export function betterTicket(
  a: { readonly beta: Uint8Array; readonly stake: bigint; readonly address: string },
  b: { readonly beta: Uint8Array; readonly stake: bigint; readonly address: string },
): boolean {
  const left = fractionOf(a.beta) * b.stake
  const right = fractionOf(b.beta) * a.stake
  return left !== right ? left < right : a.address < b.address
}

/**
 * A verifier's ticket for one attempt: whether it is selected and the proof it must send. Pure:
 * the verifier node calls it with its own secret key and the numbers of the `verifier-draws`
 * query (its stake and the total, both as fixed when the attempt opened).
 */
export function verifierTicket(
  secretKey: Uint8Array,
  draw: VerifierDraw,
  stake: bigint,
  totalStake: bigint,
  params: Pick<Params, 'verifierExpectedCount'>,
): VerifierTicket {
  const proof = vrfProve(secretKey, verifierAlpha(draw))
  const beta = vrfProofToHash(proof) as Uint8Array
  return {
    selected: isSelected(beta, stake, totalStake, params.verifierExpectedCount),
    proof: toHex(proof),
    beta: toHex(beta),
  }
}

/**
 * Whether a verifier's ticket selects it, from the VRF output alone: the same answer as
 * `verifierTicket` at about a third of the cost (no proof). A verifier evaluates every draw it
 * is eligible for and makes the proof (`verifierTicket`) only for the few that select it.
 */
export function isVerifierSelected(
  secretKey: Uint8Array,
  draw: VerifierDraw,
  stake: bigint,
  totalStake: bigint,
  params: Pick<Params, 'verifierExpectedCount'>,
): boolean {
  return isSelected(vrfOutput(secretKey, verifierAlpha(draw)), stake, totalStake, params.verifierExpectedCount)
}

/** The beta of a hex ticket already checked by the chain (stored on the challenge). */
export function betaBytes(hex: string): Uint8Array {
  return fromHex(hex, 64) as Uint8Array
}
