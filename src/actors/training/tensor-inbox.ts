/**
 * Tensors that pipeline neighbours streamed to this node, held until the stage that needs
 * them asks. A tensor may arrive before its stage starts waiting, so arrivals are kept and a
 * waiter is answered at once when its tensor is already here. Keyed by window, path step (the
 * shard), inner step, micro-batch, direction and sender: a pipeline in flight has several
 * micro-batches of a neighbour's inner step on their way at once.
 *
 * Once a stage took a tensor, the copies other replicas of the same neighbouring task send of
 * it (a stand-in's, a retry's) are dropped, held or arriving: they would otherwise sit until
 * the window passes and fill the sender's share, and the next tensor it sends would be
 * refused. What a stage took is remembered until its window passes (only this node's stages
 * add to it, never a peer).
 *
 * What is held is bounded per sender and in total (entries and bytes, runtime/limits.ts).
 * Room is made only by dropping tensors of windows before the one now open (a stage that late
 * has missed its window anyway); a held tensor of the open window or the next is never
 * evicted by a newcomer, whatever window that newcomer names: when there is no stale tensor
 * to drop, the newcomer is refused (`hasRoom` lets the stream refuse it before its payload).
 */
import { type Clock, sleep } from '../../runtime/clock.ts'
import { R3mesError } from '../../runtime/errors.ts'
import {
  MAX_INBOX_BYTES,
  MAX_INBOX_BYTES_PER_SENDER,
  MAX_INBOX_TENSORS,
  MAX_INBOX_TENSORS_PER_SENDER,
} from '../../runtime/limits.ts'

export type Direction = 'forward' | 'backward'

/** Where in a window's pipelines a tensor belongs: the path (shard), the inner step, the micro-batch. */
export interface TensorAt {
  readonly step: number
  readonly innerStep: number
  readonly microBatch: number
}

export class TensorWaitTimeoutError extends R3mesError {
  constructor(key: string, ms: number) {
    super('ERR_TENSOR_TIMEOUT', `no ${key} within ${ms} ms`, { key, ms })
  }
}

/** The inbox cannot hold a tensor without evicting one a stage may still need. */
export class InboxFullError extends R3mesError {
  constructor(from: string, what: string) {
    super('ERR_TENSOR_INBOX_FULL', `tensor inbox full: ${what}`, { from })
  }
}

export interface TensorInboxLimits {
  /** @default MAX_INBOX_TENSORS */
  readonly maxTensors?: number
  /** @default MAX_INBOX_BYTES */
  readonly maxBytes?: number
  /** @default MAX_INBOX_TENSORS_PER_SENDER */
  readonly maxTensorsPerSender?: number
  /** @default MAX_INBOX_BYTES_PER_SENDER */
  readonly maxBytesPerSender?: number
}

const slotOf = (window: number, at: TensorAt, direction: Direction): string =>
  `${window}/${at.step}/${at.innerStep}/${at.microBatch}/${direction}`
const keyOf = (window: number, at: TensorAt, direction: Direction, from: string): string =>
  `${slotOf(window, at, direction)}/${from}`

/** A tensor a stage took: of which window, and which senders' copies of it are now spare. */
interface Taken {
  readonly window: number
  readonly senders: ReadonlySet<string>
}

interface Held {
  readonly window: number
  readonly from: string
  readonly bytes: Uint8Array
}

export class TensorInbox {
  readonly #clock: Clock
  readonly #maxTensors: number
  readonly #maxBytes: number
  readonly #maxTensorsPerSender: number
  readonly #maxBytesPerSender: number
  readonly #held = new Map<string, Held>()
  readonly #waiters = new Map<string, (bytes: Uint8Array) => void>()
  readonly #taken = new Map<string, Taken>()
  #bytes = 0
  readonly #bySender = new Map<string, { tensors: number; bytes: number }>()

  constructor(clock: Clock, limits: TensorInboxLimits = {}) {
    this.#clock = clock
    this.#maxTensors = limits.maxTensors ?? MAX_INBOX_TENSORS
    this.#maxBytes = limits.maxBytes ?? MAX_INBOX_BYTES
    this.#maxTensorsPerSender = limits.maxTensorsPerSender ?? MAX_INBOX_TENSORS_PER_SENDER
    this.#maxBytesPerSender = limits.maxBytesPerSender ?? MAX_INBOX_BYTES_PER_SENDER
  }

  /** Tensors held now. */
  get size(): number {
    return this.#held.size
  }

  /** Bytes held now. */
  get heldBytes(): number {
    return this.#bytes
  }

  /**
   * Is a tensor from `from` a spare copy, one a stage already took from a replica of the same
   * task? Delivering it drops it, so it needs no room.
   */
  isSpare(window: number, at: TensorAt, direction: Direction, from: string): boolean {
    return this.#taken.get(slotOf(window, at, direction))?.senders.has(from) === true
  }

  /**
   * Would a tensor of `sizeBytes` from `from` fit, once tensors of windows before `openWindow`
   * are dropped? Asked on the stream's header, before the payload is read.
   */
  hasRoom(from: string, sizeBytes: number, openWindow: number): boolean {
    this.#dropBefore(openWindow)
    return this.#roomFor(from, sizeBytes) === undefined
  }

  /**
   * Hand a tensor to its waiting stage, or hold it. `openWindow` is the window now open:
   * held tensors of earlier windows may be dropped to make room. Throws InboxFullError when
   * the tensor does not fit within the bounds (nothing held is evicted for it). Says whether
   * a waiting stage took it, it is held, or it was a spare copy and is dropped.
   */
  deliver(
    window: number,
    at: TensorAt,
    direction: Direction,
    from: string,
    bytes: Uint8Array,
    openWindow: number,
  ): 'taken' | 'held' | 'spare' {
    const key = keyOf(window, at, direction, from)
    const waiter = this.#waiters.get(key)
    if (waiter !== undefined) {
      this.#waiters.delete(key)
      waiter(bytes)
      return 'taken'
    }
    if (this.isSpare(window, at, direction, from)) return 'spare'
    // A sender's second copy of one tensor (a retried send) replaces the first.
    this.#remove(key)
    this.#dropBefore(openWindow)
    const full = this.#roomFor(from, bytes.byteLength)
    if (full !== undefined) throw new InboxFullError(from, full)
    this.#held.set(key, { window, from, bytes })
    this.#bytes += bytes.byteLength
    const mine = this.#bySender.get(from) ?? { tensors: 0, bytes: 0 }
    this.#bySender.set(from, { tensors: mine.tensors + 1, bytes: mine.bytes + bytes.byteLength })
    return 'held'
  }

  /** The tensor from `from`, waiting up to `timeoutMs` for it to arrive. */
  take(
    window: number,
    at: TensorAt,
    direction: Direction,
    from: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    return this.takeFirst(window, at, direction, [from], timeoutMs, signal)
  }

  /**
   * The first tensor from any of `senders` (the replicas of one neighbouring task, whose honest
   * members send identical bytes), waiting up to `timeoutMs` for one to arrive. The others'
   * copies are spare from then on: dropped if held, and when they come.
   */
  async takeFirst(
    window: number,
    at: TensorAt,
    direction: Direction,
    senders: readonly string[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const keys = senders.map((from) => keyOf(window, at, direction, from))
    const took = (bytes: Uint8Array): Uint8Array => {
      for (const key of keys) this.#remove(key)
      this.#taken.set(slotOf(window, at, direction), { window, senders: new Set(senders) })
      return bytes
    }
    for (const key of keys) {
      const held = this.#held.get(key)
      if (held !== undefined) return took(held.bytes)
    }
    const what = `${window}/${at.step}/${at.innerStep}/${at.microBatch}/${direction} from ${senders.join(' or ')}`
    const abort = new AbortController()
    const onAbort = (): void => abort.abort()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const bytes = await Promise.race([
        new Promise<Uint8Array>((resolve) => {
          // The first arrival answers; a second replica's copy after it is spare.
          const answer = (bytes: Uint8Array): void => {
            for (const key of keys) this.#waiters.delete(key)
            resolve(bytes)
          }
          for (const key of keys) this.#waiters.set(key, answer)
        }),
        sleep(this.#clock, timeoutMs, abort.signal).then(() => {
          throw new TensorWaitTimeoutError(what, timeoutMs)
        }),
      ])
      return took(bytes)
    } finally {
      for (const key of keys) this.#waiters.delete(key)
      abort.abort()
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Why a tensor of `sizeBytes` from `from` does not fit now, or undefined when it does. */
  #roomFor(from: string, sizeBytes: number): string | undefined {
    const mine = this.#bySender.get(from) ?? { tensors: 0, bytes: 0 }
    if (mine.tensors + 1 > this.#maxTensorsPerSender) return `${mine.tensors} tensors held from this sender`
    if (mine.bytes + sizeBytes > this.#maxBytesPerSender) return `${mine.bytes} bytes held from this sender`
    if (this.#held.size + 1 > this.#maxTensors) return `${this.#held.size} tensors held`
    if (this.#bytes + sizeBytes > this.#maxBytes) return `${this.#bytes} bytes held`
    return undefined
  }

  #dropBefore(openWindow: number): void {
    for (const [key, h] of this.#held) if (h.window < openWindow) this.#remove(key)
    for (const [slot, t] of this.#taken) if (t.window < openWindow) this.#taken.delete(slot)
  }

  #remove(key: string): void {
    const h = this.#held.get(key)
    if (h === undefined) return
    this.#held.delete(key)
    this.#bytes -= h.bytes.byteLength
    const mine = this.#bySender.get(h.from) ?? { tensors: 1, bytes: h.bytes.byteLength }
    if (mine.tensors <= 1) this.#bySender.delete(h.from)
    else this.#bySender.set(h.from, { tensors: mine.tensors - 1, bytes: mine.bytes - h.bytes.byteLength })
  }
}
