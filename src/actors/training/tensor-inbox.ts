/**
 * Tensors that pipeline neighbours streamed to this node, held until the stage that needs
 * them asks. A tensor may arrive before its stage starts waiting, so arrivals are kept (a
 * bounded number, oldest windows dropped first) and a waiter is answered at once when its
 * tensor is already here. Keyed by window, path step (the shard), direction and sender.
 */
import { type Clock, sleep } from '../../runtime/clock.ts'
import { R3mesError } from '../../runtime/errors.ts'

export type Direction = 'forward' | 'backward'

export class TensorWaitTimeoutError extends R3mesError {
  constructor(key: string, ms: number) {
    super('ERR_TENSOR_TIMEOUT', `no ${key} within ${ms} ms`, { key, ms })
  }
}

const keyOf = (window: number, step: number, direction: Direction, from: string): string =>
  `${window}/${step}/${direction}/${from}`

export class TensorInbox {
  readonly #clock: Clock
  readonly #maxHeld: number
  readonly #held = new Map<string, { window: number; bytes: Uint8Array }>()
  readonly #waiters = new Map<string, (bytes: Uint8Array) => void>()

  constructor(clock: Clock, maxHeld = 64) {
    this.#clock = clock
    this.#maxHeld = maxHeld
  }

  deliver(window: number, step: number, direction: Direction, from: string, bytes: Uint8Array): void {
    const key = keyOf(window, step, direction, from)
    const waiter = this.#waiters.get(key)
    if (waiter !== undefined) {
      this.#waiters.delete(key)
      waiter(bytes)
      return
    }
    this.#held.set(key, { window, bytes })
    while (this.#held.size > this.#maxHeld) {
      // Drop the oldest window's tensor: a stage that late has missed its window anyway.
      let oldest: string | undefined
      let oldestWindow = Number.POSITIVE_INFINITY
      for (const [k, v] of this.#held) if (v.window < oldestWindow) [oldest, oldestWindow] = [k, v.window]
      this.#held.delete(oldest as string)
    }
  }

  /** The tensor from `from`, waiting up to `timeoutMs` for it to arrive. */
  async take(
    window: number,
    step: number,
    direction: Direction,
    from: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const key = keyOf(window, step, direction, from)
    const held = this.#held.get(key)
    if (held !== undefined) {
      this.#held.delete(key)
      return held.bytes
    }
    const abort = new AbortController()
    const onAbort = (): void => abort.abort()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      return await Promise.race([
        new Promise<Uint8Array>((resolve) => this.#waiters.set(key, resolve)),
        sleep(this.#clock, timeoutMs, abort.signal).then(() => {
          throw new TensorWaitTimeoutError(key, timeoutMs)
        }),
      ])
    } finally {
      this.#waiters.delete(key)
      abort.abort()
      signal?.removeEventListener('abort', onAbort)
    }
  }
}
