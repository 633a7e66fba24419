/**
 * The body of `POST /v1/completions`, read as OpenAI defines it (the fields a byte-level model
 * can honour): `model`, `prompt` (a string or an array of one string), `max_tokens`,
 * `temperature`, `top_p`, `stop`, `seed`, `stream`, `n` (1 only). `null` means "not given", as
 * OpenAI clients send it. One zod schema checks it; every bad value is an HttpError 400 whose
 * `param` names the field (http/request-schema.ts); other fields are ignored.
 */
import { z } from 'zod'
import { parseRequest, rangeMessage, typeMessage } from '../http/request-schema.ts'

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
  /** Largest `max_tokens` accepted. @default DEFAULT_MAX_TOKENS_LIMIT */
  readonly maxTokens?: number
}

/** OpenAI's default when `max_tokens` is absent. */
export const DEFAULT_MAX_TOKENS = 16
/** The largest `max_tokens` a server takes unless told otherwise. */
export const DEFAULT_MAX_TOKENS_LIMIT = 1024
/** OpenAI accepts at most four stop sequences. */
export const MAX_STOP_STRINGS = 4

/** A field that may be absent or null (OpenAI clients send null for "not given"). */
function absentOr<Schema extends z.ZodType>(schema: Schema) {
  return schema.nullish().transform((value) => value ?? undefined)
}

function integerIn(min: number, max: number) {
  return z
    .number({ error: typeMessage('an integer') })
    .int({ error: 'must be an integer' })
    .min(min, { error: rangeMessage(min, max) })
    .max(max, { error: rangeMessage(min, max) })
}

function numberIn(min: number, max: number) {
  return z
    .number({ error: typeMessage('a number') })
    .min(min, { error: rangeMessage(min, max) })
    .max(max, { error: rangeMessage(min, max) })
}

/** A lone string is read as a list of one, so that one array schema checks both forms. */
function asList(value: unknown): unknown {
  return typeof value === 'string' ? [value] : value
}

/** A string, or an array holding exactly one (OpenAI's batch form, with a batch of one). */
const prompt = z.preprocess(
  asList,
  z
    .array(
      z
        .string({ error: 'must be a string or an array of one string' })
        .min(1, { error: 'must not be empty (the model needs at least one byte)' }),
      {
        error: (issue) =>
          issue.input === undefined || issue.input === null
            ? 'is required'
            : 'must be a string or an array of one string',
      },
    )
    .length(1, { error: (issue) => `an array must hold exactly one prompt, got ${lengthOf(issue.input)}` }),
)

const stop = z.preprocess(
  asList,
  z
    .array(z.string({ error: 'must be a string or an array of strings' }).min(1, { error: 'must not be empty' }), {
      error: 'must be a string or an array of strings',
    })
    .max(MAX_STOP_STRINGS, {
      error: (issue) => `at most ${MAX_STOP_STRINGS} stop strings, got ${lengthOf(issue.input)}`,
    }),
)

function lengthOf(value: unknown): number {
  return Array.isArray(value) ? value.length : 0
}

/** The request schema for a server that takes at most `maxTokens` tokens a completion. */
export function completionRequestSchema(limits: CompletionLimits = {}) {
  return z
    .object(
      {
        model: absentOr(z.string({ error: typeMessage('a string') })),
        prompt,
        max_tokens: absentOr(integerIn(1, limits.maxTokens ?? DEFAULT_MAX_TOKENS_LIMIT)),
        temperature: absentOr(numberIn(0, 2)),
        top_p: absentOr(numberIn(0, 1)),
        stop: absentOr(stop),
        seed: absentOr(integerIn(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)),
        stream: absentOr(z.boolean({ error: typeMessage('a boolean') })),
        // One choice per request: `n` may only say so.
        n: absentOr(integerIn(1, 1)),
      },
      { error: 'request body must be a JSON object' },
    )
    .transform(
      (body): CompletionRequest => ({
        ...(body.model !== undefined ? { model: body.model } : {}),
        prompt: body.prompt[0] as string,
        maxTokens: body.max_tokens ?? DEFAULT_MAX_TOKENS,
        temperature: body.temperature ?? 1,
        topP: body.top_p ?? 1,
        stop: body.stop ?? [],
        ...(body.seed !== undefined ? { seed: body.seed } : {}),
        stream: body.stream ?? false,
      }),
    )
}

export function parseCompletionRequest(body: unknown, limits: CompletionLimits = {}): CompletionRequest {
  return parseRequest(completionRequestSchema(limits), body)
}
