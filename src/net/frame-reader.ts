/**
 * Reads length-prefixed frames (unsigned varint length, then bytes) from a stream's chunks
 * without gathering a frame first: a large frame is copied piece by piece, as its chunks
 * arrive, straight to where it belongs. it-length-prefixed collects every frame into a
 * Uint8ArrayList before handing it over; for tensors that is one extra pass over every byte
 * and a queue of chunk references per frame.
 *
 * The reader never holds more than the one chunk it is working through. Running out of
 * chunks mid-frame or mid-prefix is a BadFrameError that says so.
 */
import type { Uint8ArrayList } from 'uint8arraylist'
import { BadFrameError } from './errors.ts'

/** A varint longer than this cannot be a frame length we accept (2^63 needs 9 bytes). */
const MAX_VARINT_BYTES = 9

export class FrameReader {
  readonly #chunks: AsyncIterator<Uint8Array | Uint8ArrayList>
  /** Pieces of the chunk being read (a Uint8ArrayList arrives as several arrays). */
  #pieces: Uint8Array[] = []
  #piece: Uint8Array = new Uint8Array(0)
  #offset = 0

  constructor(chunks: AsyncIterable<Uint8Array | Uint8ArrayList>) {
    this.#chunks = chunks[Symbol.asyncIterator]()
  }

  /**
   * The next frame's length, or undefined when the stream ended cleanly between frames.
   * A length over `maxLength` is refused before any of the frame is read.
   */
  async nextLength(maxLength: number): Promise<number | undefined> {
    let value = 0
    let scale = 1
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (!(await this.#fill())) {
        if (i === 0) return undefined
        throw new BadFrameError('truncated frame length prefix')
      }
      const byte = this.#piece[this.#offset++] as number
      value += (byte & 0x7f) * scale
      if (byte < 0x80) {
        if (value > maxLength) throw new BadFrameError(`frame of ${value} bytes over the cap of ${maxLength}`)
        return value
      }
      scale *= 0x80
    }
    throw new BadFrameError('bad frame length prefix')
  }

  /** The next `length` bytes as one array (a copy only when they span chunks). */
  async readBytes(length: number): Promise<Uint8Array> {
    if ((await this.#fill()) && this.#piece.byteLength - this.#offset >= length) {
      const out = this.#piece.subarray(this.#offset, this.#offset + length)
      this.#offset += length
      return out
    }
    const out = new Uint8Array(length)
    await this.readInto(out, 0, length)
    return out
  }

  /**
   * Copy the next `length` bytes into `target` at `offset`, calling `onPiece` with each piece
   * as it is copied (to hash while the rest is still in flight).
   */
  async readInto(
    target: Uint8Array,
    offset: number,
    length: number,
    onPiece?: (piece: Uint8Array) => void,
  ): Promise<void> {
    let at = offset
    await this.readPieces(length, (piece) => {
      target.set(piece, at)
      at += piece.byteLength
      onPiece?.(piece)
    })
  }

  /**
   * Hand the next `length` bytes to `onPiece` as they arrive, as views of the stream's chunks
   * (valid only during the call: copy what is kept). An error `onPiece` throws ends the read.
   */
  async readPieces(length: number, onPiece: (piece: Uint8Array) => void): Promise<void> {
    let done = 0
    while (done < length) {
      if (!(await this.#fill())) throw new BadFrameError(`truncated frame: ${done} of ${length} bytes`)
      const take = Math.min(length - done, this.#piece.byteLength - this.#offset)
      const piece = this.#piece.subarray(this.#offset, this.#offset + take)
      this.#offset += take
      done += take
      onPiece(piece)
    }
  }

  /** Release the source (ends its generator, which detaches it from the stream). */
  async close(): Promise<void> {
    await this.#chunks.return?.()
  }

  /** Make sure unread bytes are at hand; false once the source has ended. */
  async #fill(): Promise<boolean> {
    while (this.#offset >= this.#piece.byteLength) {
      const next = this.#pieces.shift()
      if (next !== undefined) {
        this.#piece = next
        this.#offset = 0
        continue
      }
      const chunk = await this.#chunks.next()
      if (chunk.done === true) return false
      const value = chunk.value
      if (value instanceof Uint8Array) this.#pieces.push(value)
      else for (const part of value) this.#pieces.push(part)
    }
    return true
  }
}
