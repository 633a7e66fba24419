/**
 * Setup of a local testnet from a topology plan: a run folder with one home per node (its
 * key derived from the topology seed and its name), the genesis every node starts from, a
 * backbone for the model (the committed one, or a seeded initialization for models that
 * ship none), and free loopback ports for each node's libp2p listener and HTTP API.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { peerIdOfPubKey, writeNodeKey } from '../actors/identity.ts'
import { localNetworkGenesis, type NodeSpec, nodeSeed } from '../actors/local-network.ts'
import type { Misbehaviour } from '../actors/misbehaviour.ts'
import type { NodeRole } from '../actors/node.ts'
import { type Genesis, genesisToJson } from '../chain/genesis.ts'
import { keyPairFromSeed, toHex } from '../chain/keys.ts'
import { saveBackbone } from '../ml/artifacts.ts'
import { getModelConfig } from '../ml/config.ts'
import { deriveKey } from '../ml/prng.ts'
import { initStageWeights } from '../ml/weights.ts'
import type { NetworkPlan, NodePlan } from '../topology/types.ts'

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
}

export interface TestnetLayout {
  readonly dir: string
  readonly genesisFile: string
  readonly genesis: Genesis
  readonly modelDir: string
  readonly nodes: readonly NodeLayout[]
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

/** A free TCP port on loopback (the OS picks; the listener closes before the node binds). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolvePort(port))
    })
  })
}

/** The committed backbone of a model, or a seeded initialization written into the run folder. */
function backboneFor(model: string, seed: number, dir: string): string {
  const committed = join(repoRoot, 'models', model)
  if (existsSync(join(committed, 'manifest.json'))) return committed
  const out = join(dir, 'model')
  const c = getModelConfig(model)
  saveBackbone(out, initStageWeights(c, 0, c.nLayers, deriveKey(`testnet-${seed}`, 'backbone')), {
    source: 'seeded initialization (no pretrained backbone ships for this model)',
  })
  return out
}

export async function setupTestnet(plan: NetworkPlan, dir: string, nowMs: number): Promise<TestnetLayout> {
  const t = plan.topology
  const runDir = resolve(dir)
  mkdirSync(runDir, { recursive: true })
  const modelDir = backboneFor(t.model, t.seed, runDir)
  const seed = String(t.seed)
  const specs: NodeSpec[] = plan.nodes.map((n) => ({
    name: n.name,
    roles: n.roles as NodeRole[],
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
  writeFileSync(genesisFile, `${JSON.stringify(genesisToJson(genesis), null, 2)}\n`)
  const nodes: NodeLayout[] = []
  for (const n of plan.nodes) {
    const home = join(runDir, n.name)
    const key = nodeSeed(t.chain.id, seed, n.name)
    writeNodeKey(home, key)
    const pair = keyPairFromSeed(key)
    const peerId = peerIdOfPubKey(toHex(pair.publicKey)).toString()
    const p2pPort = await freePort()
    nodes.push({
      plan: n,
      name: n.name,
      home,
      roles: n.roles as NodeRole[],
      address: pair.address,
      peerId,
      p2pPort,
      apiPort: await freePort(),
      multiaddr: `/ip4/127.0.0.1/tcp/${p2pPort}/p2p/${peerId}`,
      misbehaviours: n.misbehaviours.map((m) => m.kind as Misbehaviour),
      seedsModel: n.roles.includes('validator'),
    })
  }
  return { dir: runDir, genesisFile, genesis, modelDir, nodes }
}
