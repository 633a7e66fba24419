/**
 * A dispute by bisection (as Gensyn's Verde settles one): when a challenge names the
 * challenger's own step trace, a verifier or arbiter does not re-run the disputed stage. It
 * fetches both parties' step-trace indexes, checks the owner's against the root its stage trace
 * committed to, finds the first step where the two Merkle trees part by bisection (one pair of
 * hashes per level), fetches only that step's inputs (the outputs of earlier steps, on which
 * both parties agree, each checked against its leaf), re-executes that one step and compares
 * its leaf with the owner's. The owner's leaf matching clears it; otherwise (the challenger's
 * matching, or neither: the owner's trace is not a re-execution) the owner is at fault.
 *
 * Before bisecting, the owner's trace must be consistent: its root the one its stage trace
 * names, its last leaf the claimed gradient's bytes, its given steps (the stage's input
 * activations and output gradient) the tensors its stage trace names. A challenger trace that
 * cannot be decoded, or is not of this stage, decides for the owner: the challenger offered no
 * re-execution to bisect against.
 *
 * The owner's content that cannot be had in time throws, as in every re-execution
 * (reexecute.ts): only content that arrived decides. The challenger's step trace that cannot
 * be had makes this return null, and the caller re-executes the whole stage: a challenger that
 * names a trace it does not serve cannot stall the dispute (nor get the verifier penalised).
 */
import type { Claim, Task } from '../../chain/state.ts'
import { firstDifference } from '../../codec/merkle.ts'
import { ArtifactError, NonFiniteError, ShapeError } from '../../ml/errors.ts'
import { isGivenStep, layerGradsOf, runStep, type StepSpec, stepPlan } from '../../ml/steps.ts'
import type { Params } from '../../ml/weights.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { encodeGradient, f32Bytes, f32From, type StageTrace, taskTokens } from '../training/protocol.ts'
import { type StageContext, stageRunOf } from '../training/stage-work.ts'
import { decodeStepTrace, type StepTraceIndex, stepLeaf, stepRoot, stepTree } from '../training/step-trace.ts'
import type { Recheck } from './reexecute.ts'

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
  readonly ctx: StageContext
  readonly dispute: Dispute
  readonly fromOwner: PartyFetch
  readonly fromChallenger: PartyFetch
  readonly signal?: AbortSignal
}

/** Where a bisection ended: the step it re-executed, and the hash pairs compared to find it. */
export interface Bisected {
  readonly step: number
  readonly kind: StepSpec['kind'] | 'gradient'
  readonly comparisons: number
}

const fault = (reason: string, bisected?: Bisected): Recheck => ({ honest: false, reason, bisected })
const cleared = (reason: string, bisected?: Bisected): Recheck => ({ honest: true, reason, bisected })

/**
 * The verdict of a dispute by bisection; null when the challenger's step trace cannot be had
 * (then nothing was bisected, and the whole stage is to be re-executed).
 */
export async function disputeBySteps(input: StepDisputeInput): Promise<Recheck | null> {
  const { claim, task, trace, ctx, dispute, fromOwner, fromChallenger } = input
  const plan = stepPlan(ctx.stage)
  const count = plan.length + 1

  const owner = await indexOf(fromOwner, trace.steps)
  if (typeof owner === 'string') return fault(`the owner's ${owner}`)
  if (owner.task !== task.id || owner.leaves.length !== count)
    return fault(`the owner's step trace is not of this stage (${owner.leaves.length} steps, ${count} expected)`)
  if (stepRoot(owner.leaves) !== trace.stepRoot) return fault('the step trace does not hash to the root it committed')
  const claimed = await fromOwner(claim.cid)
  if (claimed === undefined) return fault('the gradient is not served')
  if (stepLeaf(claimed) !== owner.leaves[count - 1]) return fault('the step trace does not end in the claimed gradient')
  for (const spec of plan.filter(isGivenStep)) {
    const named = spec.kind === 'input' ? trace.input : trace.dOutput
    if (owner.tensors[spec.index] !== named)
      return fault(`the step trace's ${spec.kind} is not the tensor its stage trace names`)
  }

  // A challenger trace that cannot be had decides nothing: the caller re-executes the whole stage.
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
    return cleared("the challenger's step trace is not of this stage")

  const diff = firstDifference(stepTree(owner.leaves), stepTree(challenger.leaves))
  if (diff === null) return cleared('both step traces agree')
  const step = diff.index
  const spec = plan[step]
  const bisected: Bisected = { step, kind: spec?.kind ?? 'gradient', comparisons: diff.comparisons }

  // The outputs it reads, as the owner stored them: both parties' leaves agree on them.
  const reads = spec === undefined ? plan.filter((p) => p.kind === 'layerBackward').map((p) => p.index) : spec.deps
  const inputs = new Map<number, Uint8Array>()
  // A given step re-executes as the tensor the stage trace names (checked equal to the index's).
  for (const j of spec !== undefined && isGivenStep(spec) ? [step] : reads) {
    const bytes = await fromOwner(owner.tensors[j] as string)
    if (bytes === undefined || stepLeaf(bytes) !== owner.leaves[j])
      return fault(`step ${j}'s tensor does not match its leaf`, bisected)
    inputs.set(j, bytes)
  }
  let again: Uint8Array
  try {
    again = rerun(ctx, task, plan, spec, step, inputs)
  } catch (error) {
    // A tensor of the wrong size or a non-finite value: the owner's trace is not a re-execution.
    if (isComputeError(error)) return fault(`step ${step} cannot be re-executed: ${error.message}`, bisected)
    throw error
  }
  const leaf = stepLeaf(again)
  if (leaf === owner.leaves[step])
    return cleared(`step ${step} (${bisected.kind}) re-executes to the owner's leaf`, bisected)
  const whose = leaf === challenger.leaves[step] ? "the challenger's" : 'neither'
  return fault(`step ${step} (${bisected.kind}) re-executes to ${whose} leaf`, bisected)
}

const isComputeError = (error: unknown): error is Error =>
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

/** The bytes of one step re-executed from the outputs it reads (the gradient bundle last). */
function rerun(
  ctx: StageContext,
  task: Task,
  plan: readonly StepSpec[],
  spec: StepSpec | undefined,
  step: number,
  inputs: ReadonlyMap<number, Uint8Array>,
): Uint8Array {
  const run = stageRunOf(ctx)
  const read = (j: number): Uint8Array => inputs.get(j) as Uint8Array
  if (spec === undefined) {
    // The gradient bundle: every layer's LoRA gradients, from the backward steps.
    const grads: Params = new Map()
    for (const s of plan.filter((p) => p.kind === 'layerBackward'))
      for (const [name, g] of layerGradsOf(run, s.layer as number, f32From(read(s.index)))) grads.set(name, g)
    return encodeGradient(grads, task, taskTokens(ctx.protocol))
  }
  if (isGivenStep(spec)) return read(step)
  const deps = spec.deps.map((j) => f32From(read(j)))
  return f32Bytes(runStep(run, spec, deps, { tokens: ctx.batch.inputs, targets: ctx.batch.targets }))
}
