/**
 * Yielding to the host's event loop: the one place that calls `setImmediate` (the lint rule
 * lint/no-ambient-time.grit sends every other use here). A turn is not time: it passes however
 * a clock runs, simulated or real, so it needs no `Clock`; it is named in one place because it
 * hands control to the host's scheduler (I/O callbacks run first), which a reader and a
 * simulator should be able to find.
 */

/** Resolves on the event loop's next turn, after pending I/O callbacks. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** Run `callback` on the event loop's next turn, after pending I/O callbacks. */
export function onNextTurn(callback: () => void): void {
  setImmediate(callback)
}
