/**
 * The `r3mes` command: dispatches to one subcommand per file under `commands/`.
 * `runCli` is pure with respect to the process (it returns an exit code and writes through
 * `io`), so tests drive it in-process.
 */
import { parseArgs } from 'node:util'
import { isR3mesError } from '../runtime/errors.ts'
import { type CliIo, type Command, ExitCode } from './command.ts'
import { chaosCommand } from './commands/chaos.ts'
import { dashboardCommand } from './commands/dashboard.ts'
import { genesisCommand } from './commands/genesis.ts'
import { inferCommand } from './commands/infer.ts'
import { initCommand } from './commands/init.ts'
import { keysCommand } from './commands/keys.ts'
import { mlCommand } from './commands/ml.ts'
import { nodeCommand } from './commands/node.ts'
import { queryCommand } from './commands/query.ts'
import { serveCommand } from './commands/serve.ts'
import { simCommand } from './commands/sim.ts'
import { testnetCommand } from './commands/testnet.ts'
import { topologyCommand } from './commands/topology.ts'
import { txCommand } from './commands/tx.ts'
import { packageVersion, versionCommand } from './commands/version.ts'

export const commands: readonly Command[] = [
  testnetCommand,
  initCommand,
  keysCommand,
  nodeCommand,
  txCommand,
  queryCommand,
  chaosCommand,
  simCommand,
  dashboardCommand,
  topologyCommand,
  genesisCommand,
  mlCommand,
  serveCommand,
  inferCommand,
  versionCommand,
]

function topLevelHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`)
  return [
    `r3mes ${packageVersion()}: useful AI training as the work behind a BFT chain`,
    '',
    'Usage: r3mes <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `r3mes <command> --help` for the options of a command.',
  ].join('\n')
}

function commandHelp(command: Command): string {
  return `Usage: ${command.usage}\n\n${command.summary}\n\n${command.help}`
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? commands.find((c) => c.name === rest[0]) : undefined
    io.out(topic === undefined ? topLevelHelp() : commandHelp(topic))
    return ExitCode.ok
  }
  if (name === '--version' || name === '-v') return versionCommand.run({ values: {}, positionals: [] }, io)

  const command = commands.find((c) => c.name === name)
  if (command === undefined) {
    io.err(`r3mes: unknown command '${name}'. Known commands: ${commands.map((c) => c.name).join(', ')}`)
    return ExitCode.usage
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(commandHelp(command))
    return ExitCode.ok
  }

  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: command.prepareArgs?.(rest) ?? [...rest],
      options: command.options,
      allowPositionals: command.allowPositionals,
      strict: true,
    })
  } catch (error) {
    io.err(`r3mes ${command.name}: ${(error as Error).message}\nUsage: ${command.usage}`)
    return ExitCode.usage
  }

  try {
    return await command.run({ values: parsed.values, positionals: parsed.positionals }, io)
  } catch (error) {
    if (isR3mesError(error)) {
      io.err(`r3mes ${command.name}: ${error.message} (${error.code})`)
      return error.code === 'ERR_INVALID_ARGUMENT' ? ExitCode.usage : ExitCode.failure
    }
    throw error
  }
}

export function processIo(signal?: AbortSignal): CliIo {
  return {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    write: (text) => process.stdout.write(text),
    progress: { isTTY: process.stderr.isTTY === true, write: (text) => process.stderr.write(text) },
    ...(signal !== undefined ? { signal } : {}),
    // The graceful handlers only run between turns of the event loop; without them the
    // signals' default action ends the process.
    blocking: () => {
      process.removeAllListeners('SIGINT')
      process.removeAllListeners('SIGTERM')
    },
  }
}
