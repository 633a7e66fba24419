/**
 * Request bodies and query parameters are checked by zod schemas; this turns a refusal into
 * the 400 a client can act on: `param` names the request field at fault (the first path step
 * of the first issue, as OpenAI names fields: `stop` for a bad stop string too; null when the
 * value as a whole is wrong) and the message says what is wrong with it. Fields a schema does
 * not name are ignored.
 */
import type { z } from 'zod'
import { HttpError } from './http-server.ts'

/** `value` as `schema` reads it, or the HttpError 400 naming the first field at fault. */
export function parseRequest<Schema extends z.ZodType>(schema: Schema, value: unknown): z.output<Schema> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  if (issue === undefined) throw new HttpError(400, 'the request is not valid', { code: 'invalid_value' })
  const field = issue.path[0]
  const param = field === undefined ? undefined : String(field)
  return refuse(param, issue.message)
}

function refuse(param: string | undefined, message: string): never {
  throw new HttpError(400, param === undefined ? message : `${param}: ${message}`, {
    ...(param !== undefined ? { param } : {}),
    code: 'invalid_value',
  })
}

/** The message of a bound: `must be in [min, max], got value`. */
export function rangeMessage(min: number, max: number): (issue: { input?: unknown }) => string {
  return (issue) => `must be in [${min}, ${max}], got ${String(issue.input)}`
}

/** The message of a wrong type, naming the type given: `must be a number, got string`. */
export function typeMessage(expected: string): (issue: { input?: unknown }) => string {
  return (issue) =>
    issue.input === undefined ? 'is required' : `must be ${expected}, got ${describeType(issue.input)}`
}

function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value
}

/** Longest excerpt of a client's value an error message quotes. */
const QUOTED_VALUE_CHARS = 64

/** A client's value as an error message quotes it: JSON, cut short. */
export function quoted(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))
  return text.length > QUOTED_VALUE_CHARS ? `${text.slice(0, QUOTED_VALUE_CHARS)}…` : text
}
