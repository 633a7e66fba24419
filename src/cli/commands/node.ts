/** `r3mes node`: run one peer with the roles it is given, until interrupted. */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  DEFAULT_GC_INTERVAL_BLOCKS,
  DEFAULT_SNAPSHOT_INTERVAL_BLOCKS,
  type StorageOptions,
} from '../../actors/chain-node.ts'
import { readAdminToken } from '../../actors/http/admin-access.ts'
import { startNode } from '../../actors/node.ts'
import { NodeApi } from '../../actors/node-api.ts'
import { nodeApiBackend } from '../../actors/node-api-backend.ts'
import { parseGenesis } from '../../chain/genesis.ts'
import {
  ACCOUNT_KEYSTORE_FILE,
  CONFIG_FILE,
  GENESIS_FILE,
  loadOperatorKeys,
  type OperatorKeys,
} from '../../operator/home.ts'
import { readPassphraseFile } from '../../operator/keystore.ts'
import { sleep } from '../../runtime/clock.ts'
import { writeFileDurable } from '../../runtime/durable-file.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { MAX_TRACE_STEPS } from '../../runtime/limits.ts'
import { createLogger } from '../../runtime/logger.ts'
import { SeededRandom } from '../../runtime/random.ts'
import { SkewedClock } from '../../runtime/skewed-clock.ts'
import { SystemClock } from '../../runtime/system-clock.ts'
import {
  DEFAULT_CHALLENGE_FRACTION,
  DEFAULT_SPOT_STEPS,
  MISBEHAVIOURS,
  type Misbehaviour,
  NODE_ROLES,
  type NodeRole,
  parseMisbehaviour,
} from '../../topology/roles.ts'
import { BACKENDS } from '../../topology/schema.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { readAgainstConfig, valuesWithConfig } from '../node-config.ts'
import {
  type HostPort,
  hostPortOption,
  intOption,
  listOption,
  multiaddrsOption,
  numberOption,
  oneOf,
  stringOption,
} from '../options.ts'

/** Where the API listens: `--api-address HOST:PORT`, or the older `--api-port N` on the loopback. */
function apiAddress(v: ParsedCommandArgs['values']): HostPort {
  if (v['api-address'] !== undefined && v['api-port'] !== undefined)
    throw new InvalidArgumentError('give --api-address HOST:PORT or --api-port N, not both', { option: 'api-port' })
  if (v['api-port'] !== undefined) return { host: '127.0.0.1', port: intOption(v, 'api-port', 0, 0, 65_535) }
  return hostPortOption(v, 'api-address', { host: '127.0.0.1', port: 0 })
}

/** The extra Host names the admin routes answer to (`--admin-host`), each checked. */
function adminHostsOption(v: ParsedCommandArgs['values'], adminTokenFile: string | undefined): string[] {
  // The admin Host check admits the loopback names only, wherever the API listens: a name the
  // node is reached by from elsewhere is added only when the operator names it.
  const adminHosts = listOption(v, 'admin-host').map((h) => h.trim().toLowerCase())
  for (const h of adminHosts)
    if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/.test(h))
      throw new InvalidArgumentError(`--admin-host must be a host name or address without a port, got '${h}'`, {
        option: 'admin-host',
      })
  if (adminHosts.length > 0 && adminTokenFile === undefined)
    throw new InvalidArgumentError('--admin-host needs --admin-token-file: the admin routes are off without a token', {
      option: 'admin-host',
    })
  return adminHosts
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

/** Every option of `r3mes node`, read and checked before anything is opened or started. */
export interface NodeOptions {
  readonly genesisFile: string
  readonly roles: NodeRole[]
  readonly adminTokenFile?: string
  readonly passphraseFile?: string
  readonly misbehaviours: Misbehaviour[]
  readonly level: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  readonly name: string
  readonly seed: number
  readonly subnet?: number
  readonly listen?: string[]
  /** Addresses announced instead of the listen addresses. */
  readonly announce: string[]
  /** The network is a LAN: the DHT keeps private addresses. */
  readonly lan: boolean
  /** Serve as a circuit relay. */
  readonly relay: boolean
  /** Also serve the HTTP API on this Unix socket. */
  readonly apiSocket?: string
  readonly bootstrap: string[]
  readonly backend: (typeof BACKENDS)[number]
  readonly challengeFraction: number
  /** Inner steps of a task a challenger re-executes (0: the whole task). */
  readonly spotSteps: number
  readonly modelDir?: string
  readonly heartbeatMs: number
  /** Where the HTTP API listens. */
  readonly api: HostPort
  /** Host names besides the loopback's the admin routes answer to. */
  readonly adminHosts: string[]
  readonly readyFile?: string
  /** Snapshots, block pruning and content garbage collection. */
  readonly storage: Required<StorageOptions>
}

function storageOptions(v: ParsedCommandArgs['values']): Required<StorageOptions> {
  const storage = {
    snapshotIntervalBlocks: intOption(v, 'snapshot-interval', DEFAULT_SNAPSHOT_INTERVAL_BLOCKS, 0),
    keepBlocks: intOption(v, 'keep-blocks', 0, 0),
    gcIntervalBlocks: intOption(v, 'gc-interval', DEFAULT_GC_INTERVAL_BLOCKS, 0),
  }
  if (storage.keepBlocks > 0 && storage.snapshotIntervalBlocks === 0)
    throw new InvalidArgumentError(
      '--keep-blocks needs snapshots (--snapshot-interval above 0): without one a restart replays every block',
      { option: 'keep-blocks' },
    )
  return storage
}

/** The options in `v` (the command line over the home's config.toml), each checked. */
export function readNodeOptions(home: string, v: ParsedCommandArgs['values']): NodeOptions {
  const roles = listOption(v, 'role')
    .flatMap((r) => r.split(','))
    .map((r) => oneOf(r.trim(), NODE_ROLES, '--role'))
  if (roles.length === 0)
    throw new InvalidArgumentError(
      `--role is required (or roles under [node] in ${CONFIG_FILE}): some of ${NODE_ROLES.join(', ')}`,
      { option: 'role' },
    )
  const optional = (name: string) => (v[name] === undefined ? undefined : stringOption(v, name, ''))
  const listen = multiaddrsOption(v, 'listen')
  const subnet = v.subnet === undefined ? undefined : intOption(v, 'subnet', 0, 0, 1023)
  const adminTokenFile = optional('admin-token-file')
  const passphraseFile = optional('passphrase-file')
  const modelDir = optional('model')
  const readyFile = optional('ready-file')
  const apiSocket = optional('api-socket')
  return {
    genesisFile: stringOption(v, 'genesis', join(home, GENESIS_FILE)),
    roles: roles as NodeRole[],
    ...(adminTokenFile === undefined ? {} : { adminTokenFile }),
    ...(passphraseFile === undefined ? {} : { passphraseFile }),
    misbehaviours: listOption(v, 'misbehave').map(parseMisbehaviour),
    level: oneOf(stringOption(v, 'log-level', 'info'), ['debug', 'info', 'warn', 'error', 'silent'], '--log-level'),
    name: stringOption(v, 'name', 'node'),
    seed: intOption(v, 'seed', 1, 0),
    ...(subnet === undefined ? {} : { subnet }),
    ...(listen.length > 0 ? { listen } : {}),
    announce: multiaddrsOption(v, 'announce'),
    lan: v.lan === true,
    relay: v.relay === true,
    ...(apiSocket === undefined ? {} : { apiSocket }),
    bootstrap: multiaddrsOption(v, 'bootstrap', { peer: true }),
    backend: oneOf(stringOption(v, 'backend', 'auto'), BACKENDS, '--backend'),
    challengeFraction: numberOption(v, 'challenge-fraction', DEFAULT_CHALLENGE_FRACTION, 0, 1),
    spotSteps: spotStepsOption(v),
    ...(modelDir === undefined ? {} : { modelDir }),
    heartbeatMs: intOption(v, 'heartbeat-ms', 700, 50, 10_000),
    api: apiAddress(v),
    adminHosts: adminHostsOption(v, adminTokenFile),
    ...(readyFile === undefined ? {} : { readyFile }),
    storage: storageOptions(v),
  }
}

/**
 * The keys of a home laid out by `r3mes init` (a `keys/` folder), opened with the passphrase in
 * `passphraseFile` when the account key is encrypted; undefined for a legacy home with one
 * `node.key`, which the node reads itself.
 */
export function readHomeKeys(home: string, passphraseFile: string | undefined): OperatorKeys | undefined {
  const encrypted = existsSync(join(home, ACCOUNT_KEYSTORE_FILE))
  if (passphraseFile !== undefined && !encrypted) {
    throw new InvalidArgumentError(`--passphrase-file is given but ${home} has no encrypted account key`, {
      option: 'passphrase-file',
    })
  }
  if (!existsSync(join(home, 'keys'))) return undefined
  return loadOperatorKeys(home, passphraseFile === undefined ? {} : { passphrase: readPassphraseFile(passphraseFile) })
}

async function run(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const home = stringOption(args.values, 'home', '')
  if (home === '') throw new InvalidArgumentError('--home DIR is required: the node keeps its keys and stores there')
  const merged = valuesWithConfig(home, args.values, nodeCommand.options)
  const o = readAgainstConfig(merged, (values) => readNodeOptions(home, values))
  // Read before the node starts: a bad key, genesis or token file stops here, with nothing to shut down.
  const keys = readHomeKeys(home, o.passphraseFile)
  const genesis = readGenesis(o.genesisFile)
  const adminToken = o.adminTokenFile === undefined ? undefined : readAdminToken(o.adminTokenFile)
  const roles = o.roles
  const subnet = o.subnet
  const base = new SystemClock()
  const clock = new SkewedClock(base)
  const name = o.name
  const components = {
    clock,
    random: new SeededRandom(o.seed),
    logger: createLogger({ name, level: o.level, clock }),
  }
  const node = await startNode(
    {
      home,
      ...(subnet === undefined ? {} : { subnet }),
      ...(keys === undefined ? {} : { keys }),
      genesis,
      roles,
      listen: o.listen,
      announce: o.announce,
      lan: o.lan,
      relay: o.relay,
      bootstrap: o.bootstrap,
      backend: o.backend,
      challengeFraction: o.challengeFraction,
      spotSteps: o.spotSteps,
      misbehaviours: o.misbehaviours,
      modelDir: o.modelDir,
      gossip: { heartbeatMs: o.heartbeatMs },
      storage: o.storage,
    },
    components,
  )
  // Checked against what the node's stored chain knows: a node joining a running network has
  // not synced yet, and learns of its own registration only when it reaches that block.
  const staker = node.reader.staker(node.address)
  if (subnet !== undefined && roles.includes('miner') && staker !== null && staker.subnet !== subnet) {
    await node.stop()
    throw new InvalidArgumentError(
      `--subnet ${subnet} does not match the chain: ${node.address} trains subnet ${staker.subnet ?? 'none'}`,
    )
  }
  const nodeApi = new NodeApi({
    backend: nodeApiBackend(node, clock),
    components,
    host: o.api.host,
    port: o.api.port,
    ...(o.apiSocket === undefined ? {} : { socketPath: o.apiSocket }),
    ...(adminToken === undefined ? {} : { admin: { token: adminToken, hosts: o.adminHosts } }),
  })
  components.logger.info({ api: `${o.api.host}:${o.api.port}` }, 'node started; opening the API')
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
  if (o.readyFile !== undefined) writeFileDurable(o.readyFile, new TextEncoder().encode(`${JSON.stringify(ready)}\n`))
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

When DIR has a config.toml (written by r3mes init), its values are the defaults of these
options; an option given here wins. A home made by r3mes init keeps its keys in DIR/keys
and DIR/net; an older one has a single node.key.

Options:
  --home DIR              the node's folder: config.toml, keys, stores, WAL (required)
  --passphrase-file FILE  opens an encrypted account key (keys/account.keystore.json)
  --genesis FILE          the chain's genesis JSON (default DIR/genesis.json)
  --role ROLE             repeat or comma-separate: ${NODE_ROLES.join(', ')}
  --subnet K              the subnet a subnet peer seeds; for a miner, check that the chain has it training K
  --listen MULTIADDR      repeatable (default /ip4/127.0.0.1/tcp/0); <relay multiaddr>/p2p-circuit
                          listens through that relay (behind a NAT)
  --announce MULTIADDR    repeatable: the addresses others should dial, announced instead of
                          the listen addresses (a public address in front of a NAT)
  --lan                   the network is a LAN: the DHT keeps private addresses (10/8,
                          192.168/16, loopback…), which it otherwise drops
  --relay                 serve as a circuit relay for peers that cannot be dialled
  --bootstrap MULTIADDR   repeatable: peers to dial at start (with /p2p/<id>)
  --api-address HOST:PORT where the HTTP API listens (default 127.0.0.1:0, any free port);
                          0.0.0.0:PORT or [::]:PORT serves every interface
  --api-port N            the same as --api-address 127.0.0.1:N
  --api-socket PATH       also serve the HTTP API on this Unix socket
  --admin-host NAME       repeatable: a Host name (besides the loopback) the admin routes
                          answer to, e.g. the name the node is reached by; needs the token
  --admin-token-file FILE enable the admin routes (fault injection, for tests), for requests
                          that carry the token in FILE (written mode 0600 by r3mes testnet)
  --model DIR             publish this backbone folder (it must be the genesis model)
  --backend NAME          kernels to train and re-execute with: \${BACKENDS.join(', ')} (default auto)
  --challenge-fraction F  share of submissions a challenger re-executes (default ${DEFAULT_CHALLENGE_FRACTION})
  --spot-steps N|all      inner steps of a task a challenger re-executes, drawn in secret, beside
                          the pseudo-gradient check; all or 0: the whole task (default ${DEFAULT_SPOT_STEPS})
  --misbehave NAME        for tests only: ${MISBEHAVIOURS.join(', ')}
  --ready-file FILE       also write the ready line to FILE
  --name NAME             name in the logs (default node)
  --seed N                seed of the node's own draws: injected faults, misbehaviours (default 1)
  --heartbeat-ms N        gossipsub heartbeat, 50 to 10000 (default 700)
  --snapshot-interval N   write a chain-state snapshot every N blocks; a restart starts
                          from the newest (default ${DEFAULT_SNAPSHOT_INTERVAL_BLOCKS}, 0: never)
  --keep-blocks N         after a snapshot, delete blocks more than N below the tip, never one
                          a restart needs (default 0: keep every block)
  --gc-interval N         drop content nothing live needs every N blocks (default ${DEFAULT_GC_INTERVAL_BLOCKS}, 0: never)
  --log-level LEVEL       debug, info, warn, error or silent (default info)`,
  options: {
    home: { type: 'string' },
    'passphrase-file': { type: 'string' },
    genesis: { type: 'string' },
    role: { type: 'string', multiple: true },
    subnet: { type: 'string' },
    listen: { type: 'string', multiple: true },
    bootstrap: { type: 'string', multiple: true },
    announce: { type: 'string', multiple: true },
    lan: { type: 'boolean' },
    relay: { type: 'boolean' },
    'api-port': { type: 'string' },
    'api-address': { type: 'string' },
    'api-socket': { type: 'string' },
    'admin-host': { type: 'string', multiple: true },
    'admin-token-file': { type: 'string' },
    model: { type: 'string' },
    backend: { type: 'string' },
    'challenge-fraction': { type: 'string' },
    'spot-steps': { type: 'string' },
    misbehave: { type: 'string', multiple: true },
    'ready-file': { type: 'string' },
    name: { type: 'string' },
    seed: { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    'log-level': { type: 'string' },
    'snapshot-interval': { type: 'string' },
    'keep-blocks': { type: 'string' },
    'gc-interval': { type: 'string' },
  },
  allowPositionals: false,
  run,
}

/** `--spot-steps N|all`: inner steps of a task a challenger re-executes; all (0) is the whole task. */
function spotStepsOption(values: ParsedCommandArgs['values']): number {
  const v = values['spot-steps']
  if (v === undefined) return DEFAULT_SPOT_STEPS
  if (v === 'all') return 0
  if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) > MAX_TRACE_STEPS)
    throw new InvalidArgumentError(
      `--spot-steps must be 'all' or an integer in [0, ${MAX_TRACE_STEPS}], got '${String(v)}'`,
      {
        option: 'spot-steps',
      },
    )
  return Number(v)
}
