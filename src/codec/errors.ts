/** The codec's typed errors: what was wrong with a value the shared encodings refused. */
import { R3mesError } from '../runtime/errors.ts'

/** A value has no canonical encoding (a non-finite number in canonical JSON). */
export class NonCanonicalValueError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ERR_NON_CANONICAL_VALUE', message, details)
  }
}

/** Text that should be lowercase hex of an even length (and sometimes a given byte length) is not. */
export class InvalidHexError extends R3mesError {
  constructor(what: string, expectedBytes?: number) {
    super(
      'ERR_INVALID_HEX',
      `${what} is not lowercase hex${expectedBytes === undefined ? '' : ` of ${expectedBytes} bytes`}`,
      expectedBytes === undefined ? { what } : { what, expectedBytes },
    )
  }
}
