/**
 * `r3mes dashboard --nodes URL…`: the live network page (src/dashboard/) for nodes started by
 * hand, and the `--dashboard [PORT]` option `r3mes testnet` and `r3mes chaos` share.
 */
import { DashboardCollector } from '../../dashboard/collector.ts'
import { httpNode } from '../../dashboard/node-source.ts'
import { type RunningDashboard, startDashboard } from '../../dashboard/server.ts'
import type { TestnetFeed } from '../../dashboard/testnet-feed.ts'
import { createRuntimeComponents } from '../../runtime/components.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { MAX_DASHBOARD_NODES } from '../../runtime/limits.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { parseNodeUrl } from '../node-client.ts'
import { intOption, listOption, optionalValue, stringOption } from '../options.ts'

/** The port the page is served on when `--dashboard` or `--port` names none. */
export const DEFAULT_DASHBOARD_PORT = 8090

/** `--dashboard` with no port: the default one. */
export function withDashboardPort(argv: readonly string[]): string[] {
  return optionalValue(argv, 'dashboard', String(DEFAULT_DASHBOARD_PORT), (text) => /^[0-9]+$/.test(text))
}

/** The `--dashboard` port, or undefined when the option is absent. */
export function dashboardPort(args: ParsedCommandArgs): number | undefined {
  if (args.values.dashboard === undefined) return undefined
  return intOption(args.values, 'dashboard', DEFAULT_DASHBOARD_PORT, 0, 65_535)
}

/** The node URLs of `--nodes` (repeatable, or comma-separated), each checked. */
export function nodeUrls(args: ParsedCommandArgs): string[] {
  const given = listOption(args.values, 'nodes').flatMap((v) => v.split(','))
  const urls = given.map((text) => text.trim()).filter((text) => text !== '')
  if (urls.length === 0)
    throw new InvalidArgumentError(
      '--nodes URL is required: the API of each node to follow, e.g. http://127.0.0.1:26657',
      {
        option: 'nodes',
      },
    )
  if (urls.length > MAX_DASHBOARD_NODES)
    throw new InvalidArgumentError(
      `--nodes names ${urls.length} nodes; a dashboard follows at most ${MAX_DASHBOARD_NODES}`,
      {
        option: 'nodes',
      },
    )
  const checked = urls.map((text) => {
    try {
      return parseNodeUrl(text)
    } catch {
      throw new InvalidArgumentError(
        `--nodes: '${text}' is not the URL of a node's API (http:// or https://, a host, no query), e.g. http://127.0.0.1:26657`,
        { option: 'nodes' },
      )
    }
  })
  const twice = checked.find((url, i) => checked.indexOf(url) !== i)
  if (twice !== undefined) throw new InvalidArgumentError(`--nodes names ${twice} twice`, { option: 'nodes' })
  return checked
}

/** Wait for Ctrl-C (at once when there is no signal to wait on: in-process runs). */
export function untilInterrupted(io: CliIo): Promise<void> {
  return new Promise<void>((resolve) => {
    if (io.signal === undefined || io.signal.aborted) resolve()
    else io.signal.addEventListener('abort', () => resolve(), { once: true })
  })
}

/** The dashboard of a testnet or chaos run on `port` (loopback), following what `feed` is given. */
export async function startRunDashboard(
  title: string,
  kind: 'testnet' | 'chaos',
  port: number,
  feed: TestnetFeed,
  io: CliIo,
): Promise<RunningDashboard> {
  const components = createRuntimeComponents({ name: 'dashboard', logLevel: 'warn' })
  const collector = new DashboardCollector({ title, kind, nodes: () => feed.nodes(), run: feed }, components)
  const dashboard = await startDashboard({ collector, port }, components)
  io.progress.write(`dashboard: ${dashboard.url}\n`)
  return dashboard
}

async function run(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  if (args.positionals.length > 0)
    throw new InvalidArgumentError(`unexpected arguments: ${args.positionals.join(' ')} (give nodes with --nodes URL)`)
  const urls = nodeUrls(args)
  const port = intOption(args.values, 'port', DEFAULT_DASHBOARD_PORT, 0, 65_535)
  const host = stringOption(args.values, 'host', '127.0.0.1')
  const components = createRuntimeComponents({ name: 'dashboard', logLevel: 'warn' })
  const collector = new DashboardCollector(
    {
      title: stringOption(args.values, 'title', 'R3MES network'),
      kind: 'nodes',
      nodes: urls.map((url) => httpNode(url, components)),
    },
    components,
  )
  const dashboard = await startDashboard({ collector, host, port }, components)
  io.out(`dashboard of ${urls.length} node${urls.length === 1 ? '' : 's'} at ${dashboard.url} (Ctrl-C to stop)`)
  await untilInterrupted(io)
  await dashboard.close()
  return ExitCode.ok
}

export const dashboardCommand: Command = {
  name: 'dashboard',
  summary: 'serve a live page of a network: heights, windows, pipelines, disputes, loss',
  usage: 'r3mes dashboard --nodes URL [--nodes URL…] [--port N] [--host H] [--title TEXT]',
  help: `Serves a web page that follows running nodes through their HTTP APIs and updates once a
second (server-sent events): each node's height, block interval, peers and roles, the
proposer; the current window's tasks and each shard's pipeline across the subnets (which
miner sends activations to which), commits, reveals and claims; disputes through L2 and L3
with their parties, bonds, stakes and slashes; held-out loss per window (from a serving
node) and tokens trained per second as charts. A node that stops answering shows as down.
Everything the page needs is served by this command: nothing is fetched from elsewhere.
For a local testnet use \`r3mes testnet --dashboard [PORT]\` or \`r3mes chaos --dashboard [PORT]\`.

Options:
  --nodes URL     a node's API, e.g. http://127.0.0.1:26657 (repeat, or separate with commas)
  --port N        port to serve the page on (default ${DEFAULT_DASHBOARD_PORT}; 0: any free port)
  --host H        address to serve it on (default 127.0.0.1)
  --title TEXT    the page's title (default "R3MES network")`,
  options: {
    nodes: { type: 'string', multiple: true },
    port: { type: 'string' },
    host: { type: 'string' },
    title: { type: 'string' },
  },
  allowPositionals: true,
  run,
}
