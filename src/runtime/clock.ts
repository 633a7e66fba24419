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
  /**
   * Call `callback` once, `delayMs` from now. A pending timer does not keep the process alive
   * unless `keepAlive` (a command waiting on something outside the process, e.g. another
   * process exiting, must not end while it waits).
   */
  setTimer(delayMs: number, callback: () => void, options?: { keepAlive?: boolean }): TimerHandle
}

/** Resolve after `delayMs` on `clock`; rejects with the signal's reason when aborted. */
export function sleep(
  clock: Clock,
  delayMs: number,
  signal?: AbortSignal,
  options?: { keepAlive?: boolean },
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      timer.cancel()
      reject(signal?.reason)
    }
    const timer = clock.setTimer(
      delayMs,
      () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      },
      options,
    )
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** An abort signal that fires `delayMs` from now on `clock` (`AbortSignal.timeout` on a given clock). */
export function deadlineSignal(clock: Clock, delayMs: number, what: string): AbortSignal {
  const controller = new AbortController()
  clock.setTimer(delayMs, () => controller.abort(new DeadlineError(what, delayMs)))
  return controller.signal
}

export class DeadlineError extends Error {
  readonly code = 'ERR_DEADLINE'
  constructor(what: string, delayMs: number) {
    super(`${what} did not finish within ${delayMs} ms`)
    this.name = 'DeadlineError'
  }
}

interface PendingTimer {
  readonly dueMs: number
  /** Insertion order breaks ties between timers due at the same instant. */
  readonly sequence: number
  readonly callback: () => void
  cancelled: boolean
}

function earlier(a: PendingTimer, b: PendingTimer): boolean {
  return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.sequence < b.sequence)
}

/**
 * A clock that moves only when told to. Timers fire in order of due time, ties in order of
 * creation, so one sequence of calls always gives one sequence of events. Pending timers live
 * in a binary heap, so whole-network simulations with thousands of in-flight messages stay fast.
 */
export class SimulatedClock implements Clock {
  #nowMs: number
  #monotonicMs = 0
  #sequence = 0
  #live = 0
  readonly #heap: PendingTimer[] = []

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
    this.#push(timer)
    this.#live++
    return {
      cancel: () => {
        if (timer.cancelled) return
        timer.cancelled = true
        this.#live--
      },
    }
  }

  /** Number of timers that have neither fired nor been cancelled. */
  get pendingTimers(): number {
    return this.#live
  }

  /**
   * Move time forward by `deltaMs`, firing every timer that falls due on the way, each at
   * its own instant (a callback that reads the clock sees its due time). Timers created by
   * callbacks fire too if they fall due within the step.
   */
  advance(deltaMs: number): void {
    assert(Number.isFinite(deltaMs) && deltaMs >= 0, 'SimulatedClock can only move forward')
    this.runUntil(this.#monotonicMs + deltaMs)
  }

  /**
   * Fire timers in order until monotonic time `untilMs`, or until `stop()` (checked after
   * each timer) says to stop there; without a stop, time ends at `untilMs`.
   */
  runUntil(untilMs: number, stop: () => boolean = () => false): void {
    assert(Number.isFinite(untilMs), 'SimulatedClock target must be finite')
    for (;;) {
      const next = this.#heap[0]
      if (next === undefined || next.dueMs > untilMs) break
      this.#pop()
      if (next.cancelled) continue
      // A fired timer counts as done: cancelling it afterwards is a no-op.
      next.cancelled = true
      this.#live--
      this.#moveTo(next.dueMs)
      next.callback()
      if (stop()) return
    }
    this.#moveTo(Math.max(this.#monotonicMs, untilMs))
  }

  /** Skew wall time without moving monotonic time (clock-skew faults). */
  skewWall(deltaMs: number): void {
    this.#nowMs += deltaMs
  }

  #moveTo(monotonicMs: number): void {
    this.#nowMs += monotonicMs - this.#monotonicMs
    this.#monotonicMs = monotonicMs
  }

  #push(timer: PendingTimer): void {
    const h = this.#heap
    h.push(timer)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!earlier(h[i] as PendingTimer, h[parent] as PendingTimer)) break
      ;[h[i], h[parent]] = [h[parent] as PendingTimer, h[i] as PendingTimer]
      i = parent
    }
  }

  #pop(): void {
    const h = this.#heap
    const last = h.pop() as PendingTimer
    if (h.length === 0) return
    h[0] = last
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let least = i
      if (left < h.length && earlier(h[left] as PendingTimer, h[least] as PendingTimer)) least = left
      if (right < h.length && earlier(h[right] as PendingTimer, h[least] as PendingTimer)) least = right
      if (least === i) return
      ;[h[i], h[least]] = [h[least] as PendingTimer, h[i] as PendingTimer]
      i = least
    }
  }
}
