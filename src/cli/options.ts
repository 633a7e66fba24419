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

/** `value` if it is one of `allowed`; `what` names it in the error (`--flag` also sets the error's option). */
export function oneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(
      `${what} must be one of ${allowed.join(', ')}, got '${value}'`,
      what.startsWith('--') ? { option: what.slice(2) } : {},
    )
  }
  return value as T
}

/** The multiaddrs given to `--name` (repeatable), each checked; with `peer`, each must end in /p2p/<peer id>. */
export function multiaddrsOption(values: Values, name: string, options: { peer?: boolean } = {}): string[] {
  return listOption(values, name).map((text) => {
    let last: string | undefined
    try {
      last = multiaddr(text).getComponents().at(-1)?.name
    } catch (error) {
      throw new InvalidArgumentError(`--${name} '${text}' is not a multiaddr: ${(error as Error).message}`, {
        option: name,
      })
    }
    if (options.peer === true && last !== 'p2p')
      throw new InvalidArgumentError(`--${name} '${text}' must end in /p2p/<peer id>`, { option: name })
    return text
  })
}

/** A listening address: `HOST:PORT`, an IPv6 host in brackets (`[::]:8080`); port 0 is any free port. */
export interface HostPort {
  readonly host: string
  readonly port: number
}

/** `--name HOST:PORT`, or `fallback` when absent. */
export function hostPortOption(values: Values, name: string, fallback: HostPort): HostPort {
  const v = values[name]
  if (v === undefined) return fallback
  const text = typeof v === 'string' ? v.trim() : ''
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(text)
  const port = Number(match?.[2])
  if (match === null || port > 65_535)
    throw new InvalidArgumentError(
      `--${name} must be HOST:PORT (e.g. 127.0.0.1:26657, 0.0.0.0:26657, [::1]:26657; port 0 for any free port), got '${String(v)}'`,
      { option: name },
    )
  const host = (match[1] as string).startsWith('[') ? (match[1] as string).slice(1, -1) : (match[1] as string)
  return { host, port }
}

/**
 * Give `--name` an optional value: where it is not followed by a value `isValue` accepts (or
 * written `--name=VALUE`), it becomes `--name=fallback`, so `--dashboard` and
 * `--dashboard 8090` both parse. The next argument is left alone otherwise (a topology file).
 */
export function optionalValue(
  argv: readonly string[],
  name: string,
  fallback: string,
  isValue: (text: string) => boolean,
): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') {
      out.push(...argv.slice(i))
      break
    }
    if (arg !== `--${name}`) {
      out.push(arg)
      continue
    }
    const next = argv[i + 1]
    if (next !== undefined && isValue(next)) {
      out.push(`--${name}=${next}`)
      i++
    } else out.push(`--${name}=${fallback}`)
  }
  return out
}
