/**
 * Canonical JSON: object keys sorted at every depth (by UTF-16 code units, as `Array#sort`),
 * no spaces, numbers and strings as `JSON.stringify` writes them. One value, one string, so the
 * bytes can be hashed and signed: transactions, chain state, evidence and tensor-bundle
 * metadata all use it.
 */
import { NonCanonicalValueError } from './errors.ts'

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** The canonical text of `value`; throws NonCanonicalValueError on a non-finite number. */
export function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort()
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] as JsonValue)}`).join(',')}}`
  }
  // JSON.stringify writes NaN and ±Infinity as null, so two values would share one encoding.
  if (typeof value === 'number' && !Number.isFinite(value))
    throw new NonCanonicalValueError(`canonical JSON cannot hold the non-finite number ${value}`, {
      value: String(value),
    })
  return JSON.stringify(value)
}
