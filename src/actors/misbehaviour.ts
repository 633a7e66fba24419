/**
 * Misbehaviours a node can be configured with, for tests and chaos scenarios only: none is
 * ever on by default, and each names the honest rule it breaks.
 *
 * - wrongGradient: a miner perturbs its gradient before storing it (L1/L2/L3 must catch it).
 * - copiedCid: a miner skips the work and reveals another miner's CID (commit–reveal must
 *   give it nothing).
 * - lazyVerifier: a verifier sides with the miner without re-executing.
 * - griefingChallenger: a challenger disputes honest submissions (it must lose its bonds).
 * - equivocatingValidator: a validator signs a second, conflicting vote (evidence must
 *   slash it once).
 * - byzantineValidator: a validator sends, beside its honest messages, far-future rounds,
 *   heights and block times, junk commits and evidence, invalid transactions and statuses with
 *   forged authors (byzantine-validator.ts); the network must keep committing and slash nobody.
 */
import { InvalidArgumentError } from '../runtime/errors.ts'

export const MISBEHAVIOURS = [
  'wrongGradient',
  'copiedCid',
  'lazyVerifier',
  'griefingChallenger',
  'equivocatingValidator',
  'byzantineValidator',
] as const

export type Misbehaviour = (typeof MISBEHAVIOURS)[number]

export function parseMisbehaviour(name: string): Misbehaviour {
  if (!(MISBEHAVIOURS as readonly string[]).includes(name))
    throw new InvalidArgumentError(`unknown misbehaviour '${name}'; expected one of ${MISBEHAVIOURS.join(', ')}`)
  return name as Misbehaviour
}
