/**
 * Time as a component. Services never read the host clock directly: they are handed a
 * `Clock`, the real one (`SystemClock`) in production and a `SimulatedClock` in tests and
 * simulations, where time moves only when the test says so.
 */
import { assert } from './assert.ts'

export interface TimerHandle {
  /** Cancel the timer; a no-op when it already fired or was cancelled. */
  cancel(): void
}

export interface Clock {
  /** Milliseconds since the Unix epoch (wall time: may jump). */
  nowMs(): number
  /** Milliseconds from an arbitrary origin that never goes backwards (for durations). */
  monotonicMs(): number
  /** Call `callback` once, `delayMs` from now. */
  setTimer(delayMs: number, callback: () => void): TimerHandle
}

/** Resolve after `delayMs` on `clock`; rejects with the signal's reason when aborted. */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      timer.cancel()
      reject(signal?.reason)
    }
    const timer = clock.setTimer(delayMs, () => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    })
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

interface PendingTimer {
  readonly dueMs: number
  /** Insertion order breaks ties between timers due at the same instant. */
  readonly sequence: number
  readonly callback: () => void
  cancelled: boolean
}

/**
 * A clock that moves only when told to. Timers fire in order of due time, ties in order of
 * creation, so one sequence of calls always gives one sequence of events.
 */
export class SimulatedClock implements Clock {
  #nowMs: number
  #monotonicMs = 0
  #sequence = 0
  readonly #pending: PendingTimer[] = []

  /** @param startMs wall time at creation, default 2026-01-01T00:00:00Z */
  constructor(startMs = 1_767_225_600_000) {
    assert(Number.isSafeInteger(startMs), 'SimulatedClock start must be an integer number of ms')
    this.#nowMs = startMs
  }

  nowMs(): number {
    return this.#nowMs
  }

  monotonicMs(): number {
    return this.#monotonicMs
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    assert(Number.isFinite(delayMs), 'timer delay must be finite')
    const timer: PendingTimer = {
      dueMs: this.#monotonicMs + Math.max(0, delayMs),
      sequence: this.#sequence++,
      callback,
      cancelled: false,
    }
    this.#pending.push(timer)
    return {
      cancel: () => {
        timer.cancelled = true
      },
    }
  }

  /** Number of timers that have neither fired nor been cancelled. */
  get pendingTimers(): number {
    return this.#pending.filter((t) => !t.cancelled).length
  }

  /**
   * Move time forward by `deltaMs`, firing every timer that falls due on the way, each at
   * its own instant (a callback that reads the clock sees its due time). Timers created by
   * callbacks fire too if they fall due within the step.
   */
  advance(deltaMs: number): void {
    assert(Number.isFinite(deltaMs) && deltaMs >= 0, 'SimulatedClock can only move forward')
    const targetMs = this.#monotonicMs + deltaMs
    for (;;) {
      const next = this.#takeNextDue(targetMs)
      if (next === undefined) break
      this.#moveTo(next.dueMs)
      next.callback()
    }
    this.#moveTo(targetMs)
  }

  /** Skew wall time without moving monotonic time (clock-skew faults). */
  skewWall(deltaMs: number): void {
    this.#nowMs += deltaMs
  }

  #moveTo(monotonicMs: number): void {
    this.#nowMs += monotonicMs - this.#monotonicMs
    this.#monotonicMs = monotonicMs
  }

  #takeNextDue(limitMs: number): PendingTimer | undefined {
    let bestIndex = -1
    for (let i = 0; i < this.#pending.length; i++) {
      const t = this.#pending[i] as PendingTimer
      if (t.cancelled || t.dueMs > limitMs) continue
      const best = this.#pending[bestIndex]
      if (best === undefined || t.dueMs < best.dueMs || (t.dueMs === best.dueMs && t.sequence < best.sequence)) {
        bestIndex = i
      }
    }
    if (bestIndex < 0) {
      // Drop cancelled timers so long simulations do not accumulate them.
      for (let i = this.#pending.length - 1; i >= 0; i--)
        if (this.#pending[i]?.cancelled === true) this.#pending.splice(i, 1)
      return undefined
    }
    const [timer] = this.#pending.splice(bestIndex, 1)
    return timer
  }
}
