/**
 * Expected failures carry a stable code so that callers (CLI, RPC, peers) can react to the
 * kind of failure without parsing messages. Programmer errors are `AssertionFailure`s instead
 * (see assert.ts). Each module adds its own subclasses; the code strings are part of the API.
 */
export class R3mesError extends Error {
  /** Stable, machine-readable code, e.g. `ERR_INVALID_ARGUMENT`. */
  readonly code: string
  /** Structured context for logs and JSON output. */
  readonly details: Readonly<Record<string, unknown>>

  constructor(code: string, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.details = details
  }

  toJSON(): { name: string; code: string; message: string; details: Readonly<Record<string, unknown>> } {
    return { name: this.name, code: this.code, message: this.message, details: this.details }
  }
}

/** An argument, option or field has a value the operation cannot accept. */
export class InvalidArgumentError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('ERR_INVALID_ARGUMENT', message, details, options)
  }
}

/** A feature that exists in the command surface but is not built yet. */
export class NotYetAvailableError extends R3mesError {
  constructor(feature: string) {
    super('ERR_NOT_YET_AVAILABLE', `${feature} is not yet available in this version of r3mes`, { feature })
  }
}

/** Bytes read from disk or from a peer do not decode or fail their integrity check. */
export class CorruptDataError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('ERR_CORRUPT_DATA', message, details, options)
  }
}

export function isR3mesError(error: unknown): error is R3mesError {
  return error instanceof R3mesError
}
