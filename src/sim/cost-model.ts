/**
 * The deterministic cost model that stands in for training in the simulator. A task's
 * "gradient" is a fixed-size byte string drawn from Philox keyed by exactly what determines a
 * real task's result (the window seed, the task id, its data set and shard), so every honest
 * replica of a task produces the same bytes, and its CID is computed by `cidOf`, as a real
 * gradient bundle's is: the chain's L1 comparison, a verifier's re-execution and an arbiter's
 * judgement see what they would see for real. A cheat perturbs one byte, so its CID differs
 * from every honest replica's. Training time is `innerSteps × stepMs` of simulated time; so is
 * re-executing a submission's task (a verifier or an arbiter runs the whole task again), and
 * computing an aggregate, or re-deriving one, costs one step once its gradients are fetched
 * (one optimizer step), and so does a dispute the challenger's step trace bisects to one inner
 * step.
 */

import type { ChainState, Claim, Task } from '../chain/state.ts'
import { windowKey } from '../chain/windows.ts'
import { fromHex } from '../codec/bytes.ts'
import { cidOf } from '../codec/cid.ts'
import { sha256 } from '../codec/hash.ts'
import { deriveKey, PhiloxStream } from '../codec/prng.ts'
import { adapterCidOf } from './misbehaviours.ts'

/** Bytes of a modelled gradient: enough for distinct CIDs, small enough to cost nothing. */
const GRADIENT_BYTES = 64

export interface CostModel {
  /** Simulated ms one optimizer step takes on a miner. */
  readonly stepMs: number
  /** Inner steps per task (the chain's `innerSteps`). */
  readonly innerSteps: number
}

/** The gradient bytes an honest miner produces for `task` of the window opened with `windowSeed` (hex). */
export function honestGradient(task: Task, windowSeed: string): Uint8Array {
  const key = deriveKey(
    fromHex(windowSeed, 32) as Uint8Array,
    `r3mes/sim/gradient/1\0${task.id}\0${task.datasetCid}\0${task.datasetShard}`,
  )
  const stream = new PhiloxStream(key)
  const out = new Uint8Array(GRADIENT_BYTES)
  for (let i = 0; i < GRADIENT_BYTES; i++) out[i] = stream.nextInt(256)
  return out
}

/** A wrong gradient: the honest one with one byte changed (which one, from `salt`). */
export function wrongGradient(task: Task, windowSeed: string, salt: number): Uint8Array {
  const out = honestGradient(task, windowSeed)
  const at = salt % GRADIENT_BYTES
  out[at] = ((out[at] as number) + 1 + (salt % 255)) & 0xff
  return out
}

function gradientCid(bytes: Uint8Array): string {
  return cidOf(bytes).toString()
}

/** What re-executing `task` gives: the CID an honest replica reveals. */
export function expectedCid(task: Task, windowSeed: string): string {
  return gradientCid(honestGradient(task, windowSeed))
}

/** Simulated time one task takes to train. */
export function trainingMs(model: CostModel): number {
  return model.stepMs * model.innerSteps
}

/**
 * Simulated time re-executing `claim` takes: an aggregate's one outer step; a submission
 * disputed with the challenger's step trace, the one inner step the bisection ends on; else its
 * whole task again.
 */
export function reexecutionMs(model: CostModel, claim: Pick<Claim, 'kind'>, disputed: boolean): number {
  return claim.kind === 'aggregate' || disputed ? model.stepMs : trainingMs(model)
}

/**
 * Simulated time an aggregator takes to compute an aggregate once its gradients are in: one
 * outer optimizer step, as re-deriving it does (`reexecutionMs`).
 */
export function aggregationMs(model: CostModel): number {
  return model.stepMs
}

/**
 * Simulated time a challenger's check of `claim` takes: an aggregate's one outer step; a
 * submission's `spotSteps` inner steps drawn from its trace (spot-check.ts), or its whole task
 * when the spot check covers every step or is off (0).
 */
export function claimCheckMs(model: CostModel, claim: Pick<Claim, 'kind'>, spotSteps: number): number {
  if (claim.kind === 'aggregate') return model.stepMs
  return spotSteps <= 0 || spotSteps >= model.innerSteps ? trainingMs(model) : spotSteps * model.stepMs
}

/** The trace a miner stores beside its gradient of `taskId` (the cost model's: a digest naming both). */
export function taskTraceBytes(taskId: string, gradientCid: string): Uint8Array {
  return sha256('r3mes/sim/task-trace/1\0', taskId, '\0', gradientCid)
}

/** The step trace a challenger of `claimId` publishes (the cost model's: a digest naming both). */
export function stepTraceBytes(claimId: string, challenger: string): Uint8Array {
  return sha256('r3mes/sim/step-trace/1\0', claimId, '\0', challenger)
}

/**
 * The CID re-executing `claim` gives: an aggregate's re-derived adapter state, a submission's
 * task trained again (its own CID when the task is gone: nothing to dispute).
 */
export function reexecutedCid(state: ChainState, claim: Claim): string {
  if (claim.kind === 'aggregate') return adapterCidOf(claim.window, claim.subnet, claim.claims)
  if (claim.kind !== 'submission' || claim.taskId === null) return claim.cid
  const task = state.tasks.get(claim.taskId) as Task | undefined
  const w = task === undefined ? undefined : state.windows.get(windowKey(task.window))
  if (task === undefined || w === undefined) return claim.cid
  return expectedCid(task, w.seed)
}
