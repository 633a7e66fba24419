/**
 * A problem found in a topology before it is tied to a file and a line: the field's path as
 * keys and indices (so the YAML source can be searched for it), what was expected and found.
 */
export type FieldPath = readonly (string | number)[]

export interface FieldProblem {
  readonly path: FieldPath
  readonly expected: string
  readonly found?: string
  /** Point at the key of the last path element rather than its value (unknown fields). */
  readonly atKey?: boolean
}

/** `['subnets', 1, 'layers']` → `subnets[1].layers`; keys that are not identifiers are quoted. */
export function formatPath(path: FieldPath): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) out += out === '' ? part : `.${part}`
    else out += `[${JSON.stringify(part)}]`
  }
  return out
}

/** A value as a user reads it in an error: short, JSON-like. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)'
  if (value === null) return 'null'
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list (${truncate(JSON.stringify(value))})`
  if (typeof value === 'object') return `a mapping (${truncate(JSON.stringify(value))})`
  if (typeof value === 'bigint') return value.toString()
  return truncate(JSON.stringify(value))
}

function truncate(text: string): string {
  return text.length <= 60 ? text : `${text.slice(0, 57)}...`
}
