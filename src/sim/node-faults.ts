/**
 * Faults of one simulated validator's own machine, drawn by faults.ts: a wall clock off the
 * true time and drifting (its block times and its checks of others' block times read it), and
 * a slow disk (the node writes every input to its WAL before it acts on it; in memory the
 * write is instant, so the simulation holds each input back by the disk's latency instead).
 */
import type { Clock, TimerHandle } from '../runtime/clock.ts'
import type { ClockSkew } from './faults.ts'

const PPM = 1_000_000

/**
 * `base` as a machine whose clock is `offsetMs` off and gains `driftPpm` millionths of every
 * millisecond: its wall time is off by the offset plus the drift so far, and its timers run
 * fast (or slow) by the same rate.
 */
export function skewedClock(base: Clock, skew: Pick<ClockSkew, 'offsetMs' | 'driftPpm'>): Clock {
  const rate = (PPM + skew.driftPpm) / PPM
  return {
    nowMs: () => base.nowMs() + skew.offsetMs + Math.floor((base.monotonicMs() * skew.driftPpm) / PPM),
    monotonicMs: () => base.monotonicMs() * rate,
    setTimer: (delayMs: number, callback: () => void, options?: { keepAlive?: boolean }): TimerHandle =>
      base.setTimer(Math.max(0, delayMs / rate), callback, options),
  }
}

/**
 * A node's inputs delivered through a disk that takes `delayMs` per write: each waits that long
 * on `clock` (in the order they came, the disk being one queue), then `act` runs.
 */
export function throughSlowDisk(clock: Clock, delayMs: number): (act: () => void) => void {
  if (delayMs <= 0) return (act) => act()
  return (act) => {
    clock.setTimer(delayMs, act)
  }
}
