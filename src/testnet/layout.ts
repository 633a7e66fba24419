/**
 * Setup of a local testnet from a topology plan: a run folder with one home per node (its
 * key derived from the topology seed and its name), the genesis every node starts from (built
 * through the genesis ceremony, its gentxs kept in the file), a backbone for the model (the
 * committed one, or a seeded initialization for models that ship none), and free loopback
 * ports for each node's libp2p listener and HTTP API.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { peerIdOfPubKey, writeNodeKey } from '../actors/identity.ts'
import { localNetworkGenesis, type NodeSpec, nodeSeed } from '../actors/local-network.ts'
import type { Genesis } from '../chain/genesis.ts'
import { ceremonyGenesisToJson, parseCeremonyGenesis } from '../chain/genesis-ceremony.ts'
import { keyPairFromSeed } from '../chain/keys.ts'
import { toHex } from '../codec/bytes.ts'
import { deriveKey } from '../codec/prng.ts'
import { saveBackbone } from '../ml/artifacts.ts'
import { getModelConfig } from '../ml/config.ts'
import { tokenizerForConfig } from '../ml/tokenizer/for-config.ts'
import { initStageWeights } from '../ml/weights.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import type { Misbehaviour, NodeRole } from '../topology/roles.ts'
import type { Backend } from '../topology/schema.ts'
import type { NetworkPlan, NodePlan } from '../topology/types.ts'
import type { VirtualHost } from './hosts.ts'

export interface NodeLayout {
  readonly plan: NodePlan
  readonly name: string
  readonly home: string
  readonly roles: readonly NodeRole[]
  readonly address: string
  readonly peerId: string
  readonly p2pPort: number
  readonly apiPort: number
  readonly multiaddr: string
  readonly misbehaviours: readonly Misbehaviour[]
  /** Publishes the backbone into the network (the validators seed it). */
  readonly seedsModel: boolean
  /** The kernels the node trains and re-executes with: the topology's `backend`. */
  readonly backend: Backend
  /** `--hosts`: the host (network namespace) the node runs in, its address the node's own. */
  readonly host?: VirtualHost
}

export interface TestnetLayout {
  readonly dir: string
  readonly genesisFile: string
  readonly genesis: Genesis
  readonly modelDir: string
  readonly nodes: readonly NodeLayout[]
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

/**
 * The OS's ephemeral port range, from which it picks the local port of every outbound
 * connection (and of a listener on port 0). A node's listen port must lie outside it: a port
 * picked inside it, then left unbound until the node starts, can meanwhile become the local
 * end of another node's outbound dial, and the late node then fails with EADDRINUSE.
 */
function ephemeralRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    if (low !== undefined && high !== undefined && Number.isSafeInteger(low) && Number.isSafeInteger(high))
      return { low, high }
  } catch {
    // Not Linux: the IANA range, which other systems use.
  }
  return { low: 49152, high: 65535 }
}

/** Whether a TCP port on loopback can be bound now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolveBind) => {
    const server = createServer()
    server.once('error', () => resolveBind(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolveBind(true)))
  })
}

/** Ports handed out by this process, so that two calls never give the same one. */
const handedOut = new Set<number>()

/**
 * A free TCP port on loopback outside the ephemeral range (see `ephemeralRange`). The search
 * starts at a point derived from `salt` (the run folder), so that testnets set up side by side
 * look in different places, and skips every port that cannot be bound now.
 */
export async function freePort(salt = ''): Promise<number> {
  const { low, high } = ephemeralRange()
  // Below the ephemeral range when there is room there, else above it.
  const [from, to] = low - 10_000 >= 1024 ? [10_000, low] : [high + 1, 65_536]
  const span = to - from
  let start = 0
  for (const ch of `${salt}:${process.pid}`) start = (start * 31 + ch.charCodeAt(0)) % span
  for (let i = 0; i < span; i++) {
    const port = from + ((start + i) % span)
    if (handedOut.has(port)) continue
    if (await canBind(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new InvalidArgumentError(`no free loopback port outside the ephemeral range ${low}-${high}`)
}

/** The committed backbone of a model, or a seeded initialization written into the run folder. */
function backboneFor(model: string, seed: number, dir: string): string {
  const committed = join(repoRoot, 'models', model)
  if (existsSync(join(committed, 'manifest.json'))) return committed
  const out = join(dir, 'model')
  const c = getModelConfig(model)
  saveBackbone(
    out,
    initStageWeights(c, 0, c.nLayers, deriveKey(`testnet-${seed}`, 'backbone')),
    { source: 'seeded initialization (no pretrained backbone ships for this model)' },
    tokenizerForConfig(c),
  )
  return out
}

/**
 * Set up a run folder. With `hosts` (one per node, in the plan's order), each node listens on
 * its host's address instead of the loopback.
 */
export async function setupTestnet(
  plan: NetworkPlan,
  dir: string,
  nowMs: number,
  hosts?: readonly VirtualHost[],
): Promise<TestnetLayout> {
  const t = plan.topology
  const runDir = resolve(dir)
  mkdirSync(runDir, { recursive: true })
  const modelDir = backboneFor(t.model, t.seed, runDir)
  const seed = String(t.seed)
  const specs: NodeSpec[] = plan.nodes.map((n) => ({
    name: n.name,
    roles: n.roles,
    subnet: n.subnet,
    stake: n.stake > 0n ? n.stake : undefined,
  }))
  const genesis = localNetworkGenesis({
    chainId: t.chain.id,
    seed,
    modelDir,
    subnets: t.subnets.map((s) => s.layers),
    nodes: specs,
    params: t.chain.params,
    genesisTimeMs: nowMs,
  })
  const genesisFile = join(runDir, 'genesis.json')
  writeFileSync(genesisFile, `${JSON.stringify(ceremonyGenesisToJson(genesis), null, 2)}\n`)
  const ports: RunFile['ports'] = {}
  for (const n of plan.nodes) ports[n.name] = { p2p: await freePort(runDir), api: await freePort(runDir) }
  const layout = { dir: runDir, genesisFile, genesis, modelDir, nodes: nodeLayouts(plan, runDir, ports, hosts) }
  const run: RunFile = { v: 1, topologyFile: resolve(plan.topology.file), modelDir, ports }
  writeFileSync(join(runDir, RUN_FILE), `${JSON.stringify(run, null, 2)}\n`)
  return layout
}

/** What a run folder records so the later stages can be run on their own. */
interface RunFile {
  readonly v: 1
  readonly topologyFile: string
  readonly modelDir: string
  readonly ports: Record<string, { p2p: number; api: number }>
}

export const RUN_FILE = 'testnet.json'

/** Each node's layout: its key from the topology seed and its name, its ports from `ports`. */
function nodeLayouts(
  plan: NetworkPlan,
  runDir: string,
  ports: RunFile['ports'],
  hosts?: readonly VirtualHost[],
): NodeLayout[] {
  const t = plan.topology
  if (hosts !== undefined && hosts.length < plan.nodes.length)
    throw new InvalidArgumentError(`${plan.nodes.length} nodes need as many hosts, not ${hosts.length}`)
  return plan.nodes.map((n, i) => {
    const host = hosts?.[i]
    const home = join(runDir, n.name)
    const key = nodeSeed(t.chain.id, String(t.seed), n.name)
    writeNodeKey(home, key)
    const pair = keyPairFromSeed(key)
    const peerId = peerIdOfPubKey(toHex(pair.publicKey)).toString()
    const port = ports[n.name]
    if (port === undefined) throw new InvalidArgumentError(`the run folder ${runDir} has no ports for ${n.name}`)
    return {
      plan: n,
      name: n.name,
      home,
      roles: n.roles,
      address: pair.address,
      peerId,
      p2pPort: port.p2p,
      apiPort: port.api,
      multiaddr: `/ip4/${host?.address ?? '127.0.0.1'}/tcp/${port.p2p}/p2p/${peerId}`,
      misbehaviours: n.misbehaviours.map((m) => m.kind),
      seedsModel: n.roles.includes('validator'),
      backend: t.backend,
      ...(host === undefined ? {} : { host }),
    }
  })
}

/** The topology file a run folder was set up from (for the stages run on their own). */
export function runTopologyFile(dir: string): string {
  const file = join(resolve(dir), RUN_FILE)
  if (!existsSync(file))
    throw new InvalidArgumentError(`${dir} is not a testnet run folder (no ${RUN_FILE}): run the setup stage first`)
  return (JSON.parse(readFileSync(file, 'utf8')) as RunFile).topologyFile
}

/** The layout of a run folder made by `setupTestnet`, for the stages run on their own. */
export function loadTestnet(plan: NetworkPlan, dir: string): TestnetLayout {
  const runDir = resolve(dir)
  const run = JSON.parse(readFileSync(join(runDir, RUN_FILE), 'utf8')) as RunFile
  const genesisFile = join(runDir, 'genesis.json')
  const genesis = parseCeremonyGenesis(JSON.parse(readFileSync(genesisFile, 'utf8')))
  return { dir: runDir, genesisFile, genesis, modelDir: run.modelDir, nodes: nodeLayouts(plan, runDir, run.ports) }
}
