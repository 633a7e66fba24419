/**
 * Subcommands whose implementation lands in a later release. They are part of the command
 * surface now (so `--help` documents them) but refuse to run, with exit code 69, rather than
 * pretend to work.
 */
import { NotYetAvailableError } from '../../runtime/errors.ts'
import { type Command, ExitCode } from '../command.ts'

function planned(name: string, summary: string, usage: string, description: string): Command {
  return {
    name,
    summary: `${summary} (not yet available)`,
    usage,
    help: `${description}\n\nStatus: not yet available in this version; running it exits with code ${ExitCode.unavailable}.`,
    options: {},
    allowPositionals: true,
    async run(_args, io) {
      const error = new NotYetAvailableError(`r3mes ${name}`)
      io.err(`r3mes ${name}: ${error.message} (${error.code})`)
      return ExitCode.unavailable
    },
  }
}

export const chaosCommand = planned(
  'chaos',
  'run a testnet under scheduled faults and check the invariants',
  'r3mes chaos <scenario.yaml>',
  'Runs a testnet with a fault schedule and misbehaving peers, then checks safety and liveness invariants; exits non-zero when one breaks.',
)
