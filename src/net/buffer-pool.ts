/**
 * Receive buffers for tensors, kept for reuse once their consumer is done with them.
 *
 * Writing into freshly allocated memory costs a page fault per 4 KiB page: about 130 ms for a
 * 32 MiB tensor on the test machine (a VM), over 400 ms when it is loaded, which is as long as
 * the transfer itself. Pipeline stages exchange tensors of the same few sizes every step, so
 * a buffer handed back after use (`ReceivedTensor.release()`) is taken again for the next
 * tensor of that size, its pages already mapped.
 *
 * Bounded: at most `maxBuffers` buffers and `maxBytes` bytes are kept; past that a released
 * buffer is left to the garbage collector. A consumer that never releases only loses the reuse.
 */
import { assert } from '../runtime/assert.ts'

export interface BufferPoolInit {
  /** Bytes kept for reuse, over all sizes. @default 256 MiB */
  maxBytes?: number
  /** Buffers kept for reuse, over all sizes. @default 8 */
  maxBuffers?: number
}

export class BufferPool {
  readonly maxBytes: number
  readonly maxBuffers: number
  readonly #free = new Map<number, Uint8Array[]>()
  /** What is in #free, so a buffer released twice is not handed out twice. */
  readonly #kept = new WeakSet<Uint8Array>()
  #keptBytes = 0
  #keptBuffers = 0
  /** Buffers handed out again instead of allocated (for tests and metrics). */
  reused = 0

  constructor(init: BufferPoolInit = {}) {
    this.maxBytes = init.maxBytes ?? 256 * 1024 * 1024
    this.maxBuffers = init.maxBuffers ?? 8
    assert(this.maxBytes >= 0 && this.maxBuffers >= 0, 'buffer pool bounds must not be negative')
  }

  /** A buffer of exactly `sizeBytes`: a kept one if there is one, else a new one. Contents are undefined. */
  acquire(sizeBytes: number): Uint8Array {
    return this.take(sizeBytes) ?? new Uint8Array(sizeBytes)
  }

  /** A kept buffer of exactly `sizeBytes`, or undefined when none is kept (nothing is allocated). */
  take(sizeBytes: number): Uint8Array | undefined {
    const kept = this.#free.get(sizeBytes)?.pop()
    if (kept === undefined) return undefined
    this.#kept.delete(kept)
    this.#keptBytes -= sizeBytes
    this.#keptBuffers--
    this.reused++
    return kept
  }

  /** Keep `buffer` for a later `acquire` of its size; the caller must not touch it again. */
  release(buffer: Uint8Array): void {
    const size = buffer.byteLength
    // Only whole buffers: a view into a larger one would pin memory the pool does not count.
    if (size === 0 || buffer.byteOffset !== 0 || buffer.buffer.byteLength !== size) return
    if (this.#kept.has(buffer)) return
    if (this.#keptBuffers + 1 > this.maxBuffers || this.#keptBytes + size > this.maxBytes) return
    const list = this.#free.get(size)
    if (list === undefined) this.#free.set(size, [buffer])
    else list.push(buffer)
    this.#kept.add(buffer)
    this.#keptBytes += size
    this.#keptBuffers++
  }

  /** Bytes currently kept for reuse. */
  get keptBytes(): number {
    return this.#keptBytes
  }
}
