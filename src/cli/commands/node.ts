/** `r3mes node`: run one peer with the roles it is given, until interrupted. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { readAdminToken } from '../../actors/http/admin-access.ts'
import { startNode } from '../../actors/node.ts'
import { NodeApi } from '../../actors/node-api.ts'
import { nodeApiBackend } from '../../actors/node-api-backend.ts'
import { parseGenesis } from '../../chain/genesis.ts'
import { sleep } from '../../runtime/clock.ts'
import { writeFileDurable } from '../../runtime/durable-file.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { createLogger } from '../../runtime/logger.ts'
import { SeededRandom } from '../../runtime/random.ts'
import { SkewedClock } from '../../runtime/skewed-clock.ts'
import { SystemClock } from '../../runtime/system-clock.ts'
import { MISBEHAVIOURS, type Misbehaviour, NODE_ROLES, type NodeRole, parseMisbehaviour } from '../../topology/roles.ts'
import { BACKENDS } from '../../topology/schema.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { type HostPort, hostPortOption, intOption, listOption, numberOption, oneOf, stringOption } from '../options.ts'

/** Where the API listens: `--api-address HOST:PORT`, or the older `--api-port N` on the loopback. */
function apiAddress(v: ParsedCommandArgs['values']): HostPort {
  if (v['api-address'] !== undefined && v['api-port'] !== undefined)
    throw new InvalidArgumentError('give --api-address HOST:PORT or --api-port N, not both', { option: 'api-port' })
  if (v['api-port'] !== undefined) return { host: '127.0.0.1', port: intOption(v, 'api-port', 0, 0, 65_535) }
  return hostPortOption(v, 'api-address', { host: '127.0.0.1', port: 0 })
}

function readGenesis(path: string) {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new InvalidArgumentError(`cannot read the genesis file ${path}: ${(error as Error).message}`)
  }
  return parseGenesis(json)
}

async function run(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const v = args.values
  const home = stringOption(v, 'home', '')
  if (home === '') throw new InvalidArgumentError('--home DIR is required: the node keeps its key and stores there')
  const genesis = readGenesis(stringOption(v, 'genesis', join(home, 'genesis.json')))
  const roles = listOption(v, 'role')
    .flatMap((r) => r.split(','))
    .map((r) => oneOf(r.trim(), NODE_ROLES, '--role'))
  if (roles.length === 0) throw new InvalidArgumentError(`--role is required: some of ${NODE_ROLES.join(', ')}`)
  // Read before the node starts: a bad token file stops here, with nothing to shut down.
  const tokenFile = stringOption(v, 'admin-token-file', '')
  const adminToken = tokenFile === '' ? undefined : readAdminToken(tokenFile)
  const api = apiAddress(v)
  // The admin Host check admits the loopback names only, wherever the API listens: a name the
  // node is reached by from elsewhere is added only when the operator names it.
  const adminHosts = listOption(v, 'admin-host').map((h) => h.trim().toLowerCase())
  for (const h of adminHosts)
    if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/.test(h))
      throw new InvalidArgumentError(`--admin-host must be a host name or address without a port, got '${h}'`, {
        option: 'admin-host',
      })
  if (adminHosts.length > 0 && adminToken === undefined)
    throw new InvalidArgumentError('--admin-host needs --admin-token-file: the admin routes are off without a token', {
      option: 'admin-host',
    })
  const misbehaviours: Misbehaviour[] = listOption(v, 'misbehave').map(parseMisbehaviour)
  const base = new SystemClock()
  const clock = new SkewedClock(base)
  const level = oneOf(stringOption(v, 'log-level', 'info'), ['debug', 'info', 'warn', 'error', 'silent'], '--log-level')
  const name = stringOption(v, 'name', 'node')
  const components = {
    clock,
    random: new SeededRandom(intOption(v, 'seed', 1, 0)),
    logger: createLogger({ name, level, clock }),
  }
  const subnet = v.subnet === undefined ? undefined : intOption(v, 'subnet', 0, 0, 1023)
  const node = await startNode(
    {
      home,
      ...(subnet === undefined ? {} : { subnet }),
      genesis,
      roles: roles as NodeRole[],
      listen: listOption(v, 'listen').length > 0 ? listOption(v, 'listen') : undefined,
      bootstrap: listOption(v, 'bootstrap'),
      backend: oneOf(stringOption(v, 'backend', 'auto'), BACKENDS, '--backend'),
      challengeFraction: numberOption(v, 'challenge-fraction', 0.25, 0, 1),
      misbehaviours,
      modelDir: typeof v.model === 'string' ? v.model : undefined,
      gossip: { heartbeatMs: intOption(v, 'heartbeat-ms', 700, 50, 10_000) },
    },
    components,
  )
  const staker = node.reader.staker(node.address)
  if (subnet !== undefined && roles.includes('miner') && staker?.subnet !== subnet) {
    await node.stop()
    throw new InvalidArgumentError(
      `--subnet ${subnet} does not match the chain: ${node.address} trains subnet ${staker?.subnet ?? 'none'}`,
    )
  }
  const nodeApi = new NodeApi({
    backend: nodeApiBackend(node, clock),
    components,
    host: api.host,
    port: api.port,
    ...(adminToken === undefined ? {} : { admin: { token: adminToken, hosts: adminHosts } }),
  })
  const apiUrl = await nodeApi.listen()
  const ready = {
    name,
    address: node.address,
    peerId: node.net.peerId.toString(),
    multiaddrs: node.net.multiaddrs().map((m) => m.toString()),
    api: apiUrl,
    roles,
    backend: node.training.kernels.name,
  }
  io.out(JSON.stringify(ready))
  // Written whole or not at all: a reader polls for the file and parses it the moment it appears.
  if (typeof v['ready-file'] === 'string')
    writeFileDurable(v['ready-file'], new TextEncoder().encode(`${JSON.stringify(ready)}\n`))
  // Run until interrupted (Ctrl-C, or the testnet stopping this process).
  while (io.signal?.aborted !== true) {
    await sleep(base, 500).catch(() => {})
  }
  await nodeApi.close()
  await node.stop()
  return ExitCode.ok
}

export const nodeCommand: Command = {
  name: 'node',
  summary: 'run one peer with the roles its configuration names',
  usage: 'r3mes node --home DIR [--genesis FILE] --role ROLE[,ROLE] [--bootstrap MULTIADDR]... [options]',
  help: `Runs one R3MES peer over libp2p until interrupted. It prints one JSON line when ready
(address, peer id, listen addresses, API URL) and serves its HTTP API (on the loopback
unless --api-address names another interface): GET /status, /events, /chain/history,
/query/<path>, /tx/<id>, /metrics (Prometheus) and POST /tx (signed transactions, as r3mes tx
sends them); POST /admin/faults only with --admin-token-file, and then only with that token as
a bearer token and a loopback Host (or one named by --admin-host).

Options:
  --home DIR              the node's folder: key (node.key), stores, WAL (required)
  --genesis FILE          the chain's genesis JSON (default DIR/genesis.json)
  --role ROLE             repeat or comma-separate: ${NODE_ROLES.join(', ')}
  --subnet K              the subnet a subnet peer seeds; for a miner, check that the chain has it training K
  --listen MULTIADDR      repeatable (default /ip4/127.0.0.1/tcp/0)
  --bootstrap MULTIADDR   repeatable: peers to dial at start (with /p2p/<id>)
  --api-address HOST:PORT where the HTTP API listens (default 127.0.0.1:0, any free port);
                          0.0.0.0:PORT or [::]:PORT serves every interface
  --api-port N            the same as --api-address 127.0.0.1:N
  --admin-host NAME       repeatable: a Host name (besides the loopback) the admin routes
                          answer to, e.g. the name the node is reached by; needs the token
  --admin-token-file FILE enable the admin routes (fault injection, for tests), for requests
                          that carry the token in FILE (written mode 0600 by r3mes testnet)
  --model DIR             publish this backbone folder (it must be the genesis model)
  --backend NAME          kernels to train and re-execute with: \${BACKENDS.join(', ')} (default auto)
  --challenge-fraction F  share of submissions a challenger re-executes (default 0.25)
  --misbehave NAME        for tests only: ${MISBEHAVIOURS.join(', ')}
  --ready-file FILE       also write the ready line to FILE
  --name NAME             name in the logs (default node)
  --seed N                seed of the node's own draws: injected faults, misbehaviours (default 1)
  --heartbeat-ms N        gossipsub heartbeat, 50 to 10000 (default 700)
  --log-level LEVEL       debug, info, warn, error or silent (default info)`,
  options: {
    home: { type: 'string' },
    genesis: { type: 'string' },
    role: { type: 'string', multiple: true },
    subnet: { type: 'string' },
    listen: { type: 'string', multiple: true },
    bootstrap: { type: 'string', multiple: true },
    'api-port': { type: 'string' },
    'api-address': { type: 'string' },
    'admin-host': { type: 'string', multiple: true },
    'admin-token-file': { type: 'string' },
    model: { type: 'string' },
    backend: { type: 'string' },
    'challenge-fraction': { type: 'string' },
    misbehave: { type: 'string', multiple: true },
    'ready-file': { type: 'string' },
    name: { type: 'string' },
    seed: { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    'log-level': { type: 'string' },
  },
  allowPositionals: false,
  run,
}
