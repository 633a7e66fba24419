/**
 * A stage's step trace: one leaf per inner step of its task (stage-trainer.ts), then the
 * pseudo-gradient bundle it claims, each stored by CID, and an index that lists for each the
 * SHA-256 of its bytes (the leaf) and its CID. An inner step's bytes are what it came to: the
 * adapters and inner AdamW state after it, and the tensors it sent its neighbours. The Merkle
 * root over the leaves goes in the stage trace, so a miner commits to every inner step when it
 * reveals; a challenger publishes its own index, and a dispute bisects the two trees to the
 * first inner step where they part and re-executes that one (reexecute-steps.ts).
 *
 * The index is JSON, versioned, and decoded as hostile input: bounded in bytes and steps, each
 * leaf 32 bytes of lowercase hex, each tensor a CID.
 */
import pLimit from 'p-limit'
import { fromHex, toHex } from '../../codec/bytes.ts'
import { isCid } from '../../codec/cid.ts'
import { sha256Hex } from '../../codec/hash.ts'
import { MerkleTree } from '../../codec/merkle.ts'
import { decodeParams, encodeParams } from '../../ml/artifacts.ts'
import type { Params } from '../../ml/weights.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { MAX_STEP_TRACE_BYTES, MAX_TRACE_STEPS } from '../../runtime/limits.ts'
import type { InnerState, InnerStepRecord } from './stage-trainer.ts'

export const STEP_TRACE_KIND = 'r3mes-step-trace'

export interface StepTraceIndex {
  readonly v: 2
  readonly kind: typeof STEP_TRACE_KIND
  readonly task: string
  /** SHA-256 (hex) of each inner step's bytes, in step order; the last is the pseudo-gradient bundle's. */
  readonly leaves: readonly string[]
  /** The CID of each inner step's bytes, in step order. */
  readonly tensors: readonly string[]
}

/** The leaf of a step: the SHA-256 of its output bytes. */
export function stepLeaf(bytes: Uint8Array): string {
  return sha256Hex(bytes)
}

/** The Merkle tree over a trace's leaves (the leaves' bytes are its items). */
export function stepTree(leaves: readonly string[]): MerkleTree {
  return new MerkleTree(leaves.map((leaf) => fromHex(leaf, 32) as Uint8Array))
}

export function stepRoot(leaves: readonly string[]): string {
  return toHex(stepTree(leaves).root)
}

export const INNER_STEP_KIND = 'r3mes-inner-step'

/**
 * The bytes of an inner step's leaf: the adapters (`p:`) and inner AdamW moments (`m:`, `v:`)
 * after it, the activations sent by micro-batch (`out:j`) and the input gradients sent
 * (`din:j`), with the inner step and the optimizer's step count.
 */
export function innerStepBytes(record: Pick<InnerStepRecord, 'step' | 'state' | 'outputs' | 'dInputs'>): Uint8Array {
  const all: Params = new Map()
  for (const [name, p] of record.state.adapters) all.set(`p:${name}`, p)
  for (const [name, m] of record.state.optimizer.m) all.set(`m:${name}`, m)
  for (const [name, v] of record.state.optimizer.v) all.set(`v:${name}`, v)
  for (const [j, t] of record.outputs.entries()) all.set(`out:${j}`, t)
  for (const [j, t] of record.dInputs.entries()) all.set(`din:${j}`, t)
  return encodeParams(INNER_STEP_KIND, all, { step: record.step, optimizerStep: record.state.optimizer.step })
}

/** The inner state after an inner step, from its leaf's bytes (throws on anything malformed). */
export function innerStateOf(bytes: Uint8Array): { step: number; state: InnerState } {
  const { params, meta } = decodeParams(INNER_STEP_KIND, bytes)
  const pick = (prefix: string): Params => {
    const out: Params = new Map()
    for (const [name, t] of params) if (name.startsWith(prefix)) out.set(name.slice(prefix.length), t)
    return out
  }
  const { step, optimizerStep } = meta
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0)
    throw new InvalidArgumentError('inner step names no step')
  if (typeof optimizerStep !== 'number' || !Number.isSafeInteger(optimizerStep) || optimizerStep < 0)
    throw new InvalidArgumentError('inner step names no optimizer step')
  const adapters = pick('p:')
  const m = pick('m:')
  const v = pick('v:')
  for (const name of adapters.keys())
    if (!m.has(name) || !v.has(name)) throw new InvalidArgumentError(`inner step lacks the moments of '${name}'`)
  return { step, state: { adapters, optimizer: { step: optimizerStep, m, v } } }
}

/** What storing a step trace names: the index's CID and the root of its leaves. */
export interface StoredStepTrace {
  readonly index: string
  readonly root: string
  readonly tensors: readonly string[]
}

/** Store each step's bytes and the index over them. */
/**
 * Pieces stored at once. Each store is a chain of small file writes (the blocks, then the pin
 * records) with an event-loop turn between each; one after another on a loaded testnet node
 * a task's 40 pieces took 8 seconds, most of it waiting, and the task missed its window.
 */
export const STORE_CONCURRENCY = 8

/** Store every piece, `STORE_CONCURRENCY` at a time; the CIDs in the pieces' order. */
export function storeEach(
  store: (bytes: Uint8Array) => Promise<string>,
  pieces: readonly Uint8Array[],
): Promise<string[]> {
  const limit = pLimit(STORE_CONCURRENCY)
  return Promise.all(pieces.map((bytes) => limit(() => store(bytes))))
}

export async function storeStepTrace(
  store: (bytes: Uint8Array) => Promise<string>,
  task: string,
  steps: readonly Uint8Array[],
  /** How the leaves are stored, when not as the index is (a miner's are asked of it by name). @default store */
  storeLeaf: (bytes: Uint8Array) => Promise<string> = store,
): Promise<StoredStepTrace> {
  const tensors = await storeEach(storeLeaf, steps)
  const leaves = steps.map(stepLeaf)
  const index = await store(encodeStepTrace({ v: 2, kind: STEP_TRACE_KIND, task, leaves, tensors }))
  return { index, root: stepRoot(leaves), tensors }
}

export function encodeStepTrace(t: StepTraceIndex): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(t))
}

const HEX_LEAF = /^[0-9a-f]{64}$/

export function decodeStepTrace(bytes: Uint8Array): StepTraceIndex {
  if (bytes.length > MAX_STEP_TRACE_BYTES)
    throw new InvalidArgumentError(`step trace of ${bytes.length} bytes is over ${MAX_STEP_TRACE_BYTES}`)
  let t: unknown
  try {
    t = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new InvalidArgumentError('step trace is not JSON')
  }
  if (typeof t !== 'object' || t === null || Array.isArray(t))
    throw new InvalidArgumentError('step trace is not an object')
  const o = t as Record<string, unknown>
  const keys = Object.keys(o).sort().join()
  if (keys !== 'kind,leaves,task,tensors,v') throw new InvalidArgumentError(`step trace has the fields ${keys}`)
  if (o.v !== 2) throw new InvalidArgumentError(`step trace version ${String(o.v)} is not 2`)
  if (o.kind !== STEP_TRACE_KIND) throw new InvalidArgumentError('step trace is of another kind')
  if (typeof o.task !== 'string' || o.task.length === 0 || o.task.length > 64)
    throw new InvalidArgumentError('step trace names no task')
  const { leaves, tensors } = o
  if (!Array.isArray(leaves) || leaves.length === 0 || leaves.length > MAX_TRACE_STEPS)
    throw new InvalidArgumentError(`step trace must list 1 to ${MAX_TRACE_STEPS} leaves`)
  if (!Array.isArray(tensors) || tensors.length !== leaves.length)
    throw new InvalidArgumentError('step trace must list one tensor per leaf')
  leaves.forEach((leaf, i) => {
    if (typeof leaf !== 'string' || !HEX_LEAF.test(leaf))
      throw new InvalidArgumentError(`step trace leaf ${i} is not 32 bytes of lowercase hex`)
  })
  tensors.forEach((cid, i) => {
    if (typeof cid !== 'string' || cid.length > 128 || !isCid(cid))
      throw new InvalidArgumentError(`step trace tensor ${i} is not a CID`)
  })
  return { v: 2, kind: STEP_TRACE_KIND, task: o.task, leaves, tensors }
}
