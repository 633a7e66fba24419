/**
 * What one submission costs the chain, in bytes: its two transactions as encoded in blocks
 * (commit, then reveal) and the state entries it adds (its commitment, its claim, the first
 * sighting of its CID, its credit, and its share of the task record), each as a snapshot
 * holds it. The state entries leave when the window is pruned (`retentionBlocks`); the
 * transactions stay in the block history. The training benchmark reports the total as
 * `chainBytesPerSubmission`.
 */
import { encodedEntryBytes } from './snapshot.ts'
import type { ChainState } from './state.ts'
import { decodeTx } from './tx.ts'
import { submissionId } from './windows.ts'

export interface SubmissionBytes {
  readonly commitTx: number
  readonly revealTx: number
  /** State entries of this submission, and its replica's share of the task record. */
  readonly state: number
  readonly total: number
}

/**
 * The chain bytes of the submission that `revealTx` opened (after the block that holds it,
 * while its window is in the state). Throws when the reveal is not a reveal or its claim is
 * not in the state.
 */
export function submissionChainBytes(state: ChainState, commitTx: Uint8Array, revealTx: Uint8Array): SubmissionBytes {
  const reveal = decodeTx(revealTx, state.params.maxTxBytes)
  if (reveal.body.msg.type !== 'reveal') throw new TypeError(`expected a reveal, got a ${reveal.body.msg.type}`)
  const { taskId, cid } = reveal.body.msg
  const id = submissionId(taskId, reveal.sender)
  const claim = state.claims.get(id)
  if (claim === undefined) throw new TypeError(`no claim ${id} in the state`)
  let bytes = encodedEntryBytes(id, claim)
  const commit = state.commits.get(id)
  if (commit !== undefined) bytes += encodedEntryBytes(id, commit)
  const credit = state.credits.get(id)
  if (credit !== undefined) bytes += encodedEntryBytes(id, credit)
  const first = state.cidFirstSeen.get(cid)
  if (first !== undefined && first.owner === reveal.sender && first.taskId === taskId)
    bytes += encodedEntryBytes(cid, first)
  const task = state.tasks.get(taskId)
  if (task !== undefined) bytes += Math.ceil(encodedEntryBytes(taskId, task) / Math.max(1, task.miners.length))
  return {
    commitTx: commitTx.length,
    revealTx: revealTx.length,
    state: bytes,
    total: commitTx.length + revealTx.length + bytes,
  }
}
