/**
 * The one adapter over the host's ambient time. Everything else in R3MES reads time
 * through a `Clock` handed in as a component, so that tests and the whole-network
 * simulator can substitute a `SimulatedClock`. The lint plugin `lint/no-ambient-time.grit`
 * forbids `Date.now`, `Math.random`, `performance.now`, `setTimeout` and `setInterval`
 * everywhere but this file.
 */
import type { Clock, TimerHandle } from './clock.ts'

class SystemTimer implements TimerHandle {
  readonly #handle: ReturnType<typeof setTimeout>
  constructor(handle: ReturnType<typeof setTimeout>) {
    this.#handle = handle
  }
  cancel(): void {
    clearTimeout(this.#handle)
  }
}

/** Wall-clock time from the host. */
export class SystemClock implements Clock {
  nowMs(): number {
    return Date.now()
  }

  monotonicMs(): number {
    return performance.now()
  }

  setTimer(delayMs: number, callback: () => void, options: { keepAlive?: boolean } = {}): TimerHandle {
    const handle = setTimeout(callback, Math.max(0, delayMs))
    // A pending protocol timer must not keep a process alive that is otherwise done.
    if (options.keepAlive !== true) handle.unref()
    return new SystemTimer(handle)
  }
}

/** Entropy for keys and nonces that must not be predictable (never for consensus-relevant values). */
export function systemEntropy(bytes: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(bytes))
}

/**
 * Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC), which every process on one
 * machine shares: a time taken in one process can be subtracted from one taken in another.
 * `performance.now()` counts from each process's own start and cannot be. Benchmarks only.
 */
export function machineMonotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6
}
