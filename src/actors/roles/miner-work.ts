/**
 * A miner's work for one window: for each task assigned to it, run its stage of the task's
 * pipeline path with its neighbours over activation streams, store what a verifier needs
 * (gradient, boundary tensors, trace) in the content store, then commit and reveal.
 *
 * Neighbours: with r replicas per task, the miner at replica i works with replica i mod n of
 * each neighbouring subnet's task. It sends its output to that downstream miner and to every
 * downstream replica whose own upstream it is, and likewise its input gradient upstream, so
 * uneven replica counts still close every path.
 */
import { createHash } from 'node:crypto'
import type { Task } from '../../chain/state.ts'
import { commitmentOf } from '../../chain/tx.ts'
import { sleep } from '../../runtime/clock.ts'
import type { NodeServices } from '../node-services.ts'
import {
  encodeGradient,
  encodeTrace,
  f32Bytes,
  f32From,
  type StageTrace,
  taskBatch,
  taskTokens,
  traceMetadata,
} from '../training/protocol.ts'
import { backward, forward, isFirstStage, isLastStage, type StageContext } from '../training/stage-work.ts'

export interface TaskOutcome {
  readonly taskId: string
  readonly cid: string | null
  readonly code: string
}

/** The tasks of one window's shard across every subnet, in subnet order (the path). */
export function pathOf(tasks: readonly Task[], shard: number): Task[] {
  return tasks.filter((t) => t.shard === shard).sort((a, b) => a.subnet - b.subnet)
}

/** Miners of `neighbour` this replica exchanges with: its partner and those whose partner it is. */
export function partners(neighbour: Task | undefined, mine: Task, replica: number): string[] {
  if (neighbour === undefined) return []
  const out = new Set<string>([neighbour.miners[replica % neighbour.miners.length] as string])
  neighbour.miners.forEach((m, j) => {
    if (j % mine.miners.length === replica) out.add(m)
  })
  return [...out]
}

/** Salt of a commitment: secret (from the node key) and fixed per task, so a retry reveals the same. */
function saltFor(s: NodeServices, taskId: string): string {
  return createHash('sha256').update(s.key.secretKey).update(`r3mes/salt/1\0${taskId}`).digest('hex').slice(0, 32)
}

/**
 * Run this miner's stage of `task`. `deadlineMs` bounds every wait on a neighbour: a path
 * whose neighbour is gone gives up when its window would have closed.
 */
export async function runTask(
  s: NodeServices,
  task: Task,
  windowSeed: string,
  deadlineMs: number,
  signal: AbortSignal,
): Promise<TaskOutcome> {
  const path = pathOf(s.tasksOf(task.window), task.shard)
  const at = path.findIndex((t) => t.id === task.id)
  const replica = task.miners.indexOf(s.address)
  const up = path[at - 1]
  const down = path[at + 1]
  const upstream = up === undefined ? null : (up.miners[replica % up.miners.length] as string)
  const downstream = down === undefined ? null : (down.miners[replica % down.miners.length] as string)
  const trace0 = (what: string): void => s.c.logger.debug({ task: task.id, height: s.chain.height, what }, 'task step')
  trace0('start')
  const stage = await s.stageWeights(task.subnet)
  const pointer = s.adapterPointer(task.subnet)
  const adapterState = await s.adapterState(task.subnet, pointer)
  const ctx: StageContext = {
    kernels: s.kernels,
    stage,
    adapters: adapterState.adapters,
    protocol: s.protocol,
    batch: taskBatch(s.protocol, s.data.train, s.data.shardCount, task, windowSeed),
  }
  const started = s.c.clock.monotonicMs()
  const send = async (to: string[], direction: 'forward' | 'backward', bytes: Uint8Array): Promise<void> => {
    await Promise.all(
      to.map((address) => sendWithRetry(s, address, direction, task, bytes, started + deadlineMs, signal)),
    )
  }

  let input: Float32Array | null = null
  if (!isFirstStage(ctx)) {
    const bytes = await s.inbox.take(task.window, task.shard, 'forward', upstream as string, deadlineMs, signal)
    input = f32From(bytes)
  }
  trace0('input')
  const fw = forward(ctx, input)
  trace0('forward')
  const outputBytes = isLastStage(ctx) ? null : f32Bytes(fw.output)
  if (outputBytes !== null) await send(partners(down, task, replica), 'forward', outputBytes)
  let dOutput: Float32Array | null = null
  if (!isLastStage(ctx)) {
    const bytes = await s.inbox.take(task.window, task.shard, 'backward', downstream as string, deadlineMs, signal)
    dOutput = f32From(bytes)
  }
  trace0('dOutput')
  const bw = backward(ctx, fw, dOutput)
  trace0('backward')
  const dInputBytes = bw.dInput === null ? null : f32Bytes(bw.dInput)
  if (dInputBytes !== null) await send(partners(up, task, replica), 'backward', dInputBytes)
  s.metrics.tasksRun++

  if (s.misbehaviour.has('wrongGradient')) {
    // Planted fault: one value off by a little, as a bug or a shortcut would leave it.
    const first = [...bw.grads.keys()].sort()[0] as string
    const g = bw.grads.get(first) as Float32Array
    g[0] = Math.fround((g[0] as number) + 0.01)
  }
  const gradientCid = await s.store(encodeGradient(bw.grads, task, taskTokens(s.protocol)))
  const trace: StageTrace = {
    v: 1,
    task: task.id,
    adapterState: pointer ?? 'initial',
    input: input === null ? null : await s.store(f32Bytes(input)),
    output: outputBytes === null ? null : await s.store(outputBytes),
    dOutput: dOutput === null ? null : await s.store(f32Bytes(dOutput)),
    dInput: dInputBytes === null ? null : await s.store(dInputBytes),
  }
  const traceCid = await s.store(encodeTrace(trace))
  trace0('stored')
  return submit(s, task, gradientCid, traceCid)
}

/** Send a tensor, trying again (a neighbour may not be reachable yet) until `untilMs`. */
async function sendWithRetry(
  s: NodeServices,
  address: string,
  direction: 'forward' | 'backward',
  task: Task,
  bytes: Uint8Array,
  untilMs: number,
  signal: AbortSignal,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const left = untilMs - s.c.clock.monotonicMs()
    try {
      await s.net.activations.send(
        s.peerOf(address),
        { direction, window: task.window, step: task.shard, bytes },
        { signal, deadlineMs: Math.max(1000, left) },
      )
      return
    } catch (error) {
      s.c.logger.debug({ err: error, to: address, direction, attempt }, 'tensor send attempt failed')
      if (signal.aborted || left < 1000) {
        s.c.logger.warn({ err: error, to: address, direction, attempt }, 'tensor send failed')
        return
      }
      await sleep(s.c.clock, Math.min(2000, 250 * 2 ** attempt), signal)
    }
  }
}

/** Commit, then reveal in a later block (the sender sends one transaction at a time). */
export async function submit(s: NodeServices, task: Task, cid: string, traceCid: string): Promise<TaskOutcome> {
  const salt = saltFor(s, task.id)
  const committed = await s.tx.send({
    type: 'commit',
    taskId: task.id,
    commitment: commitmentOf(cid, s.address, task.id, salt),
  })
  if (committed.code !== 'OK') return { taskId: task.id, cid, code: committed.code }
  await replicasCommitted(s, task)
  const revealed = await s.tx.send({ type: 'reveal', taskId: task.id, cid, salt, metadata: traceMetadata(traceCid) })
  if (revealed.code === 'OK') s.metrics.submissions++
  return { taskId: task.id, cid, code: revealed.code }
}

/**
 * Wait until every replica of `task` has committed before revealing. The chain treats a CID
 * revealed before a replica committed to it as public, so an honest replica that commits after
 * that is flagged as a copy and goes unpaid. Replicas run the same path in step, but each node
 * sends one transaction per block and a miner with several tasks commits them a block apart,
 * so on a busy machine one replica's commit can trail the other's by several blocks late in
 * the window. So the reveal waits for a replica that is at work (it has committed another of
 * its tasks in this window) until only the blocks this node's reveals need are left; a replica
 * that has committed nothing here a quarter of a window on is gone (or cheating) and holds the
 * reveal no longer. Revealing late costs nothing: aggregation and the challenge period both
 * run from the close.
 */
async function replicasCommitted(s: NodeServices, task: Task): Promise<void> {
  if (task.miners.length < 2) return
  const window = s.window(task.window)
  if (window === null) return
  const p = s.chain.chain.state.params
  // One block for each reveal this node may still have to send, before the close.
  const last = window.closeHeight - 1 - Math.max(1, s.tasksOf(task.window, s.address).length)
  const patience = s.chain.height + Math.ceil(p.windowBlocks / 4)
  while (s.chain.height < last) {
    const committed = s.chain.query<string[]>(`commits/${task.id}`)
    if (committed.length >= task.miners.length) return
    const absent = task.miners.filter((m) => !committed.includes(m))
    if (s.chain.height >= patience && absent.some((m) => !committedInWindow(s, task.window, m))) return
    await sleep(s.c.clock, s.chain.blockIntervalMs / 2)
  }
}

/** Whether `miner` has committed any of its tasks of `window`. */
function committedInWindow(s: NodeServices, window: number, miner: string): boolean {
  return s.tasksOf(window, miner).some((t) => s.chain.query<string[]>(`commits/${t.id}`).includes(miner))
}

/**
 * The copied-CID misbehaviour: do no work, wait (until the window closes) for another miner's
 * reveal in the same window, and submit that CID as this miner's own. Its own replicas wait
 * for its commit before they reveal, so the first CID it sees is usually another task's.
 */
export async function copyTask(s: NodeServices, task: Task, signal: AbortSignal): Promise<TaskOutcome> {
  const closeHeight = s.window(task.window)?.closeHeight ?? 0
  while (!signal.aborted && s.chain.height < closeHeight) {
    const claims = s.chain.query<{ owner: string; cid: string; metadata: string; kind: string }[]>(
      `claims/${task.window}`,
    )
    const other = claims.find((c) => c.kind === 'submission' && c.owner !== s.address)
    if (other !== undefined) {
      const traceCid = JSON.parse(other.metadata).trace as string
      return submit(s, task, other.cid, traceCid)
    }
    await sleep(s.c.clock, 250, signal)
  }
  return { taskId: task.id, cid: null, code: 'NOTHING_TO_COPY' }
}
