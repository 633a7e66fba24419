/**
 * Where an inbound tensor's bytes land while they arrive, so that the memory a stream makes
 * this node hold follows the bytes its sender has actually sent, never what its header
 * announces: a peer's header alone costs nothing, and each byte it makes us hold it has paid
 * for in bandwidth.
 *
 * Nothing is taken before the first data byte. Then:
 * - a tensor up to `eagerBytes`, or one for which the pool keeps a released buffer of its
 *   size, is written straight into that one buffer (no copy beyond the one off the stream);
 * - a larger one is written into pieces of `pieceBytes`, each taken when the first byte that
 *   belongs in it arrives, and copied once into one buffer of the tensor's size at the end.
 *
 * Every byte taken counts against a node-wide `InFlightBytes` until the tensor is complete
 * (its buffer then belongs to the consumer, whose inbox has its own bounds) or refused.
 */
import { assert } from '../runtime/assert.ts'
import type { BufferPool } from './buffer-pool.ts'
import { InFlightBytesLimitError } from './errors.ts'

/** Receive memory held by unfinished transfers, node-wide, under a bound. */
export class InFlightBytes {
  readonly maxBytes: number
  readonly #what: string
  #held = 0

  constructor(maxBytes: number, what: string) {
    assert(maxBytes >= 0, 'the in-flight bound must not be negative')
    this.maxBytes = maxBytes
    this.#what = what
  }

  get heldBytes(): number {
    return this.#held
  }

  /** InFlightBytesLimitError when `bytes` more would pass the bound; counts nothing. */
  check(bytes: number): void {
    if (!this.fits(bytes)) throw new InFlightBytesLimitError(this.#what, this.#held, bytes, this.maxBytes)
  }

  fits(bytes: number): boolean {
    return this.#held + bytes <= this.maxBytes
  }

  /** Count `bytes` more, or throw InFlightBytesLimitError (nothing counted) when that would pass the bound. */
  take(bytes: number): void {
    this.check(bytes)
    this.#held += bytes
  }

  give(bytes: number): void {
    assert(bytes >= 0 && bytes <= this.#held, 'giving back more in-flight bytes than were taken')
    this.#held -= bytes
  }
}

export interface TensorReceiveBufferInit {
  /** Tensors up to this size go straight into one buffer. */
  readonly eagerBytes: number
  /** Larger ones are received in pieces of this size. */
  readonly pieceBytes: number
}

export class TensorReceiveBuffer {
  readonly sizeBytes: number
  readonly #pool: BufferPool
  readonly #inFlight: InFlightBytes
  readonly #init: TensorReceiveBufferInit
  /** The one buffer, when the bytes go straight there. */
  #target: Uint8Array | undefined
  readonly #pieces: Uint8Array[] = []
  #received = 0
  /** What this tensor counts in #inFlight now. */
  #heldBytes = 0
  #started = false
  #done = false
  /** Bytes of buffers taken for this tensor so far (pieces, the one buffer), reused or fresh. */
  takenBytes = 0

  constructor(sizeBytes: number, pool: BufferPool, inFlight: InFlightBytes, init: TensorReceiveBufferInit) {
    assert(init.pieceBytes > 0, 'receive pieces must not be empty')
    this.sizeBytes = sizeBytes
    this.#pool = pool
    this.#inFlight = inFlight
    this.#init = init
  }

  /**
   * The least memory the first data byte will take: checked on the header (with
   * InFlightBytes.check), so a stream that could not get it is refused before its payload.
   */
  static firstTakeBytes(sizeBytes: number, init: TensorReceiveBufferInit): number {
    return sizeBytes <= init.eagerBytes ? sizeBytes : Math.min(init.pieceBytes, sizeBytes)
  }

  /** Bytes written so far. */
  get receivedBytes(): number {
    return this.#received
  }

  /**
   * Copy `bytes` in after what is there; InFlightBytesLimitError when the memory they need
   * would pass the node-wide bound (what was written stays counted until `dispose`).
   */
  write(bytes: Uint8Array): void {
    assert(!this.#done, 'write to a finished tensor buffer')
    assert(this.#received + bytes.byteLength <= this.sizeBytes, 'more bytes than the tensor holds')
    if (bytes.byteLength === 0) return
    if (!this.#started) this.#start()
    if (this.#target !== undefined) {
      this.#target.set(bytes, this.#received)
      this.#received += bytes.byteLength
      return
    }
    const pieceBytes = this.#init.pieceBytes
    let at = 0
    while (at < bytes.byteLength) {
      const offset = this.#received + at
      const index = Math.floor(offset / pieceBytes)
      let piece = this.#pieces[index]
      if (piece === undefined) {
        const length = Math.min(pieceBytes, this.sizeBytes - index * pieceBytes)
        this.#take(length)
        piece = new Uint8Array(length)
        this.#pieces.push(piece)
      }
      const within = offset - index * pieceBytes
      const length = Math.min(piece.byteLength - within, bytes.byteLength - at)
      piece.set(bytes.subarray(at, at + length), within)
      at += length
    }
    this.#received += bytes.byteLength
  }

  /**
   * The whole tensor in one buffer of exactly its size (for the pool to take back later), once
   * every byte is in; it no longer counts as in flight.
   */
  finish(): Uint8Array {
    assert(!this.#done && this.#received === this.sizeBytes, 'finish before the last byte')
    this.#done = true
    let out = this.#target
    if (out === undefined) {
      // One copy of what came in pieces; pieces and buffer coexist only for its duration.
      out = this.#pool.acquire(this.sizeBytes)
      this.takenBytes += this.sizeBytes
      let offset = 0
      for (const piece of this.#pieces) {
        out.set(piece, offset)
        offset += piece.byteLength
      }
      this.#pieces.length = 0
    }
    this.#target = undefined
    this.#inFlight.give(this.#heldBytes)
    this.#heldBytes = 0
    return out
  }

  /** Drop what was received (a refused tensor); its one buffer goes back to the pool. Idempotent. */
  dispose(): void {
    if (this.#done) return
    this.#done = true
    if (this.#target !== undefined) this.#pool.release(this.#target)
    this.#target = undefined
    this.#pieces.length = 0
    this.#inFlight.give(this.#heldBytes)
    this.#heldBytes = 0
  }

  #start(): void {
    this.#started = true
    const size = this.sizeBytes
    if (size <= this.#init.eagerBytes) {
      this.#take(size)
      this.#target = this.#pool.acquire(size)
      return
    }
    // A released buffer of this size is memory the node holds anyway: take it whole (and
    // receive with no extra copy) when the bound has room for it, else go by pieces.
    const kept = this.#inFlight.fits(size) ? this.#pool.take(size) : undefined
    if (kept !== undefined) {
      this.#take(size)
      this.#target = kept
    }
  }

  #take(bytes: number): void {
    this.#inFlight.take(bytes)
    this.#heldBytes += bytes
    this.takenBytes += bytes
  }
}
