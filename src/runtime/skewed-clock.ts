/**
 * A clock whose wall time runs `offsetMs` ahead of (or behind) another's, adjustable at run
 * time: chaos tests skew one node's clock to check that block times and timeouts tolerate
 * it. Monotonic time and timers are the base clock's (skew moves the calendar, not the pace).
 */
import type { Clock, TimerHandle } from './clock.ts'

export class SkewedClock implements Clock {
  readonly #base: Clock
  offsetMs = 0

  constructor(base: Clock) {
    this.#base = base
  }

  nowMs(): number {
    return this.#base.nowMs() + this.offsetMs
  }

  monotonicMs(): number {
    return this.#base.monotonicMs()
  }

  setTimer(delayMs: number, callback: () => void, options?: { keepAlive?: boolean }): TimerHandle {
    return this.#base.setTimer(delayMs, callback, options)
  }
}
