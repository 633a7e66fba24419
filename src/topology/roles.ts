/**
 * The names a topology file and `r3mes node` give to what a node runs: its roles, and the
 * misbehaviours a test or chaos scenario may switch on. Plain data, so the topology loader can
 * check a file without importing the node that runs it.
 */
import { InvalidArgumentError } from '../runtime/errors.ts'

/**
 * Roles a node process runs: the staked chain roles (validator, miner, verifier, arbiter) plus
 * the unstaked ones. A subnet peer joins its subnet's topics and seeds the subnet's layer range
 * and recent content without training.
 */
export const NODE_ROLES = [
  'validator',
  'miner',
  'aggregator',
  'verifier',
  'arbiter',
  'challenger',
  'serving',
  'subnet-peer',
] as const

export type NodeRole = (typeof NODE_ROLES)[number]

/**
 * Misbehaviours a node can be configured with, for tests and chaos scenarios only: none is
 * ever on by default, and each names the honest rule it breaks.
 *
 * - wrongGradient: a miner perturbs its gradient before storing it (L1/L2/L3 must catch it).
 * - copiedCid: a miner skips the work and reveals another miner's CID (commit–reveal must
 *   give it nothing).
 * - wrongAggregate: a validator drawn to aggregate perturbs the new adapter state before
 *   storing it (a challenger must recompute it, L2/L3 slash it and restore the pointer, and
 *   the next aggregator drawn redoes the window).
 * - withholdingMiner: a miner trains, reveals and sends its activations as usual, but never
 *   stores the content it names (gradient, trace, boundary tensors) nor announces it: nobody
 *   can fetch it from that node (the availability rule must exclude and slash it).
 * - withholdAndChallenge: a challenger bonds challenges against the claims of withholding
 *   miners without re-executing them, the accomplice that tries to get honest verifiers
 *   penalized for content they cannot fetch (they must answer 'unavailable' instead).
 * - lazyVerifier: a verifier sides with the miner without re-executing.
 * - griefingChallenger: a challenger disputes honest submissions (it must lose its bonds).
 * - equivocatingValidator: a validator signs a second, conflicting vote (evidence must
 *   slash it once).
 * - byzantineValidator: a validator sends, beside its honest messages, far-future rounds,
 *   heights and block times, junk commits and evidence, invalid transactions and statuses with
 *   forged authors (byzantine-validator.ts); the network must keep committing and slash nobody.
 * - seedGrinder: a validator that, when it proposes, forges a beacon of its choosing (with a
 *   VRF proof that cannot verify) or, at a window opening whose honest beacon does not draw it
 *   as aggregator, withholds its block (seed-grinder.ts); honest validators must refuse every
 *   forged block and the chain keep committing.
 */
export const MISBEHAVIOURS = [
  'wrongGradient',
  'copiedCid',
  'wrongAggregate',
  'withholdingMiner',
  'withholdAndChallenge',
  'lazyVerifier',
  'griefingChallenger',
  'equivocatingValidator',
  'byzantineValidator',
  'seedGrinder',
] as const

export type Misbehaviour = (typeof MISBEHAVIOURS)[number]

/**
 * Inner steps of a task a challenger re-executes, drawn in secret, beside the checks that cost
 * no training (0: the whole task). Two of H = 16 catch a miner that fakes f steps with
 * probability 1 − C(16 − f, 2) / C(16, 2), for an eighth of a whole re-execution.
 */
export const DEFAULT_SPOT_STEPS = 2

/** Share of other miners' submissions a challenger checks (aggregates and L1-flagged ones always). */
export const DEFAULT_CHALLENGE_FRACTION = 0.25

export function parseMisbehaviour(name: string): Misbehaviour {
  if (!(MISBEHAVIOURS as readonly string[]).includes(name))
    throw new InvalidArgumentError(`unknown misbehaviour '${name}'; expected one of ${MISBEHAVIOURS.join(', ')}`)
  return name as Misbehaviour
}
