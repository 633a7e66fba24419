/**
 * How `r3mes node` reads its home's config.toml: the file's values are defaults, flags given
 * on the command line win (a list flag replaces the file's whole list). A key the file sets
 * for a flag this command does not have is refused, never dropped, and a value the node's
 * option checks refuse is reported against the file's key, not against a flag nobody typed.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { ParseArgsOptionsConfig } from 'node:util'
import { configKeyOfFlag, configToNodeFlags, readConfigFile } from '../operator/config.ts'
import { CONFIG_FILE } from '../operator/home.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import type { ParsedCommandArgs } from './command.ts'

type Values = ParsedCommandArgs['values']

/**
 * Flags that set what another flag sets, in another form: given on the command line, each
 * replaces the file's value of the other too (`--api-port N` over the file's `[api] address`).
 */
const SAME_SETTING: Readonly<Record<string, readonly string[]>> = { 'api-port': ['api-address'] }

export interface ValuesWithConfig {
  /** The option values to run with: the file's, overridden by the command line's. */
  readonly values: Values
  /** The config file read, when the home has one. */
  readonly file?: string
  /** For each flag whose value came from the file, the file's dotted key. */
  readonly fromFile: Readonly<Record<string, string>>
}

/**
 * `cli` (the parsed command line) over the values `<home>/config.toml` implies. `known` is
 * the command's option table: a file key for any other flag is an error.
 */
export function valuesWithConfig(home: string, cli: Values, known: ParseArgsOptionsConfig): ValuesWithConfig {
  const file = join(home, CONFIG_FILE)
  if (!existsSync(file)) return { values: cli, fromFile: {} }
  const flags = configToNodeFlags(readConfigFile(file), home)
  const values: Values = {}
  const fromFile: Record<string, string> = {}
  for (const [flag, value] of Object.entries(flags)) {
    const key = configKeyOfFlag(flag) ?? flag
    const option = known[flag]
    if (option === undefined) {
      throw new InvalidArgumentError(`${file}: ${key} sets --${flag}, which this version of r3mes node does not have`, {
        file,
        key,
      })
    }
    if ((option.type === 'boolean') !== (typeof value === 'boolean')) {
      throw new InvalidArgumentError(
        `${file}: ${key} must be ${option.type === 'boolean' ? 'true or false' : 'text'}`,
        {
          file,
          key,
        },
      )
    }
    const replaced = Object.entries(SAME_SETTING).some(
      ([other, flags]) => cli[other] !== undefined && flags.includes(flag),
    )
    if (cli[flag] !== undefined || replaced) continue
    values[flag] = option.multiple === true && !Array.isArray(value) ? [value as string] : value
    fromFile[flag] = key
  }
  for (const [flag, value] of Object.entries(cli)) if (value !== undefined) values[flag] = value
  return { values, file, fromFile }
}

/**
 * `read(values)`, with an option error about a value that came from the config file restated
 * as an error in that file's key: "config.toml: node.backend: --backend must be one of …".
 */
export function readAgainstConfig<T>(merged: ValuesWithConfig, read: (values: Values) => T): T {
  try {
    return read(merged.values)
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error
    const option = error.details.option
    const key = typeof option === 'string' ? merged.fromFile[option] : undefined
    if (key === undefined) throw error
    throw new InvalidArgumentError(
      `${merged.file}: ${key}: ${error.message}`,
      { ...error.details, key },
      { cause: error },
    )
  }
}
