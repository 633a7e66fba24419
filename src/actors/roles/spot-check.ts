/**
 * A challenger's spot check of a submission: instead of re-executing the whole task (H inner
 * steps), it fetches the miner's step trace and re-executes only k inner steps, drawn from the
 * challenger's own secret (a hash of its secret key and the claim: a miner cannot know which
 * steps will be looked at), each from the miner's stored state before it and the tensors the
 * miner received. Beside them it runs the checks that cost no training: the trace's shape and
 * its commitments (the same the dispute checks first: of this task, one leaf per inner step
 * and one for the pseudo-gradient, hashing to the committed root, ending in the claimed
 * pseudo-gradient's bytes), and the pseudo-gradient itself, recomputed as θ_start − θ_end
 * from the window's adapter state and the last inner step's stored adapters.
 *
 * A miner that fakes f of the H inner steps (and trains on honestly from what it faked)
 * escapes one challenger with probability C(H − f, k) / C(H, k): on H = 16 and k = 2, one
 * faked step escapes with 7/8 and eight with 7/30; each further challenger draws on its own.
 *
 * When a checked step does not reproduce, the challenge names a step trace that is the miner's,
 * leaf for leaf, but for that step, whose leaf is the challenger's re-execution: the dispute
 * (reexecute-steps.ts) bisects the two to exactly that step and re-executes it alone from the
 * miner's state before it, as the challenger did. Nothing after the step is needed: bisection
 * only reads the first leaf where the traces part. A trace whose commitments do not hold, or
 * whose leaves or tensors do not decode, is left to a whole-task re-execution (the caller's),
 * which publishes a complete trace as before.
 */
import type { Claim, Task } from '../../chain/state.ts'
import { sha256 } from '../../codec/hash.ts'
import type { Kernels } from '../../ml/kernels/contract.ts'
import { pseudoGradient } from '../../ml/outer.ts'
import { encodeGradient, type StageTrace, taskTokens } from '../training/protocol.ts'
import { type InnerState, StageTrainer, type StageTrainerInit } from '../training/stage-trainer.ts'
import {
  encodeStepTrace,
  innerStateOf,
  STEP_TRACE_KIND,
  type StepTraceIndex,
  stepLeaf,
} from '../training/step-trace.ts'
import { prepareSubmission, type Recheck, type ReexecuteComponents, reexecute } from './reexecute.ts'
import { isComputeError, ownerStepTrace, type PartyFetch, rerunInnerStep } from './reexecute-steps.ts'
import { TensorNotServedError } from './stored-links.ts'

/**
 * The k distinct inner steps of `claimId`'s task a challenger re-executes, ascending: a partial
 * Fisher–Yates shuffle of 0..H−1 driven by SHA-256 of the challenger's secret and the claim.
 * All H when k ≥ H.
 */
export function drawnSteps(secret: Uint8Array, claimId: string, innerSteps: number, k: number): number[] {
  const order = Array.from({ length: innerSteps }, (_, i) => i)
  const count = Math.min(k, innerSteps)
  for (let i = 0; i < count; i++) {
    const h = sha256('r3mes/spot-check/1\0', secret, `\0${claimId}\0${i}`)
    // 48 bits of the hash (exact in a double) over at most MAX_TRACE_STEPS choices: a bias below 2^-37.
    const view = new DataView(h.buffer, h.byteOffset, 6)
    const draw = (view.getUint32(0) * 2 ** 16 + view.getUint16(4)) % (innerSteps - i)
    const j = i + draw
    ;[order[i], order[j]] = [order[j] as number, order[i] as number]
  }
  return order.slice(0, count).sort((a, b) => a - b)
}

/** The per-node secret a challenger draws its steps from: derived from its secret key, never published. */
export function spotSecretOf(secretKey: Uint8Array): Uint8Array {
  return sha256('r3mes/spot-secret/1\0', secretKey)
}

export interface SpotCheckInput {
  readonly task: Task
  readonly claim: Pick<Claim, 'cid'>
  readonly trace: StageTrace
  /** The stage trainer of the task, from its start (the window's adapter state). */
  readonly init: StageTrainerInit
  /** Bytes by CID from the owner and the replicas of its task (undefined: not what the CID names). */
  readonly fetch: PartyFetch
  /** The inner steps to re-execute (drawnSteps). */
  readonly steps: readonly number[]
  readonly signal?: AbortSignal
}

/** A leaf of the owner's trace that the challenger's re-execution does not reproduce. */
export interface Divergence {
  /** The leaf: an inner step, or H for the pseudo-gradient. */
  readonly step: number
  /** The challenger's bytes of that leaf. */
  readonly bytes: Uint8Array
  /** The owner's index, which the challenger's trace copies but for `step`. */
  readonly owner: StepTraceIndex
}

export type SpotVerdict =
  /** Every checked step and the pseudo-gradient reproduce the owner's leaves. */
  | { readonly kind: 'reproduces'; readonly innerStepsRun: number }
  | {
      readonly kind: 'diverges'
      readonly reason: string
      readonly divergence: Divergence
      readonly innerStepsRun: number
    }
  /** The owner's trace breaks its own commitments: a dispute faults it before bisecting. */
  | { readonly kind: 'broken'; readonly reason: string; readonly innerStepsRun: 0 }
  /** A leaf or tensor the trace names is not what it claims: only a whole re-execution can tell. */
  | { readonly kind: 'undecided'; readonly reason: string; readonly innerStepsRun: number }

/** Spot-check a submission's step trace (see the file comment). Content not had in time throws. */
export async function spotCheckSteps(input: SpotCheckInput): Promise<SpotVerdict> {
  const { task, claim, trace, init, fetch, steps, signal } = input
  const probe = new StageTrainer(init)
  const H = probe.innerSteps
  const owner = await ownerStepTrace(claim, task, trace, probe, fetch)
  if (typeof owner === 'string') return { kind: 'broken', reason: owner, innerStepsRun: 0 }

  // The state after inner step `step`, as the owner stored it and checked against its leaf.
  const stateAfter = async (step: number): Promise<InnerState | string> => {
    const bytes = await fetch(owner.tensors[step] as string)
    if (bytes === undefined || stepLeaf(bytes) !== owner.leaves[step])
      return `inner step ${step}'s state does not match its leaf`
    try {
      const after = innerStateOf(bytes)
      return after.step === step ? after.state : `inner step ${step}'s leaf names step ${after.step}`
    } catch (error) {
      if (isComputeError(error)) return `inner step ${step}'s state is malformed: ${error.message}`
      throw error
    }
  }

  // The pseudo-gradient: θ_start (the window's adapter state) − θ_end (the last inner step's).
  const end = await stateAfter(H - 1)
  if (typeof end === 'string') return { kind: 'undecided', reason: end, innerStepsRun: 0 }
  let gradient: Uint8Array
  try {
    gradient = encodeGradient(pseudoGradient(init.kernels, init.start, end.adapters), task, taskTokens(init.protocol))
  } catch (error) {
    if (isComputeError(error)) return { kind: 'undecided', reason: error.message, innerStepsRun: 0 }
    throw error
  }
  if (stepLeaf(gradient) !== owner.leaves[H])
    return {
      kind: 'diverges',
      reason: 'the pseudo-gradient is not the change of the adapters over the inner steps',
      divergence: { step: H, bytes: gradient, owner },
      innerStepsRun: 0,
    }

  let innerStepsRun = 0
  for (const step of steps) {
    signal?.throwIfAborted()
    let before: InnerState | undefined
    if (step > 0) {
      const state = await stateAfter(step - 1)
      if (typeof state === 'string') return { kind: 'undecided', reason: state, innerStepsRun }
      before = state
    }
    let bytes: Uint8Array
    try {
      bytes = await rerunInnerStep(init, trace, step, before, fetch, signal)
    } catch (error) {
      if (error instanceof TensorNotServedError || isComputeError(error))
        return { kind: 'undecided', reason: error.message, innerStepsRun }
      throw error
    }
    innerStepsRun++
    if (stepLeaf(bytes) !== owner.leaves[step])
      return {
        kind: 'diverges',
        reason: `inner step ${step} does not re-execute to the owner's leaf`,
        divergence: { step, bytes, owner },
        innerStepsRun,
      }
  }
  return { kind: 'reproduces', innerStepsRun }
}

/**
 * Store the challenger's step trace for a divergence: the owner's index, with the diverging
 * leaf (and its bytes) the challenger's own. Returns the index's CID and the CIDs this node now
 * holds (to announce).
 */
export async function storeDivergentTrace(
  store: (bytes: Uint8Array) => Promise<string>,
  divergence: Divergence,
): Promise<{ index: string; held: readonly string[] }> {
  const { step, bytes, owner } = divergence
  const cid = await store(bytes)
  const leaves = owner.leaves.map((leaf, i) => (i === step ? stepLeaf(bytes) : leaf))
  const tensors = owner.tensors.map((t, i) => (i === step ? cid : t))
  const index = await store(encodeStepTrace({ v: 2, kind: STEP_TRACE_KIND, task: owner.task, leaves, tensors }))
  return { index, held: [index, cid] }
}

/** A challenger's verdict on a claim: a re-execution's, with the divergence a spot check found. */
export interface ChallengerRecheck extends Recheck {
  readonly divergence?: Divergence
  /** Inner steps the check re-executed (all H for a whole-task re-execution). */
  readonly innerStepsRun?: number
}

/**
 * How a challenger checks a claim: on a node, `challengerCheck` with its kernels and its spot
 * secret (`kernelClaimCheck`); in the simulator, its cost model (src/sim/cost-model.ts). The
 * challenger machine decides what to do with the answer (challenge with the trace or the
 * divergence it carries, or clear), so it runs the same whatever checks.
 */
export interface ClaimCheck {
  check(claim: Claim, options?: ClaimCheckOptions): Promise<ChallengerRecheck>
}

export interface ClaimCheckOptions {
  readonly signal?: AbortSignal
  /** How long each fetch may take before the content counts as unavailable (a `ContentUnavailableError`). @default FETCH_DEADLINE_MS */
  readonly fetchDeadlineMs?: number
}

/** The check on this node: `challengerCheck` with `kernels`, spot-checking `spot.steps` steps drawn from `spot.secret`. */
export function kernelClaimCheck(
  components: ReexecuteComponents,
  kernels: Kernels,
  spot: { readonly secret: Uint8Array; readonly steps: number },
): ClaimCheck {
  return { check: (claim, options) => challengerCheck(components, claim, kernels, spot, options) }
}

/**
 * A challenger's check of a claim: aggregates are recomputed as ever; a submission is
 * spot-checked on the k steps drawn from `secret`, or re-executed whole when k is 0 or covers
 * every step, or when the spot check cannot decide (its trace keeps the whole re-execution's
 * steps to publish). A trace that breaks its own commitments is a fault whatever the whole
 * re-execution gives: the dispute checks those commitments before anything else.
 */
export async function challengerCheck(
  components: ReexecuteComponents,
  claim: Claim,
  kernels: Kernels,
  spot: { readonly secret: Uint8Array; readonly steps: number },
  options: ClaimCheckOptions = {},
): Promise<ChallengerRecheck> {
  const { signal, fetchDeadlineMs } = options
  const whole = async (): Promise<ChallengerRecheck> => {
    const check = await reexecute(components, claim, kernels, signal, {
      keepSteps: true,
      ...(fetchDeadlineMs === undefined ? {} : { fetchDeadlineMs }),
    })
    return { ...check, innerStepsRun: check.steps === undefined ? 0 : check.steps.length - 1 }
  }
  if (claim.kind === 'aggregate' || spot.steps <= 0) return whole()
  const prepared = await prepareSubmission(components, claim, kernels, signal, fetchDeadlineMs)
  if ('verdict' in prepared) return prepared.verdict
  const H = prepared.init.protocol.innerSteps
  if (spot.steps >= H) return whole()
  const verdict = await spotCheckSteps({
    ...prepared,
    claim,
    steps: drawnSteps(spot.secret, claim.id, H, spot.steps),
    ...(signal === undefined ? {} : { signal }),
  })
  switch (verdict.kind) {
    case 'reproduces':
      return {
        honest: true,
        reason: `the pseudo-gradient and ${verdict.innerStepsRun} drawn inner steps re-execute bit for bit`,
        innerStepsRun: verdict.innerStepsRun,
      }
    case 'diverges':
      return {
        honest: false,
        reason: verdict.reason,
        divergence: verdict.divergence,
        innerStepsRun: verdict.innerStepsRun,
      }
    case 'broken': {
      const check = await whole()
      return { ...check, honest: false, reason: verdict.reason }
    }
    case 'undecided': {
      const check = await whole()
      return { ...check, innerStepsRun: (check.innerStepsRun ?? 0) + verdict.innerStepsRun }
    }
  }
}
