/**
 * zod's issues, in the words of a topology error: what the field must hold and what the file
 * has there. Unknown fields list the known ones and suggest the closest ("did you mean").
 */
import { closestMatch } from 'leven'
import type { z } from 'zod'
import { describeValue, type FieldPath, type FieldProblem } from './problems.ts'
import { CHAIN_LEVEL_PARAMS, FAULT_ACTIONS } from './schema.ts'

type Issue = z.core.$ZodIssue
type RawIssue = z.core.$ZodRawIssue

const TYPE_WORDS: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  tuple: 'a list',
  record: 'a mapping',
}

/** Per-parse error map: the expected phrase for issues whose schema gives no message of its own. */
export function expectedPhrase(issue: RawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return TYPE_WORDS[issue.expected] ?? issue.expected
    case 'too_small':
      return issue.origin === 'array' ? `at least ${issue.minimum} entries` : `a value ≥ ${issue.minimum}`
    case 'too_big':
      return issue.origin === 'array' ? `at most ${issue.maximum} entries` : `a value ≤ ${issue.maximum}`
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`
    default:
      return 'a valid value'
  }
}

/** One or more problems for one zod issue; `root` is the schema, `data` the parsed YAML. */
export function problemsOf(issue: Issue, root: z.ZodType, data: unknown): FieldProblem[] {
  const path = issue.path as FieldPath
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(root, data, path)
    return issue.keys.map((key) => ({ path: [...path, key], atKey: true, ...unknownKey(path, key, known) }))
  }
  const input = (issue as { input?: unknown }).input
  if (issue.code === 'invalid_union' && 'discriminator' in issue && typeof issue.discriminator === 'string') {
    // zod may report the entry or its discriminator field; the input is the entry either way.
    const atField = path[path.length - 1] === issue.discriminator
    const value =
      input !== null && typeof input === 'object' ? (input as Record<string, unknown>)[issue.discriminator] : input
    return [
      {
        path: atField ? path : [...path, issue.discriminator],
        expected: issue.message,
        found: withSuggestion(value, FAULT_ACTIONS),
      },
    ]
  }
  if (issue.code === 'invalid_value') {
    return [{ path, expected: issue.message, found: withSuggestion(input, issue.values.map(String)) }]
  }
  return [{ path, expected: issue.message, found: describeValue(input) }]
}

function withSuggestion(value: unknown, known: readonly string[]): string {
  const suggestion = typeof value === 'string' ? closestMatch(value, known, { maxDistance: 3 }) : undefined
  return `${describeValue(value)}${suggestion === undefined ? '' : ` (did you mean '${suggestion}'?)`}`
}

/** Lists longer than this are not spelled out in an error; the docs list them. */
const MOST_FIELDS_LISTED = 12

function unknownKey(path: FieldPath, key: string, known: readonly string[]): { expected: string; found: string } {
  if (path.join('.') === 'chain.params' && (CHAIN_LEVEL_PARAMS as readonly string[]).includes(key)) {
    return { expected: `no ${key} here: set it as chain.${key}`, found: `'${key}'` }
  }
  const suggestion = closestMatch(key, known, { maxDistance: Math.max(2, Math.floor(key.length / 3)) })
  const hint = suggestion === undefined ? '' : ` (did you mean '${suggestion}'?)`
  return {
    expected:
      known.length === 0
        ? 'no field here'
        : known.length > MOST_FIELDS_LISTED
          ? `one of the ${known.length} known fields here (docs/TOPOLOGY.md lists them)`
          : `one of the fields ${known.join(', ')}`,
    found: `the unknown field '${key}'${hint}`,
  }
}

interface SchemaDef {
  readonly type: string
  readonly shape?: Record<string, z.ZodType>
  readonly innerType?: z.ZodType
  readonly in?: z.ZodType
  readonly element?: z.ZodType
  readonly items?: readonly z.ZodType[]
  readonly valueType?: z.ZodType
  readonly options?: readonly z.ZodType[]
}

function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def
}

/** Field names of the object schema at `path`, following the data through unions. */
export function knownKeys(schema: z.ZodType, data: unknown, path: FieldPath): string[] {
  let s: z.ZodType | undefined = schema
  let d: unknown = data
  let i = 0
  while (s !== undefined) {
    const def = defOf(s)
    if (def.innerType !== undefined) s = def.innerType
    else if (def.type === 'pipe') s = def.in
    else if (def.options !== undefined) s = def.options.find((o) => matches(o, d)) ?? def.options[0]
    else if (i === path.length) return def.shape === undefined ? [] : Object.keys(def.shape)
    else {
      const part = path[i++] as string | number
      d = (d as Record<string | number, unknown> | undefined)?.[part]
      if (def.type === 'object') s = def.shape?.[String(part)]
      else if (def.type === 'array') s = def.element
      else if (def.type === 'tuple') s = def.items?.[part as number]
      else if (def.type === 'record') s = def.valueType
      else return []
    }
  }
  return []
}

/** Whether `data` picks this union member: its literal fields agree, or (without literals) it shares a key. */
function matches(option: z.ZodType, data: unknown): boolean {
  const shape = defOf(option).shape
  if (shape === undefined || data === null || typeof data !== 'object') return false
  const record = data as Record<string, unknown>
  const literals = Object.entries(shape).filter(([, field]) => defOf(field).type === 'literal')
  if (literals.length > 0) {
    return literals.every(
      ([key, field]) => (defOf(field) as { values?: unknown[] }).values?.includes(record[key]) === true,
    )
  }
  return Object.keys(shape).some((key) => key in record)
}
