/**
 * The body of `POST /v1/completions`, read as OpenAI defines it (the fields a byte-level model
 * can honour): `model`, `prompt` (a string or an array of one string), `max_tokens`,
 * `temperature`, `top_p`, `stop`, `seed`, `stream`, `n` (1 only). `null` means "not given", as
 * OpenAI clients send it. Every bad value is an HttpError 400 naming the field; other fields
 * are ignored.
 */
import { HttpError } from '../http/http-server.ts'

export interface CompletionRequest {
  readonly model?: string
  readonly prompt: string
  readonly maxTokens: number
  readonly temperature: number
  readonly topP: number
  readonly stop: readonly string[]
  readonly seed?: number
  readonly stream: boolean
}

export interface CompletionLimits {
  /** Largest `max_tokens` accepted. @default 1024 */
  readonly maxTokens?: number
}

/** OpenAI's default when `max_tokens` is absent. */
export const DEFAULT_MAX_TOKENS = 16
/** OpenAI accepts at most four stop sequences. */
export const MAX_STOP_STRINGS = 4

function bad(param: string, message: string): HttpError {
  return new HttpError(400, `${param}: ${message}`, { param, code: 'invalid_value' })
}

function optional(body: Record<string, unknown>, name: string): unknown {
  const value = body[name]
  return value === null ? undefined : value
}

function numberField(body: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const value = optional(body, name)
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value)) throw bad(name, `must be a number, got ${typeof value}`)
  if (value < min || value > max) throw bad(name, `must be in [${min}, ${max}], got ${value}`)
  return value
}

function integerField(body: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const value = optional(body, name)
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw bad(name, 'must be an integer')
  if (value < min || value > max) throw bad(name, `must be in [${min}, ${max}], got ${value}`)
  return value
}

function promptField(body: Record<string, unknown>): string {
  const value = body.prompt
  if (value === undefined || value === null) throw bad('prompt', 'is required')
  const prompt = Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value
  if (Array.isArray(value) && value.length !== 1) {
    throw bad('prompt', `an array must hold exactly one prompt, got ${value.length}`)
  }
  if (typeof prompt !== 'string') throw bad('prompt', 'must be a string or an array of one string')
  if (prompt.length === 0) throw bad('prompt', 'must not be empty (the model needs at least one byte)')
  return prompt
}

function stopField(body: Record<string, unknown>): string[] {
  const value = optional(body, 'stop')
  if (value === undefined) return []
  const list = Array.isArray(value) ? value : [value]
  if (list.length > MAX_STOP_STRINGS) throw bad('stop', `at most ${MAX_STOP_STRINGS} stop strings, got ${list.length}`)
  for (const s of list) {
    if (typeof s !== 'string') throw bad('stop', 'must be a string or an array of strings')
    if (s.length === 0) throw bad('stop', 'stop strings must not be empty')
  }
  return list as string[]
}

export function parseCompletionRequest(body: unknown, limits: CompletionLimits = {}): CompletionRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'request body must be a JSON object', { code: 'invalid_value' })
  }
  const b = body as Record<string, unknown>
  const model = optional(b, 'model')
  if (model !== undefined && typeof model !== 'string') throw bad('model', 'must be a string')
  const stream = optional(b, 'stream') ?? false
  if (typeof stream !== 'boolean') throw bad('stream', 'must be a boolean')
  // One choice per request: `n` may only say so.
  integerField(b, 'n', 1, 1)
  const maxTokens = integerField(b, 'max_tokens', 1, limits.maxTokens ?? 1024) ?? DEFAULT_MAX_TOKENS
  const seed = integerField(b, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
  return {
    ...(model !== undefined ? { model } : {}),
    prompt: promptField(b),
    maxTokens,
    temperature: numberField(b, 'temperature', 1, 0, 2),
    topP: numberField(b, 'top_p', 1, 0, 1),
    stop: stopField(b),
    ...(seed !== undefined ? { seed } : {}),
    stream,
  }
}
