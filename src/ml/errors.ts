/** Typed failures of the ML engine. Bad input never yields a wrong result silently. */
import { R3mesError } from '../runtime/errors.ts'

/** A tensor's shape, dtype or length does not match what the operation needs. */
export class ShapeError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ERR_ML_SHAPE', message, details)
  }
}

/** A tensor holds NaN or ±Infinity where finite values are required. */
export class NonFiniteError extends R3mesError {
  constructor(what: string, index: number) {
    super('ERR_ML_NON_FINITE', `${what} holds a non-finite value at index ${index}`, { what, index })
  }
}

/** Serialized bytes are truncated, malformed, or do not hash to the CID they were fetched by. */
export class ArtifactError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ERR_ML_ARTIFACT', message, details)
  }
}

/** A named configuration or backend does not exist or cannot be used here. */
export class MlConfigError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ERR_ML_CONFIG', message, details)
  }
}

/**
 * A published checkpoint (config.json, safetensors, tokenizer.json) is missing, malformed or does
 * not fit its configuration. The message names the file and, where there is one, the tensor.
 */
export class CheckpointError extends R3mesError {
  constructor(message: string, details: { file?: string; tensor?: string } & Record<string, unknown> = {}) {
    super('ERR_ML_CHECKPOINT', message, details)
  }
}
