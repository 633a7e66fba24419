/**
 * A dispute by bisection (as Gensyn's Verde settles one): when a challenge names the
 * challenger's own step trace, a verifier or arbiter does not re-run the disputed task. It
 * fetches both parties' step-trace indexes (one leaf per inner step, then the pseudo-gradient),
 * checks the owner's against the root its stage trace committed to, finds the first leaf where
 * the two Merkle trees part by bisection (one pair of hashes per level), and re-executes only
 * that: inner step k from the state after step k − 1 (the owner's leaf, on which both parties
 * agree, checked against its hash; the pointer's adapters and a fresh AdamW state for k = 0)
 * and the tensors the owner's stage trace says it received for step k; or the pseudo-gradient
 * from the start adapters and the state after the last inner step. The owner's leaf matching
 * clears it; otherwise (the challenger's matching, or neither: the owner's trace is not a
 * re-execution) the owner is at fault.
 *
 * Before bisecting, the owner's trace must be consistent: its root the one its stage trace
 * names, its last leaf the claimed pseudo-gradient's bytes. A challenger trace that cannot be
 * decoded, or is not of this task, decides for the owner: the challenger offered no
 * re-execution to bisect against.
 *
 * The owner's content that cannot be had in time throws, as in every re-execution
 * (reexecute.ts): only content that arrived decides. The challenger's step trace that cannot
 * be had makes this return null, and the caller re-executes the whole task: a challenger that
 * names a trace it does not serve cannot stall the dispute (nor get the verifier penalised).
 */
import type { Claim, Task } from '../../chain/state.ts'
import { firstDifference } from '../../codec/merkle.ts'
import { ArtifactError, NonFiniteError, ShapeError } from '../../ml/errors.ts'
import { pseudoGradient } from '../../ml/outer.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { encodeGradient, type StageTrace, taskTokens } from '../training/protocol.ts'
import { type InnerState, runStage, StageTrainer, type StageTrainerInit } from '../training/stage-trainer.ts'
import {
  decodeStepTrace,
  innerStateOf,
  innerStepBytes,
  type StepTraceIndex,
  stepLeaf,
  stepRoot,
  stepTree,
} from '../training/step-trace.ts'
import type { Recheck } from './reexecute.ts'
import { receivedShapeFault, storedLinks, TensorNotServedError } from './stored-links.ts'

/** What a challenge adds to a re-execution: who challenged, and the step trace it published. */
export interface Dispute {
  readonly challenger: string
  /** CID of the challenger's step-trace index. */
  readonly trace: string
}

/** Bytes by CID from a party (undefined: the bytes arrived and are not what the CID names). */
export type PartyFetch = (cid: string) => Promise<Uint8Array | undefined>

export interface StepDisputeInput {
  readonly claim: Claim
  readonly task: Task
  readonly trace: StageTrace
  /** The stage trainer of the task, from its start (the pointer's adapters). */
  readonly init: StageTrainerInit
  readonly dispute: Dispute
  readonly fromOwner: PartyFetch
  readonly fromChallenger: PartyFetch
  readonly signal?: AbortSignal
}

/** Where a bisection ended: the leaf it re-executed, and the hash pairs compared to find it. */
export interface Bisected {
  readonly step: number
  readonly kind: 'innerStep' | 'pseudoGradient'
  readonly comparisons: number
}

const fault = (reason: string, bisected?: Bisected): Recheck => ({ honest: false, reason, bisected })
const cleared = (reason: string, bisected?: Bisected): Recheck => ({ honest: true, reason, bisected })

/**
 * The verdict of a dispute by bisection; null when the challenger's step trace cannot be had
 * (then nothing was bisected, and the whole task is to be re-executed).
 */
export async function disputeBySteps(input: StepDisputeInput): Promise<Recheck | null> {
  const { claim, task, trace, init, dispute, fromOwner, fromChallenger } = input
  const probe = new StageTrainer(init)
  const innerSteps = probe.innerSteps
  const count = innerSteps + 1

  const owner = await ownerStepTrace(claim, task, trace, probe, fromOwner)
  if (typeof owner === 'string') return fault(owner)

  // A challenger trace that cannot be had decides nothing: the caller re-executes the whole task.
  let challengerBytes: Uint8Array | undefined
  try {
    challengerBytes = await fromChallenger(dispute.trace)
  } catch (error) {
    if (input.signal?.aborted === true) throw error
    return null
  }
  const challenger = decodedIndex(challengerBytes)
  if (typeof challenger === 'string') return cleared(`the challenger's ${challenger}`)
  if (challenger.task !== task.id || challenger.leaves.length !== count)
    return cleared("the challenger's step trace is not of this task")

  const diff = firstDifference(stepTree(owner.leaves), stepTree(challenger.leaves))
  if (diff === null) return cleared('both step traces agree')
  const step = diff.index
  const kind = step === innerSteps ? 'pseudoGradient' : 'innerStep'
  const bisected: Bisected = { step, kind, comparisons: diff.comparisons }
  const what = kind === 'innerStep' ? `inner step ${step}` : 'the pseudo-gradient'

  // The state the re-executed leaf starts from, as the owner stored it: both parties agree on it.
  let before: InnerState | undefined
  if (step > 0) {
    const bytes = await fromOwner(owner.tensors[step - 1] as string)
    if (bytes === undefined || stepLeaf(bytes) !== owner.leaves[step - 1])
      return fault(`inner step ${step - 1}'s state does not match its leaf`, bisected)
    try {
      const after = innerStateOf(bytes)
      if (after.step !== step - 1) return fault(`inner step ${step - 1}'s leaf names step ${after.step}`, bisected)
      before = after.state
    } catch (error) {
      if (isComputeError(error)) return fault(`inner step ${step - 1}'s state is malformed: ${error.message}`, bisected)
      throw error
    }
  }
  let again: Uint8Array
  try {
    again =
      kind === 'pseudoGradient'
        ? encodeGradient(
            pseudoGradient(init.kernels, init.start, (before as InnerState).adapters),
            task,
            taskTokens(init.protocol),
          )
        : await rerunInnerStep(init, trace, step, before, fromOwner, input.signal)
  } catch (error) {
    if (error instanceof TensorNotServedError) return fault(error.message, bisected)
    // A tensor of the wrong size or a non-finite value: the owner's trace is not a re-execution.
    if (isComputeError(error)) return fault(`${what} cannot be re-executed: ${error.message}`, bisected)
    throw error
  }
  const leaf = stepLeaf(again)
  if (leaf === owner.leaves[step]) return cleared(`${what} re-executes to the owner's leaf`, bisected)
  const whose = leaf === challenger.leaves[step] ? "the challenger's" : 'neither'
  return fault(`${what} re-executes to ${whose} leaf`, bisected)
}

/**
 * The owner's step-trace index, checked against everything it committed to: of this task, one
 * leaf per inner step and one for the pseudo-gradient, hashing to the root its stage trace
 * names, ending in the claimed pseudo-gradient's bytes, with received tensors of the stage's
 * shape; or why it is not (the owner's fault, whatever a re-execution would give).
 */
export async function ownerStepTrace(
  claim: Pick<Claim, 'cid'>,
  task: Pick<Task, 'id'>,
  trace: StageTrace,
  probe: Pick<StageTrainer, 'innerSteps' | 'microBatches' | 'isFirst' | 'isLast'>,
  fromOwner: PartyFetch,
): Promise<StepTraceIndex | string> {
  const count = probe.innerSteps + 1
  const owner = await indexOf(fromOwner, trace.steps)
  if (typeof owner === 'string') return `the owner's ${owner}`
  if (owner.task !== task.id || owner.leaves.length !== count)
    return `the owner's step trace is not of this task (${owner.leaves.length} steps, ${count} expected)`
  if (stepRoot(owner.leaves) !== trace.stepRoot) return 'the step trace does not hash to the root it committed'
  const claimed = await fromOwner(claim.cid)
  if (claimed === undefined) return 'the gradient is not served'
  if (stepLeaf(claimed) !== owner.leaves[count - 1]) return 'the step trace does not end in the claimed pseudo-gradient'
  return receivedShapeFault(trace, probe.isFirst, probe.isLast, probe.innerSteps * probe.microBatches) ?? owner
}

/** The leaf bytes of inner step `step` alone, from the state before it and the tensors it received. */
export async function rerunInnerStep(
  init: StageTrainerInit,
  trace: StageTrace,
  step: number,
  before: InnerState | undefined,
  fromOwner: PartyFetch,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const trainer = new StageTrainer(before === undefined ? init : { ...init, resume: { step, state: before } })
  let bytes: Uint8Array | undefined
  await runStage(trainer, storedLinks(trace, trainer.microBatches, fromOwner), {
    steps: 1,
    onStep: (record) => {
      bytes = innerStepBytes(record)
    },
    ...(signal === undefined ? {} : { signal }),
  })
  return bytes as Uint8Array
}

export const isComputeError = (error: unknown): error is Error =>
  error instanceof ShapeError ||
  error instanceof NonFiniteError ||
  error instanceof ArtifactError ||
  error instanceof InvalidArgumentError

/** A party's step-trace index, or what is wrong with it. */
async function indexOf(fetch: PartyFetch, cid: string): Promise<StepTraceIndex | string> {
  return decodedIndex(await fetch(cid))
}

function decodedIndex(bytes: Uint8Array | undefined): StepTraceIndex | string {
  if (bytes === undefined) return 'step trace is not served intact'
  try {
    return decodeStepTrace(bytes)
  } catch (error) {
    return `step trace is malformed: ${(error as Error).message}`
  }
}
