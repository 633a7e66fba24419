/**
 * `r3mes` run as a real process, as a user runs it: the repository's `bin/r3mes.js` under the
 * Node.js running the tests, optionally inside a network namespace (`prefix`: the
 * `ip netns exec <ns>` a virtual LAN gives for a host).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repo = fileURLToPath(new URL('../../../', import.meta.url))
export const bin = join(repo, 'bin', 'r3mes.js')

export interface Run {
  readonly code: number
  readonly out: string
  readonly err: string
}

/**
 * The environment the processes run in: this one without the coverage collector's variable, so
 * nodes run as a user's do instead of each instrumented for coverage (which slowed them several
 * times over and pushed re-executions past their deadlines).
 */
export function userEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.NODE_V8_COVERAGE
  return env
}

export interface R3mesRunOptions {
  readonly timeoutMs: number
  /** The command the process runs under (e.g. `ip netns exec <ns>`). @default none */
  readonly prefix?: readonly string[]
  /** @default the repository */
  readonly cwd?: string
}

/** The command line of `r3mes args` under `prefix`. */
function commandLine(args: readonly string[], prefix: readonly string[] = []): [string, string[]] {
  const line = [...prefix, process.execPath, bin, ...args]
  return [line[0] as string, line.slice(1)]
}

/** `r3mes args`, run to its end. */
export function runR3mes(args: readonly string[], options: R3mesRunOptions): Promise<Run> {
  const [command, rest] = commandLine(args, options.prefix)
  return new Promise((resolve) => {
    execFile(
      command,
      rest,
      { cwd: options.cwd ?? repo, env: userEnv(), timeout: options.timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
        resolve({ code, out: stdout, err: stderr })
      },
    )
  })
}

/** `r3mes args` left running (a node), its output appended to `logFile`. */
export function spawnR3mes(
  args: readonly string[],
  options: { readonly logFile: string; readonly prefix?: readonly string[]; readonly cwd?: string },
): ChildProcess {
  const [command, rest] = commandLine(args, options.prefix)
  const log = openSync(options.logFile, 'a')
  try {
    return spawn(command, rest, { cwd: options.cwd ?? repo, env: userEnv(), stdio: ['ignore', log, log] })
  } finally {
    closeSync(log)
  }
}
