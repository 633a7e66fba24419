/**
 * Training windows, task assignment, commit–reveal submissions, L1 and aggregation.
 *
 * A window opens at block N (the first at height 1) and closes at N + W, where the next one
 * opens. Its seed is the beacon of the opening block (consensus/beacon.ts: its proposer's VRF
 * output, which it can withhold but not choose). Tasks are (data shard × subnet): for each
 * shard, drawn from the approved data sets, every subnet gets one task, so one shard's tasks
 * across subnets form a pipeline path. The number of shards follows the eligible miners and
 * each task goes to `replication` distinct miners of its subnet, shared evenly among them
 * (task-slots.ts), so every miner works every window. The data draws use Philox keyed by
 * (seed, "r3mes/tasks/1"), so every node computes the same assignment and a miner can compute
 * its own.
 *
 * Submissions are commit (a hash binding CID, miner, task and salt) then reveal, in a later
 * block. A reveal that repeats a CID revealed before earns nothing unless it is an honest
 * replica: same replicated task, committed before that CID was public. (Different data give
 * different gradients, so one CID on two tasks, even from one miner, is a copy.)
 *
 * Aggregation takes only settled work, on top of final state. The aggregate of (window,
 * subnet) becomes due once every submission it could name is settled (past its challenge
 * period, no dispute open) and the subnet's model pointer is final (the aggregate that set it
 * is past its own challenge period, unchallenged): it names exactly the submissions then
 * accepted, so a convicted claim never enters a model, and a slashed aggregate never has
 * another built on it, so restoring the pointer it replaced is always right. The drawn
 * aggregator has `aggregationDeadlineBlocks` from then. A slashed aggregate or a missed
 * deadline draws the next aggregator (never one already tried) from the window's seed, up to
 * `maxAggregationAttempts`; each attempt has its own claim id (`aggregateId`).
 */

import { fromHex } from '../codec/bytes.ts'
import { deriveKey, PhiloxStream } from '../codec/prng.ts'
import { assert } from '../runtime/assert.ts'
import { claimListDigest } from './claim-list.ts'
import type { BlockContext } from './context.ts'
import { reject, TxCode } from './errors.ts'
import { isCid } from './genesis.ts'
import { trainingParamsOf } from './params.ts'
import { sortition, type Weighted } from './sortition.ts'
import type { Aggregation, ChainState, Claim, Task, Window } from './state.ts'
import { assignSlots, shardCount } from './task-slots.ts'
import { commitmentOf, type Msg, type SignedTx } from './tx.ts'
import { declaredUnavailable } from './unavailable-bitmap.ts'

type MsgOf<T extends Msg['type']> = Extract<Msg, { type: T }>

export const windowKey = (id: number): string => String(id).padStart(10, '0')
export const submissionId = (taskId: string, miner: string): string => `${taskId}/${miner}`
/** The aggregate claim of (window, subnet): `agg/<w>/<s>` for the first attempt, `agg/<w>/<s>/<k>` for attempt k. */
export const aggregateId = (window: number, subnet: number, attempt = 0): string =>
  attempt === 0 ? `agg/${window}/${subnet}` : `agg/${window}/${subnet}/${attempt}`
/** Key of an aggregation record: window then subnet, so key order is window order. */
export const aggregationKey = (window: number, subnet: number): string =>
  `${windowKey(window)}/${String(subnet).padStart(6, '0')}`

export function currentWindow(state: ChainState): Window | undefined {
  return state.windows.get(windowKey(state.globals.currentWindow))
}

function subnetIds(state: ChainState): number[] {
  return state.subnets
    .entries()
    .map(([, s]) => s.id)
    .sort((a, b) => a - b)
}

/**
 * The tasks of `window` (of one subnet, or of all), in id order, found by their keys: shards
 * 0, 1, … each have a task on every subnet. Its cost follows the window's tasks, not the
 * windows the state retains.
 */
export function tasksOf(state: ChainState, window: number, subnet?: number): Task[] {
  const subnets = subnet === undefined ? subnetIds(state) : [subnet]
  const out: Task[] = []
  for (let shard = 0; ; shard++) {
    let found = false
    for (const s of subnets) {
      const task = state.tasks.get(`${window}.${shard}.${s}`)
      if (task === undefined) continue
      found = true
      out.push(task)
    }
    if (!found) break
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/** Start of block: close the window that ends here and open the next (the first at height 1). */
export function beginWindows(state: ChainState, ctx: BlockContext): void {
  const cur = currentWindow(state)
  if (cur !== undefined && ctx.height < cur.closeHeight) return
  if (cur !== undefined) closeWindow(state, cur)
  openWindow(state, ctx, cur === undefined ? 0 : cur.id + 1)
}

function openWindow(state: ChainState, ctx: BlockContext, id: number): void {
  const seed = fromHex(ctx.beacon) as Uint8Array
  const aggregator = aggregatorDraw(seed, state.withRole('validator'))
  state.windows.set(windowKey(id), {
    id,
    openHeight: ctx.height,
    closeHeight: ctx.height + state.params.windowBlocks,
    seed: ctx.beacon,
    aggregator: aggregator ?? null,
    closed: false,
    training: trainingParamsOf(state.params),
  })
  state.setMeta({ currentWindow: id })
  assignTasks(state, id, seed)
}

/** The validator a window opened with `seed` draws to aggregate, by stake (undefined when there is none). */
export function aggregatorDraw(seed: Uint8Array, validators: readonly Weighted[]): string | undefined {
  return sortition(new Uint8Array([...seed, ...new TextEncoder().encode('aggregator')]), validators, 1)[0]
}

function assignTasks(state: ChainState, window: number, seed: Uint8Array): void {
  const datasets = state.datasets.entries().map(([, d]) => d)
  if (datasets.length === 0) return
  const subnets = subnetIds(state)
  const pools = new Map<number, string[]>(subnets.map((s) => [s, []]))
  for (const m of eligibleMiners(state)) pools.get(m.subnet)?.push(m.address)
  const shards = shardCount(
    subnets.map((s) => (pools.get(s) as string[]).length),
    state.params,
  )
  const replicas = new Map(
    subnets.map((s) => [s, assignSlots(seed, s, pools.get(s) as string[], shards, state.params.replication)]),
  )
  const stream = new PhiloxStream(deriveKey(seed, 'r3mes/tasks/1'))
  for (let shard = 0; shard < shards; shard++) {
    const ds = datasets[stream.nextInt(datasets.length)] as (typeof datasets)[0]
    const datasetShard = stream.nextInt(ds.shardCount)
    for (const subnet of subnets) {
      const id = `${window}.${shard}.${subnet}`
      const miners = (replicas.get(subnet) as string[][])[shard] as string[]
      state.tasks.set(id, { id, window, shard, datasetCid: ds.cid, datasetShard, subnet, miners })
    }
  }
}

/** Miners that may train: staked at least `minStakeMiner`, not jailed, with a subnet. */
function eligibleMiners(state: ChainState): { address: string; subnet: number }[] {
  const out: { address: string; subnet: number }[] = []
  for (const m of state.withRole('miner')) {
    const subnet = state.stakers.get(m.address)?.subnet ?? null
    if (subnet !== null && m.weight >= state.params.minStakeMiner) out.push({ address: m.address, subnet })
  }
  return out
}

function closeWindow(state: ChainState, w: Window): void {
  for (const task of tasksOf(state, w.id)) runL1(state, task, true)
  state.windows.set(windowKey(w.id), { ...w, closed: true })
  for (const subnet of subnetIds(state))
    state.aggregations.set(aggregationKey(w.id, subnet), {
      window: w.id,
      subnet,
      stage: 'waiting',
      attempt: 0,
      aggregator: w.aggregator,
      tried: [],
      dueHeight: null,
      deadline: null,
      claimId: null,
      finishedHeight: null,
    })
}

function openTask(state: ChainState, ctx: BlockContext, taskId: string, sender: string): Task {
  const task = state.tasks.get(taskId)
  if (task === undefined) reject(TxCode.notAssigned, `no task ${taskId}`)
  const w = state.windows.get(windowKey(task.window)) as Window
  if (w.closed || ctx.height >= w.closeHeight)
    reject(TxCode.wrongWindow, `task ${taskId} belongs to window ${task.window}, which closed at ${w.closeHeight}`)
  if (!task.miners.includes(sender)) reject(TxCode.notAssigned, `task ${taskId} is not assigned to ${sender}`)
  return task
}

export function commit(state: ChainState, ctx: BlockContext, tx: SignedTx, msg: MsgOf<'commit'>): void {
  openTask(state, ctx, msg.taskId, tx.sender)
  const key = submissionId(msg.taskId, tx.sender)
  if (state.commits.has(key)) reject(TxCode.duplicate, `already committed to task ${msg.taskId}`)
  state.commits.set(key, { commitment: msg.commitment, height: ctx.height })
}

export function reveal(state: ChainState, ctx: BlockContext, tx: SignedTx, msg: MsgOf<'reveal'>): void {
  const p = state.params
  const metaBytes = Buffer.byteLength(msg.metadata, 'utf8')
  if (metaBytes > p.maxMetadataBytes)
    reject(TxCode.metadataTooLarge, `metadata is ${metaBytes} bytes, the limit is ${p.maxMetadataBytes}`)
  // The reveal as it stays in the block history: what a submission costs the chain for good.
  if (tx.bytes.length > p.maxSubmissionBytes)
    reject(TxCode.metadataTooLarge, `reveal is ${tx.bytes.length} bytes, the limit is ${p.maxSubmissionBytes}`)
  if (!isCid(msg.cid)) reject(TxCode.invalidField, "'msg.cid' is not a CID", { field: 'msg.cid' })
  const task = openTask(state, ctx, msg.taskId, tx.sender)
  const id = submissionId(msg.taskId, tx.sender)
  if (state.claims.has(id)) reject(TxCode.duplicate, `already revealed for task ${msg.taskId}`)
  const c = state.commits.get(id)
  if (c === undefined) reject(TxCode.noCommit, `no commitment for task ${msg.taskId}`)
  if (c.height >= ctx.height) reject(TxCode.noCommit, 'reveal must come in a block after its commitment')
  if (commitmentOf(msg.cid, tx.sender, msg.taskId, msg.salt) !== c.commitment)
    reject(TxCode.commitMismatch, 'the reveal does not open this miner’s commitment')

  const replicated = task.miners.length >= 2
  const first = state.cidFirstSeen.get(msg.cid)
  let copied = false
  if (first === undefined) state.cidFirstSeen.set(msg.cid, { owner: tx.sender, taskId: msg.taskId, height: ctx.height })
  else {
    // Seen before: only an honest replica of the same replicated task, committed before the CID
    // went public, may repeat it. Another task's CID (even the miner's own) is a copy.
    copied = !(replicated && first.taskId === msg.taskId && c.height < first.height)
  }
  const w = state.windows.get(windowKey(task.window)) as Window
  state.claims.set(id, {
    id,
    kind: 'submission',
    owner: tx.sender,
    window: task.window,
    subnet: task.subnet,
    taskId: task.id,
    cid: msg.cid,
    height: ctx.height,
    status: copied ? 'flagged' : replicated ? 'revealed' : 'accepted',
    flag: copied ? 'copied' : null,
    challengeUntil: w.closeHeight + p.challengePeriodBlocks,
    metadata: msg.metadata,
    previousCid: null,
    claims: [],
  })
  if (!copied && !replicated) creditClaim(state, id)
  if (replicated && task.miners.every((m) => state.claims.has(submissionId(task.id, m)))) runL1(state, task, false)
}

/** A claim accepted: its owner's reward vests when the claim can no longer be challenged. */
export function creditClaim(state: ChainState, claimId: string): void {
  const claim = state.claims.get(claimId) as Claim
  if (claim.kind !== 'submission' || state.credits.has(claimId)) return
  state.credits.set(claimId, {
    address: claim.owner,
    amount: state.params.baseReward,
    payableHeight: claim.challengeUntil,
  })
}

/**
 * L1: compare the CIDs of a replicated task. The CID a strict majority of the revealed
 * replicas agree on is accepted; the rest are flagged; with no majority (1–1) all are flagged.
 * At window close a lone reveal is accepted optimistically (nothing to compare it with).
 */
function runL1(state: ChainState, task: Task, closing: boolean): void {
  const pending = task.miners
    .map((m) => state.claims.get(submissionId(task.id, m)))
    .filter((c): c is Claim => c !== undefined && c.status === 'revealed')
  if (pending.length === 0) return
  assert(
    closing || task.miners.every((m) => state.claims.has(submissionId(task.id, m))),
    'L1 before every replica revealed',
  )
  const counts = new Map<string, number>()
  for (const c of pending) counts.set(c.cid, (counts.get(c.cid) ?? 0) + 1)
  let best = ''
  let bestCount = 0
  for (const [cid, n] of [...counts].sort()) if (n > bestCount) [best, bestCount] = [cid, n]
  for (const c of pending) {
    const accepted = 2 * bestCount > pending.length && c.cid === best
    state.claims.set(c.id, { ...c, status: accepted ? 'accepted' : 'flagged', flag: accepted ? null : 'mismatch' })
    if (accepted) creditClaim(state, c.id)
  }
}

/** No challenge can reach the claim after block `height` and no dispute holds it: its status is final. */
export function isSettled(claim: Claim, height: number): boolean {
  return claim.status !== 'revealed' && claim.status !== 'challenged' && claim.challengeUntil <= height
}

export type AggregationReadiness =
  | { readonly ready: true; readonly accepted: readonly string[] }
  | { readonly ready: false; readonly reason: string }

/**
 * Whether the aggregation over `submissions` (one window's submissions to one subnet) may be
 * due after block `height`: every one settled and the subnet's pointer final (`pending` is the
 * aggregate still in its challenge period that set it, if any). Ready with the ids it must
 * name (the accepted ones, in the chain's order; none: nothing to aggregate), or why not.
 */
export function aggregationReadiness(
  submissions: readonly Claim[],
  pending: Claim | null,
  height: number,
): AggregationReadiness {
  const open = submissions.find((c) => !isSettled(c, height))
  if (open !== undefined)
    return {
      ready: false,
      reason:
        open.status === 'challenged'
          ? `submission ${open.id} is disputed`
          : `submission ${open.id} may be challenged until height ${open.challengeUntil}`,
    }
  const accepted = submissions.filter((c) => c.status === 'accepted').map((c) => c.id)
  if (accepted.length > 0 && pending !== null)
    return {
      ready: false,
      reason: `the pointer of subnet ${pending.subnet} is not final: aggregate ${pending.id} is ${pending.status === 'challenged' ? 'disputed' : `challengeable until height ${pending.challengeUntil}`}`,
    }
  return { ready: true, accepted }
}

function submissionsOf(state: ChainState, window: number, subnet: number): Claim[] {
  const out: Claim[] = []
  for (const task of tasksOf(state, window, subnet))
    for (const miner of task.miners) {
      const c = state.claims.get(submissionId(task.id, miner))
      if (c !== undefined) out.push(c)
    }
  // The chain's order is the claim ids' order, as the claims table lists them.
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/** The aggregate of `subnet` still in its challenge period (at most one: the next waits for it), or null. */
export function pendingAggregate(state: ChainState, subnet: number): Claim | null {
  for (const [, a] of state.aggregations.entries())
    if (a.subnet === subnet && a.stage === 'submitted') return state.claims.get(a.claimId as string) ?? null
  return null
}

/**
 * The adapter state of `subnet` that no dispute can undo any more: the pointer when the
 * aggregate that set it is final, else the state that aggregate replaced. What serving nodes
 * and miners load; challengers check the tentative pointer.
 */
export function finalAdapterPointer(state: ChainState, subnet: number): string | null {
  const pending = pendingAggregate(state, subnet)
  return pending === null ? (state.adapters.get(String(subnet)) ?? null) : pending.previousCid
}

/** The next attempt's aggregator for (window, subnet): drawn by stake from the window's seed, none tried before. */
function drawAggregator(state: ChainState, a: Aggregation, attempt: number, tried: readonly string[]): string | null {
  const w = state.windows.get(windowKey(a.window)) as Window
  const seed = fromHex(w.seed) as Uint8Array
  const label = new TextEncoder().encode(`aggregator/${a.subnet}/${attempt}`)
  const candidates = state.withRole('validator').filter((v) => !tried.includes(v.address))
  return sortition(new Uint8Array([...seed, ...label]), candidates, 1)[0] ?? null
}

/** The attempt after a slashed aggregate or a missed deadline, or spent when none is left. */
function nextAggregationAttempt(state: ChainState, a: Aggregation, height: number): Aggregation {
  const tried = a.aggregator === null ? a.tried : [...a.tried, a.aggregator]
  const attempt = a.attempt + 1
  const aggregator = attempt < state.params.maxAggregationAttempts ? drawAggregator(state, a, attempt, tried) : null
  if (aggregator === null) return { ...a, stage: 'spent', tried, finishedHeight: height }
  return { ...a, stage: 'waiting', attempt, aggregator, tried, dueHeight: null, deadline: null, claimId: null }
}

/**
 * End of block: move every aggregation. An attempt in flight ends (its aggregate final: done;
 * slashed or its deadline missed: the next attempt); then, per subnet with none in flight, the
 * oldest waiting aggregation whose submissions have settled becomes due (or done, when it has
 * nothing accepted to aggregate). One in flight per subnet: each builds on a final pointer.
 */
export function runAggregations(state: ChainState, ctx: BlockContext): void {
  const busy = new Set<number>()
  for (const [key, a] of state.aggregations.entries()) {
    if (a.stage === 'submitted') {
      const claim = state.claims.get(a.claimId as string) as Claim
      if (claim.status === 'slashed') state.aggregations.set(key, nextAggregationAttempt(state, a, ctx.height))
      else if (claim.status === 'accepted' && claim.challengeUntil <= ctx.height)
        state.aggregations.set(key, { ...a, stage: 'done', finishedHeight: ctx.height })
      else busy.add(a.subnet)
    } else if (a.stage === 'due') {
      if (ctx.height >= (a.deadline as number))
        state.aggregations.set(key, nextAggregationAttempt(state, a, ctx.height))
      else busy.add(a.subnet)
    }
  }
  for (const [key, a] of state.aggregations.entries()) {
    if (a.stage !== 'waiting') continue
    const readiness = aggregationReadiness(submissionsOf(state, a.window, a.subnet), null, ctx.height)
    if (!readiness.ready) continue
    // Nothing accepted: nothing to build, so no pointer to wait for.
    if (readiness.accepted.length === 0) {
      state.aggregations.set(key, { ...a, stage: 'done', finishedHeight: ctx.height })
      continue
    }
    if (busy.has(a.subnet)) continue
    busy.add(a.subnet)
    state.aggregations.set(key, {
      ...a,
      stage: 'due',
      dueHeight: ctx.height + 1,
      deadline: ctx.height + state.params.aggregationDeadlineBlocks,
    })
  }
}

/** Apply an aggregate; answers the accepted submissions it declared unavailable, in the chain's order. */
export function aggregate(
  state: ChainState,
  ctx: BlockContext,
  tx: SignedTx,
  msg: MsgOf<'aggregate'>,
): readonly string[] {
  const w = state.windows.get(windowKey(msg.window))
  if (w === undefined && msg.window < state.globals.prunedWindows)
    reject(TxCode.wrongWindow, `window ${msg.window} was pruned after its aggregation finished`)
  if (w === undefined || !w.closed) reject(TxCode.wrongWindow, `window ${msg.window} has not closed`)
  if (!state.subnets.has(String(msg.subnet)))
    reject(TxCode.invalidField, `no subnet ${msg.subnet}`, { field: 'msg.subnet' })
  if (!isCid(msg.adapterCid)) reject(TxCode.invalidField, "'msg.adapterCid' is not a CID", { field: 'msg.adapterCid' })
  const key = aggregationKey(msg.window, msg.subnet)
  const a = state.aggregations.get(key)
  if (a === undefined) reject(TxCode.wrongWindow, `window ${msg.window} has no aggregation for subnet ${msg.subnet}`)
  const what = `window ${msg.window} subnet ${msg.subnet}`
  switch (a.stage) {
    case 'waiting': {
      const readiness = aggregationReadiness(
        submissionsOf(state, msg.window, msg.subnet),
        pendingAggregate(state, msg.subnet),
        ctx.height - 1,
      )
      const reason = readiness.ready ? 'another aggregation of the subnet goes first' : readiness.reason
      reject(TxCode.notDue, `${what} cannot be aggregated yet: ${reason}`)
      break
    }
    case 'submitted':
    case 'done':
      reject(TxCode.duplicate, `${what} is already aggregated (${a.claimId ?? 'nothing accepted to aggregate'})`)
      break
    case 'spent':
      reject(TxCode.wrongWindow, `${what}: all ${a.attempt + 1} aggregation attempts failed`)
      break
    case 'due':
      break
  }
  if (ctx.height > (a.deadline as number))
    reject(TxCode.wrongWindow, `the aggregation deadline of ${what} (attempt ${a.attempt}) was height ${a.deadline}`)
  if (tx.sender !== a.aggregator)
    reject(TxCode.notAggregator, `${a.aggregator} aggregates ${what} (attempt ${a.attempt})`)
  const accepted = submissionsOf(state, msg.window, msg.subnet)
    .filter((c) => c.status === 'accepted')
    .map((c) => c.id)
  // Every accepted submission is either aggregated or declared unavailable (and disputed), in
  // the chain's order: an aggregator cannot drop work silently, nor name work twice. The
  // bitmap marks the unavailable ones among the accepted; the rest are what the digest must
  // cover, in that order.
  const unavailable = declaredUnavailable(msg.unavailable, accepted, what)
  const declared = new Set(unavailable)
  const taken = accepted.filter((id) => !declared.has(id))
  const expectedDigest = claimListDigest(taken)
  if (msg.claimsDigest !== expectedDigest)
    reject(
      TxCode.badAggregate,
      `the aggregate's claim list digest ${msg.claimsDigest} is not ${expectedDigest}, the digest of the ${taken.length} accepted submissions not declared unavailable`,
      { claimsDigest: msg.claimsDigest, expectedDigest, claims: taken.length },
    )
  const id = aggregateId(msg.window, msg.subnet, a.attempt)
  const previousCid = state.adapters.get(String(msg.subnet)) ?? null
  state.adapters.set(String(msg.subnet), msg.adapterCid)
  state.claims.set(id, {
    id,
    kind: 'aggregate',
    owner: tx.sender,
    window: msg.window,
    subnet: msg.subnet,
    taskId: null,
    cid: msg.adapterCid,
    height: ctx.height,
    status: 'accepted',
    flag: null,
    challengeUntil: ctx.height + state.params.aggregateChallengeBlocks,
    metadata: '',
    previousCid,
    claims: taken,
  })
  state.aggregations.set(key, { ...a, stage: 'submitted', claimId: id })
  return unavailable
}

/**
 * Whether a submission's (window, subnet) still waits for its aggregate: the aggregator may yet
 * find its content unavailable, so its reward must not vest before (aggregation comes only
 * after the challenge period, when the reward would otherwise vest).
 */
function awaitingAggregate(state: ChainState, claim: Claim): boolean {
  if (claim.kind !== 'submission') return false
  const a = state.aggregations.get(aggregationKey(claim.window, claim.subnet))
  return a !== undefined && (a.stage === 'waiting' || a.stage === 'due')
}

/** End of block: pay vested credits of claims still accepted; drop those revoked. */
export function payCredits(state: ChainState, ctx: BlockContext): void {
  for (const [id, credit] of state.credits.entries()) {
    if (credit.payableHeight > ctx.height) continue
    const claim = state.claims.get(id) as Claim
    // A challenge that ended undecided gave the claim its held blocks back: paid after those.
    if (claim.status === 'challenged' || claim.challengeUntil > ctx.height || awaitingAggregate(state, claim)) continue
    state.credits.delete(id)
    if (claim.status === 'accepted') state.mint(credit.address, credit.amount)
  }
}
