/**
 * Re-execution of a claim: what verifiers, arbiters and challengers do to check a miner's
 * gradient or an aggregator's new adapter state.
 *
 * An aggregate is recomputed as its aggregator had to compute it (aggregate-work.ts): the
 * pseudo-gradients of the submissions it names, in its order, averaged by tokens, one outer
 * Nesterov step with its window's rates from the state it replaced; its bytes must equal the
 * adapter state it published. Both branches compute with the protocol of the claim's window
 * (the training parameters it recorded), whatever governance has changed since.
 *
 * A submission: from the claim's trace (by CID) it fetches the tensors the stage received for
 * every inner step and micro-batch, runs the stage's whole task again with the same stage
 * trainer the miner ran (stage-trainer.ts) and the given kernels, and compares bytes with what
 * the miner stored: its pseudo-gradient and the root of its step trace (one leaf per inner
 * step: the state after it and the tensors it sent). Any difference, or content that arrives
 * corrupt, is a fault. A disputed submission whose challenger published its own step trace is
 * settled by bisection instead (reexecute-steps.ts): one inner step re-executed, not the task. Content that cannot be had in time is not a fault: the check throws a
 * `ContentUnavailableError` (availability.ts), asked of the owner and the replicas of its task
 * first, so a slow or cut network never convicts an honest miner of a fault. What the caller
 * does with it is the availability rule: a verifier or arbiter that still cannot get the
 * content when its answer is due answers 'unavailable', and a panel that agrees slashes the
 * owner for withholding.
 */
import type { ChainReader } from '../../chain/reader.ts'
import type { Claim, Task } from '../../chain/state.ts'
import { bytesEqual } from '../../codec/bytes.ts'
import type { Kernels } from '../../ml/kernels/contract.ts'
import { ContentIntegrityError, MalformedMessageError } from '../../net/errors.ts'
import { type ContentFetcher, FETCH_DEADLINE_MS } from '../services/content-fetcher.ts'
import type { ModelPieces } from '../services/model-pieces.ts'
import type { TrainingSetup } from '../services/training-setup.ts'
import {
  decodeTrace,
  encodeAdapterState,
  encodeGradient,
  type StageTrace,
  stepBatch,
  taskTokens,
  traceCidOf,
} from '../training/protocol.ts'
import { runStage, StageTrainer, type StageTrainerInit } from '../training/stage-trainer.ts'
import { innerStepBytes, stepLeaf, stepRoot } from '../training/step-trace.ts'
import { aggregateState, fetchInputs } from './aggregate-work.ts'
import { fetchAvailable, holdersOf } from './availability.ts'
import { type Bisected, type Dispute, disputeBySteps, isComputeError, type PartyFetch } from './reexecute-steps.ts'
import { receivedShapeFault, storedLinks, TensorNotServedError } from './stored-links.ts'

/** What a re-execution reads: the claim's window and task, its content, the model pieces of its stage. */
export interface ReexecuteComponents {
  readonly chain: Pick<ChainReader, 'window' | 'tasks' | 'claim'>
  readonly content: Pick<ContentFetcher, 'fetch'>
  readonly model: Pick<ModelPieces, 'stageWeights' | 'adapterState' | 'aggregatorOf'>
  readonly training: Pick<TrainingSetup, 'protocolAt' | 'data'>
}

export interface Recheck {
  readonly honest: boolean
  readonly reason: string
  /** A whole-task re-execution's step bytes (step-trace.ts), kept when asked (`keepSteps`): a challenger publishes them. */
  readonly steps?: readonly Uint8Array[]
  /** Where a dispute by bisection ended. */
  readonly bisected?: Bisected
}

export interface ReexecuteOptions {
  /** The challenger's step trace: the dispute is settled by bisection (reexecute-steps.ts). */
  readonly dispute?: Dispute | null
  /** Return the whole-task re-execution's step bytes (one state per inner step: only a challenger keeps them). */
  readonly keepSteps?: boolean
  /** How long each fetch may take before the content counts as unavailable. @default FETCH_DEADLINE_MS */
  readonly fetchDeadlineMs?: number
}

/**
 * How a verifier or an arbiter re-executes a claim: on a node, `reexecute` with the role's
 * kernels (`kernelReexecution`); in the simulator, its cost model (src/sim/cost-model.ts). The
 * role machines decide what to do with the answer (answer, vote, 'unavailable' when it throws
 * a `ContentUnavailableError`), so they run the same whatever re-executes.
 */
export interface ClaimReexecution {
  check(claim: Claim, options: ReexecuteOptions & { readonly signal?: AbortSignal }): Promise<Recheck>
}

/** Re-execution on this node: `reexecute` with `kernels` (a verifier's own, an arbiter's CPU ones). */
export function kernelReexecution(components: ReexecuteComponents, kernels: Kernels): ClaimReexecution {
  return { check: (claim, { signal, ...options }) => reexecute(components, claim, kernels, signal, options) }
}

export async function reexecute(
  components: ReexecuteComponents,
  claim: Claim,
  kernels: Kernels,
  signal?: AbortSignal,
  options: ReexecuteOptions = {},
): Promise<Recheck> {
  const { dispute, keepSteps = false, fetchDeadlineMs } = options
  if (claim.kind === 'aggregate') return reexecuteAggregate(components, claim, kernels, signal, fetchDeadlineMs)
  const prepared = await prepareSubmission(components, claim, kernels, signal, fetchDeadlineMs)
  if ('verdict' in prepared) return prepared.verdict
  const { task, trace, init: trainerInit, fetch } = prepared
  const { content } = components
  const protocol = trainerInit.protocol
  if (dispute != null) {
    // Half the time for the challenger's trace: when it does not come (a challenger may withhold
    // it), the whole-task re-execution below still has the other half, so nobody is silent
    // (and penalized) over the challenger's content, and the owner is not blamed for it.
    const challengerDeadlineMs = (fetchDeadlineMs ?? FETCH_DEADLINE_MS) / 2
    const fromChallenger = (cid: string) =>
      fetchOrFault(content, cid, [dispute.challenger], signal, challengerDeadlineMs)
    const settled = await disputeBySteps({
      claim,
      task,
      trace,
      init: trainerInit,
      dispute,
      fromOwner: fetch,
      fromChallenger,
      signal,
    })
    if (settled !== null) return settled
    // The challenger's step trace cannot be had: settle the dispute by re-executing the whole task.
  }
  // The whole task: every inner step from the tensors the miner received, as the miner ran it.
  const trainer = new StageTrainer(trainerInit)
  const shapeFault = receivedShapeFault(
    trace,
    trainer.isFirst,
    trainer.isLast,
    trainer.innerSteps * trainer.microBatches,
  )
  if (shapeFault !== undefined) return { honest: false, reason: shapeFault }
  const all: Uint8Array[] = []
  try {
    await runStage(trainer, storedLinks(trace, trainer.microBatches, fetch), {
      onStep: (record) => {
        all.push(innerStepBytes(record))
      },
      ...(signal === undefined ? {} : { signal }),
    })
  } catch (error) {
    if (error instanceof TensorNotServedError) return { honest: false, reason: error.message }
    // A received tensor of the wrong size or a non-finite value: the trace is not a re-execution.
    if (isComputeError(error)) return { honest: false, reason: `the task cannot be re-executed: ${error.message}` }
    throw error
  }
  const recomputed = encodeGradient(trainer.pseudoGradient(), task, taskTokens(protocol))
  all.push(recomputed)
  const steps = keepSteps ? all : undefined
  const claimed = await fetch(claim.cid)
  if (claimed === undefined) return { honest: false, reason: 'the gradient is not served', steps }
  if (!bytesEqual(recomputed, claimed))
    return { honest: false, reason: 'the pseudo-gradient differs from re-execution', steps }
  if (stepRoot(all.map(stepLeaf)) !== trace.stepRoot)
    return { honest: false, reason: 'the step trace differs from re-execution', steps }
  return { honest: true, reason: 'the pseudo-gradient re-executes bit for bit', steps }
}

/** A submission made ready to re-execute: its task, its trace, the stage trainer's start, a fetch that names its holders. */
export interface PreparedSubmission {
  readonly task: Task
  readonly trace: StageTrace
  readonly init: StageTrainerInit
  /** Bytes by CID from the owner and the replicas of its task (undefined: arrived corrupt; throws when not in time). */
  readonly fetch: PartyFetch
}

/**
 * What every re-execution of a submission starts from: the task and window on chain, the
 * claim's trace (fetched and decoded), the stage's weights and the adapter state it trained
 * from. A claim that cannot name these is answered at once (`verdict`).
 */
export async function prepareSubmission(
  components: ReexecuteComponents,
  claim: Claim,
  kernels: Kernels,
  signal?: AbortSignal,
  fetchDeadlineMs?: number,
): Promise<PreparedSubmission | { readonly verdict: Recheck }> {
  if (claim.taskId === null) return { verdict: { honest: true, reason: 'a submission names no task' } }
  const { chain, content, model, training } = components
  const task = chain.tasks(claim.window).find((t: Task) => t.id === claim.taskId)
  const window = chain.window(claim.window)
  if (task === undefined || window === null) return { verdict: { honest: true, reason: 'task no longer on chain' } }
  // Content that cannot be had in time is not proof of a fault (the network may be slow or
  // cut, or the owner withholds): the check throws ContentUnavailableError. Content that
  // arrives wrong is a fault.
  const holders = holdersOf(chain, claim)
  const fetch = (cid: string): Promise<Uint8Array | undefined> =>
    fetchOrFault(content, cid, holders, signal, fetchDeadlineMs)
  let traceCid: string
  try {
    traceCid = traceCidOf(claim.metadata)
  } catch (error) {
    return { verdict: { honest: false, reason: `bad trace: ${(error as Error).message}` } }
  }
  // Outside the try: a fetch that runs out of time throws, and must not read as a bad trace.
  const traceBytes = await fetch(traceCid)
  if (traceBytes === undefined) return { verdict: { honest: false, reason: 'the trace is not served' } }
  let trace: StageTrace
  try {
    trace = decodeTrace(traceBytes)
  } catch (error) {
    return { verdict: { honest: false, reason: `bad trace: ${(error as Error).message}` } }
  }
  if (trace.task !== task.id) return { verdict: { honest: false, reason: 'the trace is of another task' } }
  const stage = await model.stageWeights(task.subnet)
  // The adapter state the miner trained from, asked first of the node that aggregated it.
  const stateCid = trace.adapterState === 'initial' ? null : trace.adapterState
  const adapterState = await model.adapterState(
    task.subnet,
    stateCid,
    stateCid === null ? undefined : model.aggregatorOf(stateCid),
  )
  const { data } = training
  const protocol = training.protocolAt(task.window)
  const init: StageTrainerInit = {
    kernels,
    stage,
    protocol,
    batchOf: (step) => stepBatch(protocol, data.train, data.shardCount, task, window.seed, step),
    start: adapterState.adapters,
  }
  return { task, trace, init, fetch }
}

/**
 * Bytes by CID, asked of `holders` first. Content that cannot be had in time is not proof of a
 * fault: that throws ContentUnavailableError. Bytes that do not match their CID, or content
 * that is not what it claims to be, are the owner's doing: undefined.
 */
async function fetchOrFault(
  content: ReexecuteComponents['content'],
  cid: string,
  holders: readonly string[],
  signal?: AbortSignal,
  deadlineMs?: number,
): Promise<Uint8Array | undefined> {
  try {
    return await fetchAvailable(content, cid, holders, {
      ...(signal === undefined ? {} : { signal }),
      ...(deadlineMs === undefined ? {} : { deadlineMs }),
    })
  } catch (error) {
    if (error instanceof ContentIntegrityError || error instanceof MalformedMessageError) return undefined
    throw error
  }
}

/**
 * Recompute an aggregate from the submissions it names (those it declared unavailable are
 * disputed on their own) and compare bytes. A named submission whose gradient cannot be had
 * in time makes the check throw, like any content that does not arrive; one that arrives
 * corrupt is its miner's fault, not the aggregator's, and makes no verdict either.
 */
async function reexecuteAggregate(
  components: ReexecuteComponents,
  claim: Claim,
  kernels: Kernels,
  signal?: AbortSignal,
  fetchDeadlineMs?: number,
): Promise<Recheck> {
  const { chain, content, model, training } = components
  const published = await fetchOrFault(content, claim.cid, [claim.owner], signal, fetchDeadlineMs)
  if (published === undefined) return { honest: false, reason: 'the aggregate is not served' }
  const named: Claim[] = []
  for (const id of claim.claims) {
    const submission = chain.claim(id)
    if (submission === null) return { honest: true, reason: `submission ${id} is no longer on chain` }
    named.push(submission)
  }
  const inputs = await fetchInputs({ content, model }, claim.subnet, named, claim.previousCid, signal)
  const next = aggregateState(kernels, training.protocolAt(claim.window).outer, inputs)
  if (!bytesEqual(encodeAdapterState(next), published))
    return { honest: false, reason: 'the aggregate differs from re-execution' }
  return { honest: true, reason: 'the aggregate re-executes bit for bit' }
}
