/**
 * The event-loop turns the hosted role machines need (hosted-roles.ts). The machines wait on
 * promises (a fetch, a re-execution, a transaction's inclusion), and the simulation runs its
 * events synchronously on the simulated clock: a promise settled by a simulated event only
 * runs its continuations once the simulation hands the event loop a turn. So every settlement
 * goes through here, marks a turn due, and the simulation takes it (`take`) before its next
 * event: the machines act at the simulated instant their work settled, in an order fixed by
 * the seed, as a node's machines act when their promise settles.
 */
import type { Clock } from '../runtime/clock.ts'
import { nextTurn } from '../runtime/event-loop.ts'

export class Turns {
  readonly #clock: Clock
  #due = false

  constructor(clock: Clock) {
    this.#clock = clock
  }

  /** A promise settled since the last turn: its continuations wait for one. */
  get due(): boolean {
    return this.#due
  }

  /** Something settled a promise a machine waits on. */
  settled(): void {
    this.#due = true
  }

  /**
   * Settles with `outcome()` (its value, or what it throws) after `ms` simulated ms; rejects
   * at once with the signal's reason when `signal` aborts first (its timer cancelled).
   */
  after<T>(ms: number, outcome: () => T, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason)
        return
      }
      const onAbort = (): void => {
        timer.cancel()
        this.settled()
        reject(signal?.reason)
      }
      const timer = this.#clock.setTimer(ms, () => {
        signal?.removeEventListener('abort', onAbort)
        this.settled()
        try {
          resolve(outcome())
        } catch (error) {
          reject(error)
        }
      })
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * `clock`, with every timer's firing marked as a settlement: a machine that sleeps on its
   * clock (a miner polling the chain) wakes at the simulated instant its timer fired.
   */
  clock(): Clock {
    const clock = this.#clock
    return {
      nowMs: () => clock.nowMs(),
      monotonicMs: () => clock.monotonicMs(),
      setTimer: (delayMs, callback, options) =>
        clock.setTimer(
          delayMs,
          () => {
            this.settled()
            callback()
          },
          options,
        ),
    }
  }

  /** Hand the event loop a turn: every continuation of what settled runs before this resolves. */
  async take(): Promise<void> {
    this.#due = false
    await nextTurn()
  }
}
