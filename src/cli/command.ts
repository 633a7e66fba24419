/**
 * The shape of a `r3mes` subcommand. Each subcommand lives in its own file under
 * `commands/`, declares its options for `node:util` `parseArgs`, and returns an exit code.
 */
import type { ParseArgsOptionsConfig } from 'node:util'

/** Exit codes, following BSD sysexits where one fits. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 64,
  dataError: 65,
  unavailable: 69,
} as const

export interface CliIo {
  out(text: string): void
  err(text: string): void
  /**
   * Standard output without an added newline, for text that arrives in pieces (a streamed
   * completion). Commands print the pieces joined with `out` at the end when it is absent.
   */
  write?(text: string): void
  /** Where progress bars go (standard error for the process). */
  readonly progress: { readonly isTTY: boolean; write(text: string): void }
  /** Aborted when the user interrupts (Ctrl-C). */
  readonly signal?: AbortSignal
  /**
   * Called by a command before work that runs without returning to the event loop (a
   * simulation), which could never see `signal`: from then on an interrupt or SIGTERM ends the
   * process at once instead of waiting for the work to look.
   */
  readonly blocking?: () => void
}

export interface Command {
  readonly name: string
  /** One line for the command list. */
  readonly summary: string
  /** Usage line(s) after `r3mes <name>`. */
  readonly usage: string
  /** Longer help text shown by `--help`, options included. */
  readonly help: string
  readonly options: ParseArgsOptionsConfig
  /** Whether positional arguments are accepted. */
  readonly allowPositionals: boolean
  /** Rewrite the arguments before they are parsed (an option with an optional value). */
  prepareArgs?(argv: readonly string[]): string[]
  run(args: ParsedCommandArgs, io: CliIo): Promise<number>
}

export interface ParsedCommandArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>
  positionals: string[]
}
