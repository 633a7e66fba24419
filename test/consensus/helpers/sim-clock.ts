/**
 * A heap-ordered simulated clock for whole-network simulations (the runtime SimulatedClock
 * scans its timers linearly, which is too slow for thousands of in-flight messages). Same
 * contract: timers fire in due order, ties in creation order.
 */
import type { Clock, TimerHandle } from '../../../src/runtime/clock.ts'

interface Timer {
  due: number
  seq: number
  cb: () => void
  cancelled: boolean
}

export class HeapClock implements Clock {
  #now = 0
  #seq = 0
  readonly #heap: Timer[] = []
  readonly #wallOffsetMs: number

  constructor(wallOffsetMs = 1_767_225_600_000) {
    this.#wallOffsetMs = wallOffsetMs
  }

  nowMs(): number {
    return this.#wallOffsetMs + this.#now
  }

  monotonicMs(): number {
    return this.#now
  }

  setTimer(delayMs: number, cb: () => void): TimerHandle {
    const t: Timer = { due: this.#now + Math.max(0, delayMs), seq: this.#seq++, cb, cancelled: false }
    this.#push(t)
    return {
      cancel: () => {
        t.cancelled = true
      },
    }
  }

  /** Run timers until `untilMs` or until `stop()` says so (checked after each timer). */
  runUntil(untilMs: number, stop: () => boolean = () => false): void {
    while (this.#heap.length > 0) {
      const top = this.#heap[0] as Timer
      if (top.due > untilMs) break
      this.#pop()
      if (top.cancelled) continue
      this.#now = top.due
      top.cb()
      if (stop()) return
    }
    this.#now = Math.max(this.#now, untilMs)
  }

  #less(a: Timer, b: Timer): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq)
  }

  #push(t: Timer): void {
    const h = this.#heap
    h.push(t)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(h[i] as Timer, h[p] as Timer)) break
      ;[h[i], h[p]] = [h[p] as Timer, h[i] as Timer]
      i = p
    }
  }

  #pop(): void {
    const h = this.#heap
    const last = h.pop() as Timer
    if (h.length === 0) return
    h[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && this.#less(h[l] as Timer, h[m] as Timer)) m = l
      if (r < h.length && this.#less(h[r] as Timer, h[m] as Timer)) m = r
      if (m === i) return
      ;[h[i], h[m]] = [h[m] as Timer, h[i] as Timer]
      i = m
    }
  }
}
