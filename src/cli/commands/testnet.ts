/** `r3mes testnet`: launch a local network from a topology file, watch it train, report. */
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TestnetFeed } from '../../dashboard/testnet-feed.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { SystemClock } from '../../runtime/system-clock.ts'
import { hostsAvailable } from '../../testnet/hosts.ts'
import { runTopologyFile } from '../../testnet/layout.ts'
import { buildReport, formatReport } from '../../testnet/report.ts'
import { type Progress, runTestnet, Testnet, type TestnetRun } from '../../testnet/testnet.ts'
import { TopologyError } from '../../topology/errors.ts'
import { expandTopology } from '../../topology/expand.ts'
import { DEFAULT_TOPOLOGY_FILE, loadTopology } from '../../topology/load.ts'
import type { NetworkPlan } from '../../topology/types.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { oneOf, stringOption } from '../options.ts'
import {
  DEFAULT_DASHBOARD_PORT,
  dashboardPort,
  startRunDashboard,
  untilInterrupted,
  withDashboardPort,
} from './dashboard.ts'

/** Load and expand a topology, printing its problems (exit 65) when it is invalid. */
export async function loadPlan(file: string, io: CliIo): Promise<NetworkPlan | number> {
  try {
    return expandTopology(await loadTopology(file))
  } catch (error) {
    if (!(error instanceof TopologyError)) throw error
    io.err(error.message)
    return ExitCode.dataError
  }
}

function progressLines(p: Progress): string[] {
  const loss = p.loss === null ? '–' : p.loss.toFixed(4)
  const nodes = p.nodes.map((n) => `${n.name}${n.up ? '' : '(down)'}:${n.height ?? '?'}`).join(' ')
  return [
    `[${(p.elapsedMs / 1000).toFixed(0)}s] height ${p.height}  window ${p.window}/${p.windows}  loss ${loss}  submissions ${p.submissions}  challenged ${p.challenges}  slashed ${p.slashed}`,
    `  ${nodes}`,
  ]
}

/** A live view on a terminal (redrawn in place), plain lines every few seconds otherwise. */
export function progressView(io: CliIo): { update(p: Progress): void; stage(stage: string, detail: string): void } {
  let drawn = 0
  let lastPlainMs = Number.NEGATIVE_INFINITY
  return {
    update(p) {
      const lines = progressLines(p)
      if (io.progress.isTTY) {
        io.progress.write(`${drawn > 0 ? `\u001b[${drawn}A` : ''}${lines.map((l) => `\u001b[2K${l}\n`).join('')}`)
        drawn = lines.length
      } else if (p.elapsedMs - lastPlainMs >= 5000) {
        lastPlainMs = p.elapsedMs
        io.progress.write(`${lines[0]}\n`)
      }
    },
    stage(stage, detail) {
      drawn = 0
      io.progress.write(`testnet: ${stage}: ${detail}\n`)
    },
  }
}

/** With --hosts where namespaces cannot be made: says why and gives the exit code (69). */
export function hostsRefused(command: string, args: ParsedCommandArgs, io: CliIo): number | undefined {
  if (args.values.hosts !== true) return undefined
  const available = hostsAvailable()
  if (available.ok) return undefined
  io.err(`r3mes ${command}: --hosts needs network namespaces, and ${available.reason}`)
  return ExitCode.unavailable
}

const STAGES = ['setup', 'start', 'run', 'stop', 'cleanup'] as const

/**
 * Every stage in order with the progress view, for `testnet` and (with `chaos`) `r3mes chaos`;
 * with `--dashboard`, the live page follows the run from its setup on. Once the report is
 * printed, `finish` keeps the page up (showing the run's last state) until Ctrl-C.
 */
export async function runAllStages(
  plan: NetworkPlan,
  args: ParsedCommandArgs,
  io: CliIo,
  chaos: boolean,
): Promise<TestnetRun & { finish(): Promise<void> }> {
  const clock = new SystemClock()
  const kind = chaos ? 'chaos' : 'testnet'
  const dir = stringOption(args.values, 'dir', join(tmpdir(), `r3mes-${kind}-${plan.topology.name}-${clock.nowMs()}`))
  const view = progressView(io)
  const port = dashboardPort(args)
  const feed = new TestnetFeed({ clock })
  const dashboard =
    port === undefined ? undefined : await startRunDashboard(`${kind} ${plan.topology.name}`, kind, port, feed, io)
  try {
    const result = await runTestnet(plan, {
      dir,
      clock,
      keep: args.values.keep === true,
      logLevel: stringOption(args.values, 'log-level', 'info'),
      hosts: args.values.hosts === true,
      signal: io.signal,
      chaos,
      onProgress: (p) => view.update(p),
      onStage: (s, d) => {
        feed.setStage(s)
        view.stage(s, d)
      },
      onTestnet: (net) => feed.attach(net),
      onInvariants: (results) => feed.setInvariants(results),
    })
    feed.setStage(result.interrupted ? 'interrupted' : 'done')
    return {
      ...result,
      async finish() {
        if (dashboard === undefined) return
        if (!result.interrupted) {
          await dashboard.refresh()
          io.progress.write(`dashboard: the run's last state stays at ${dashboard.url}; Ctrl-C to exit\n`)
          await untilInterrupted(io)
        }
        await dashboard.close()
      },
    }
  } catch (error) {
    await dashboard?.close()
    throw error
  }
}

async function run(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const stage = args.values.stage
  if (stage !== undefined && args.values.dashboard !== undefined)
    throw new InvalidArgumentError('--dashboard follows a whole run: it cannot be used with --stage')
  if (stage !== undefined && args.values.hosts === true)
    throw new InvalidArgumentError('--hosts runs every stage in one command: it cannot be used with --stage')
  const refused = hostsRefused('testnet', args, io)
  if (refused !== undefined) return refused
  if (stage !== undefined) return runStage(oneOf(String(stage), STAGES, '--stage'), args, io)
  const [file = DEFAULT_TOPOLOGY_FILE, ...extra] = args.positionals
  if (extra.length > 0) throw new InvalidArgumentError(`unexpected arguments: ${extra.join(' ')}`)
  const plan = await loadPlan(file, io)
  if (typeof plan === 'number') return plan
  const result = await runAllStages(plan, args, io, false)
  io.out(formatReport(result.report))
  if (args.values.keep === true) io.out(`  run folder (logs, stores): ${result.layout.dir}`)
  const jsonFile = args.values.json
  if (typeof jsonFile === 'string') writeFileSync(jsonFile, `${JSON.stringify(result.report, null, 2)}\n`)
  await result.finish()
  if (result.interrupted) return 130
  return result.report.finished ? ExitCode.ok : ExitCode.failure
}

/**
 * One stage on its own, on a run folder (`--dir`, required): `setup` makes it from a topology
 * file; `start` starts its nodes and leaves them running; `run` watches them train (firing
 * the fault schedule) and reports; `stop` stops them; `cleanup` removes the folder.
 */
async function runStage(stage: (typeof STAGES)[number], args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const dir = stringOption(args.values, 'dir', '')
  if (dir === '') throw new InvalidArgumentError(`--stage ${stage} needs --dir DIR, the run folder`)
  const [given, ...extra] = args.positionals
  if (extra.length > 0) throw new InvalidArgumentError(`unexpected arguments: ${extra.join(' ')}`)
  if (stage !== 'setup' && given !== undefined)
    throw new InvalidArgumentError(`--stage ${stage} takes the topology from the run folder, not ${given}`)
  if (stage === 'cleanup') {
    runTopologyFile(dir) // refuses a folder that is not a run folder
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
    io.out(`removed ${dir}`)
    return ExitCode.ok
  }
  const file = stage === 'setup' ? (given ?? DEFAULT_TOPOLOGY_FILE) : runTopologyFile(dir)
  const plan = await loadPlan(file, io)
  if (typeof plan === 'number') return plan
  const view = progressView(io)
  const net = new Testnet(plan, {
    dir,
    clock: new SystemClock(),
    logLevel: stringOption(args.values, 'log-level', 'info'),
    signal: io.signal,
    onProgress: (p) => view.update(p),
    onStage: (s, d) => view.stage(s, d),
  })
  if (stage === 'setup') {
    const layout = await net.setup()
    io.out(`set up ${layout.nodes.length} nodes in ${layout.dir}; next: r3mes testnet --stage start --dir ${dir}`)
    return ExitCode.ok
  }
  const running = net.attach()
  if (stage === 'start') {
    if (running.length > 0) throw new InvalidArgumentError(`nodes already running in ${dir}: ${running.join(', ')}`)
    await net.start({ detached: true })
    io.out(`started ${net.nodes.length} nodes; next: r3mes testnet --stage run --dir ${dir}`)
    return ExitCode.ok
  }
  if (stage === 'stop') {
    await net.stop()
    io.out(`stopped ${running.length} nodes`)
    return ExitCode.ok
  }
  if (running.length === 0) throw new InvalidArgumentError(`no node of ${dir} is running: run --stage start first`)
  const finished = await net.run()
  const report = await buildReport(net, finished)
  io.out(formatReport(report))
  const jsonFile = args.values.json
  if (typeof jsonFile === 'string') writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`)
  if (io.signal?.aborted === true) return 130
  return finished ? ExitCode.ok : ExitCode.failure
}

export const testnetCommand: Command = {
  name: 'testnet',
  summary: 'launch a local multi-node network from a topology file',
  usage:
    'r3mes testnet [topology.yaml] [--json FILE] [--dir DIR] [--keep] [--hosts] [--dashboard [PORT]] [--stage STAGE]',
  help: `Launches the network a topology file describes (default: the embedded
topology/default.yaml), one process per node on loopback, shows its progress (height,
window, held-out loss, submissions, disputes), and ends with a report. Ctrl-C stops every
node cleanly. Stages: setup (homes, keys, genesis, ports), start, run, stop, cleanup; with
--stage each runs on its own on the run folder --dir (start leaves the nodes running, run
watches them and reports, stop stops them).

Options:
  --json FILE        also write the report as JSON (fields include windows, lossPerWindow,
                     honestSlashed, cheatersSlashed)
  --dir DIR          run folder (default: a new folder under the system temp folder)
  --keep             keep the run folder (node logs, stores) afterwards
  --log-level LEVEL  node log level in the run folder (default info)
  --hosts            run each node in its own network namespace with its own address on a
                     virtual LAN (ip netns + veth, made by the run and removed after; needs
                     root and iproute2, refuses otherwise)
  --dashboard [PORT] serve a live page of the run on http://127.0.0.1:PORT (default
                     ${DEFAULT_DASHBOARD_PORT}; 0: any free port), as \`r3mes dashboard\` does, plus the
                     run's stage; it stays up after the report until Ctrl-C
  --stage STAGE      run one stage alone: setup [topology.yaml], start, run, stop, cleanup
                     (each needs --dir)`,
  options: {
    stage: { type: 'string' },
    json: { type: 'string' },
    dir: { type: 'string' },
    keep: { type: 'boolean' },
    hosts: { type: 'boolean' },
    'log-level': { type: 'string' },
    dashboard: { type: 'string' },
  },
  allowPositionals: true,
  prepareArgs: withDashboardPort,
  run,
}
