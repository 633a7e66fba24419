/**
 * The victim of the adversarial tests: four validators, each a real `ChainNode` (the chain
 * application under the consensus engine, WAL and stores on disk, the tx topic) on its own
 * libp2p node over loopback TCP, fully meshed: the network `r3mes testnet` runs, in one
 * process. Helpers measure what an attack must not break: heights keep advancing, every node
 * agrees, and the victim's memory stays bounded.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import v8 from 'node:v8'
import vm from 'node:vm'
import { ChainNode } from '../../src/actors/chain-node.ts'
import { localTestnetGenesis } from '../../src/chain/genesis.ts'
import { keyPairFromSeed } from '../../src/chain/keys.ts'
import type { TimeoutConfig } from '../../src/consensus/core-types.ts'
import { type Signer, signerFromSeed } from '../../src/consensus/keys.ts'
import type { NetNode } from '../../src/net/node.ts'
import { seedFor } from '../consensus/helpers/fixtures.ts'
import { CHAIN_ID, type Cluster, components, connect, startNodes, waitFor } from '../net/helpers.ts'

/** Timeouts slow enough for a 2-core machine shared with other work, fast enough for a block every ~second. */
const TIMEOUTS: TimeoutConfig = {
  proposeMs: 1500,
  proposeDeltaMs: 300,
  prevoteMs: 500,
  prevoteDeltaMs: 200,
  precommitMs: 500,
  precommitDeltaMs: 200,
  commitMs: 200,
}

/** Growth of the victim's heap plus array buffers over an attack beyond which it is "unbounded". */
export const MAX_ATTACK_MEMORY_GROWTH_BYTES = 64 * 1024 * 1024

export interface ValidatorNetwork {
  readonly nets: NetNode[]
  readonly chains: ChainNode[]
  /** The validator keys by node (the consensus key of chains[i]). */
  readonly signers: Signer[]
  heights(): number[]
  /** Wait until every node is `blocks` past where the slowest one is now. */
  advance(blocks: number, timeoutMs: number, what: string): Promise<void>
  /** One block hash and one app hash per height on every node that executed it. */
  assertAgreement(): void
  stop(): Promise<void>
}

export interface ValidatorNetworkOptions {
  /** Run validator `i` with the byzantineValidator misbehaviour (src/actors/byzantine-validator.ts). */
  readonly byzantine?: number
}

/** The key seed of validator `i` (its consensus key and its chain account). */
export function validatorSeed(i: number): Uint8Array {
  return seedFor(`${CHAIN_ID}/adversarial/validator/${i}`)
}

export async function startValidatorNetwork(options: ValidatorNetworkOptions = {}): Promise<ValidatorNetwork> {
  const seeds = [0, 1, 2, 3].map((i) => validatorSeed(i))
  const genesis = localTestnetGenesis({ chainId: CHAIN_ID, validators: seeds.map((s) => keyPairFromSeed(s)) })
  const cluster: Cluster = await startNodes(4)
  const homes: string[] = []
  const chains: ChainNode[] = []
  try {
    for (let i = 0; i < 4; i++)
      for (let j = i + 1; j < 4; j++) await connect(cluster.nodes[i] as NetNode, cluster.nodes[j] as NetNode)
    for (const [i, net] of cluster.nodes.entries()) {
      const home = await mkdtemp(join(tmpdir(), `r3mes-adv-${i}-`))
      homes.push(home)
      chains.push(
        new ChainNode(
          {
            home,
            genesis,
            consensusSeed: seeds[i] as Uint8Array,
            net,
            timeouts: TIMEOUTS,
            gossipIntervalMs: 200,
            byzantine: options.byzantine === i,
          },
          components(`validator-${i}`, i + 1),
        ),
      )
    }
  } catch (error) {
    await cluster.stop()
    throw error
  }
  for (const c of chains) c.start()
  const heights = (): number[] => chains.map((c) => c.height)
  const network: ValidatorNetwork = {
    nets: cluster.nodes,
    chains,
    signers: seeds.map((s) => signerFromSeed(s)),
    heights,
    async advance(blocks, timeoutMs, what) {
      const target = Math.min(...heights()) + blocks
      await waitFor(
        () => Math.min(...heights()) >= target,
        timeoutMs,
        `${what}: every node at ${target} (at ${heights()})`,
      )
    },
    assertAgreement() {
      const top = Math.max(...heights())
      for (let h = 1; h <= top; h++) {
        const seen = new Set(
          chains.flatMap((c) => {
            const e = c.history.get(h)
            return e === undefined ? [] : [`${e.blockHash}/${e.appHash}`]
          }),
        )
        assert.ok(seen.size <= 1, `one block and app hash at height ${h}, got ${[...seen].join(' | ')}`)
      }
    },
    async stop() {
      for (const c of chains) c.stop()
      await cluster.stop()
      await Promise.all(homes.map((h) => rm(h, { recursive: true, force: true })))
    },
  }
  await network.advance(2, 60_000, 'the network starts')
  return network
}

// ---------------------------------------------------------------- memory

let collect: (() => void) | undefined

/** A full collection: `global.gc` under --expose-gc, else the flag turned on at run time. */
export function gc(): void {
  if (collect === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc
    if (exposed !== undefined) collect = exposed
    else {
      v8.setFlagsFromString('--expose-gc')
      collect = vm.runInNewContext('gc') as () => void
    }
  }
  collect()
  collect()
}

/** Live JS heap plus array buffers (where received bytes live), after a full collection. */
export function liveBytes(): number {
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/** Run `attack` and return how much live memory grew across it, measured after collections. */
export async function memoryGrowthOver(attack: () => Promise<void>): Promise<number> {
  const before = liveBytes()
  await attack()
  return liveBytes() - before
}

export function assertMemoryBounded(growthBytes: number, what: string): void {
  assert.ok(
    growthBytes <= MAX_ATTACK_MEMORY_GROWTH_BYTES,
    `${what}: live memory grew ${(growthBytes / 2 ** 20).toFixed(1)} MiB, over the bound of ${MAX_ATTACK_MEMORY_GROWTH_BYTES / 2 ** 20} MiB`,
  )
}
