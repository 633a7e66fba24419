/**
 * Reading a peer's length-prefixed frames (unsigned varint length, then bytes) with the
 * libraries we use (@libp2p/utils' `lpStream`, it-length-prefixed's `decode`), so that what
 * a peer gets wrong is a typed error and costs it, not us.
 *
 * The libraries throw plain Errors when a peer breaks the framing: a length over the cap, a
 * length prefix longer than any allowed length needs, a negative length, a stream that ends
 * inside a frame. Those are a peer's bad bytes, an expected failure: `readFramed` turns them
 * into a MalformedMessageError that names the peer and what was wrong. Any other error (an
 * abort, a reset) passes through unchanged.
 *
 * `lpStream` checks a prefix's length only once the prefix is complete: a peer sending 0xff
 * bytes (every one "more to come") is read a byte at a time, each kept, until the deadline.
 * `framedStream` gives it a length decoder that refuses a prefix longer than the cap needs.
 */
import type { Stream } from '@libp2p/interface'
import { InvalidDataLengthLengthError, type LengthPrefixedStream, lpStream, UnexpectedEOFError } from '@libp2p/utils'
import * as varint from 'uint8-varint'
import type { Uint8ArrayList } from 'uint8arraylist'
import { MalformedMessageError } from './errors.ts'

/**
 * What each framing error means, by the `code` both libraries set on their classes
 * (it-length-prefixed does not export them, so they are told apart by code).
 */
const FRAMING_FAULTS: Readonly<Record<string, string>> = {
  ERR_MSG_DATA_TOO_LONG: 'its length prefix announces a frame over the cap',
  ERR_MSG_LENGTH_TOO_LONG: 'its length prefix is longer than any length up to the cap needs',
  ERR_INVALID_MSG_LENGTH: 'its length prefix is not a valid length',
  ERR_UNEXPECTED_EOF: 'the stream ended inside a frame',
}

/** What broke the framing when `error` is a length-prefix reader's framing error, else undefined. */
export function framingFault(error: unknown): string | undefined {
  // @libp2p/utils' own UnexpectedEOFError carries no code.
  if (error instanceof UnexpectedEOFError) return FRAMING_FAULTS.ERR_UNEXPECTED_EOF
  if (!(error instanceof Error)) return undefined
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? FRAMING_FAULTS[code] : undefined
}

/**
 * `read()`, with a framing error turned into a MalformedMessageError about `what` (say,
 * "block reply from <peer>"); the library's message is kept as the cause.
 */
export async function readFramed<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (error) {
    const fault = framingFault(error)
    if (fault === undefined) throw error
    throw new MalformedMessageError(what, `${fault} (${(error as Error).message})`, { cause: error })
  }
}

/** `lpStream` over `stream` taking frames of at most `maxDataLength` bytes, its prefixes bounded to match. */
export function framedStream(stream: Stream, maxDataLength: number): LengthPrefixedStream<Stream> {
  const maxLengthLength = varint.encodingLength(maxDataLength)
  return lpStream(stream, {
    maxDataLength,
    maxLengthLength,
    lengthDecoder(prefix: Uint8ArrayList): number {
      // lpStream calls this on every byte of the prefix so far, and reads on while it throws
      // a RangeError (an unfinished varint): stop once no allowed length is this long.
      if (prefix.byteLength > maxLengthLength)
        throw new InvalidDataLengthLengthError(`Message length length too long - over ${maxLengthLength} bytes`)
      return varint.decode(prefix)
    },
  })
}
