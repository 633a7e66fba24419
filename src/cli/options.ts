/** Typed reading of parsed CLI options: every bad value is an error that names the option. */
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidArgumentError } from '../runtime/errors.ts'
import type { ParsedCommandArgs } from './command.ts'

type Values = ParsedCommandArgs['values']

export function stringOption(values: Values, name: string, fallback: string): string {
  const v = values[name]
  if (v === undefined) return fallback
  if (typeof v !== 'string' || v.length === 0)
    throw new InvalidArgumentError(`--${name} needs a value`, { option: name })
  return v
}

export function intOption(
  values: Values,
  name: string,
  fallback: number,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const v = values[name]
  if (v === undefined) return fallback
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : Number.NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`--${name} must be an integer in [${min}, ${max}], got '${String(v)}'`, {
      option: name,
    })
  }
  return n
}

export function numberOption(values: Values, name: string, fallback: number, min: number, max: number): number {
  const v = values[name]
  if (v === undefined) return fallback
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new InvalidArgumentError(`--${name} must be a number in [${min}, ${max}], got '${String(v)}'`, {
      option: name,
    })
  }
  return n
}

export function listOption(values: Values, name: string): string[] {
  const v = values[name]
  if (v === undefined) return []
  return (Array.isArray(v) ? v : [v]).map(String)
}

export function oneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`${what} must be one of ${allowed.join(', ')}, got '${value}'`)
  }
  return value as T
}

/** A repeatable multiaddr option, each value parsed; one that is not a multiaddr names the option. */
export function multiaddrListOption(values: Values, name: string): string[] {
  return listOption(values, name).map((text) => {
    try {
      return multiaddr(text).toString()
    } catch (error) {
      throw new InvalidArgumentError(`--${name} '${text}' is not a multiaddr: ${(error as Error).message}`, {
        option: name,
      })
    }
  })
}

/** A `HOST:PORT` option (`[v6]:PORT` for IPv6); undefined when absent. */
export function hostPortOption(values: Values, name: string): { host: string; port: number } | undefined {
  const v = values[name]
  if (v === undefined) return undefined
  const match = typeof v === 'string' ? /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(v) : null
  const port = Number(match?.[3])
  if (match === null || port > 65_535)
    throw new InvalidArgumentError(`--${name} must be HOST:PORT (port 0 to 65535), got '${String(v)}'`, {
      option: name,
    })
  return { host: (match[1] ?? match[2]) as string, port }
}
