/**
 * The miner role: when a window opens, start this miner's tasks (see miner-work.ts) once.
 * Windows run side by side: a path stuck on a missing neighbour gives up at its deadline
 * without delaying the next window's tasks.
 */
import type { Window } from '../../chain/state.ts'
import type { NodeServices } from '../node-services.ts'
import { copyTask, runTask, type TaskOutcome } from './miner-work.ts'
import type { RoleWork } from './role-machine.ts'

export class MinerWork implements RoleWork {
  readonly #s: NodeServices
  readonly #done = new Set<number>()
  /** Outcome of every task this miner ran, by task id (tests and the status endpoint read it). */
  readonly outcomes = new Map<string, TaskOutcome>()

  constructor(services: NodeServices) {
    this.#s = services
  }

  /** Windows whose tasks are still running (a slow path must not hold up the next window). */
  readonly #running = new Set<Promise<void>>()

  async run(height: number, signal: AbortSignal): Promise<void> {
    const s = this.#s
    const w = s.window() as Window | null
    if (w === null || w.closed || this.#done.has(w.id) || height >= w.closeHeight) return
    this.#done.add(w.id)
    const work = this.#runWindow(w, height, signal).finally(() => this.#running.delete(work))
    this.#running.add(work)
  }

  /** Resolves when every window started so far has finished (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.#running])
  }

  async #runWindow(w: Window, height: number, signal: AbortSignal): Promise<void> {
    const s = this.#s
    const tasks = s.tasksOf(w.id, s.address)
    // Work that cannot finish before the window closes is wasted: wait for neighbours no longer.
    const deadlineMs = Math.max(5_000, (w.closeHeight - height - 1) * s.chain.blockIntervalMs)
    // Every task of the window at once: a path's stages wait on each other, so running this
    // miner's tasks one after another could leave a neighbour waiting on a task not begun.
    await Promise.all(
      tasks.map(async (task) => {
        const outcome = s.misbehaviour.has('copiedCid')
          ? await copyTask(s, task, signal)
          : await runTask(s, task, w.seed, deadlineMs, signal).catch((error: unknown) => {
              s.c.logger.warn({ err: error, task: task.id }, 'task failed')
              return { taskId: task.id, cid: null, code: 'FAILED' }
            })
        this.outcomes.set(task.id, outcome)
        s.c.logger.info({ task: task.id, code: outcome.code, cid: outcome.cid }, 'task done')
      }),
    )
  }
}
