/**
 * A local network's genesis from a list of nodes: each node's key is derived from the
 * network seed and its name (so a plan always gives the same chain), every staking role
 * gets twice its minimum stake, every node is funded, the model is the backbone in a folder
 * split into the subnets' layer ranges, and the approved data set is the Brown Corpus
 * fiction that ships with the project.
 */

import {
  addGenesisAccount,
  type CeremonyGenesis,
  collectGentxs,
  createGentx,
  type Gentx,
  initGenesis,
} from '../chain/genesis-ceremony.ts'
import { keyPairFromSeed } from '../chain/keys.ts'
import { localTestnetParams, minStakeFor, type Params, type Role, UNITS_PER_TOKEN } from '../chain/params.ts'
import { sha256 } from '../codec/hash.ts'
import { readManifest } from '../ml/artifacts.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import type { Misbehaviour, NodeRole } from '../topology/roles.ts'
import { brownFictionDataset } from './training/datasets.ts'
import { backboneRangeCids } from './training/model-store.ts'

export interface NodeSpec {
  readonly name: string
  readonly roles: readonly NodeRole[]
  /** The subnet a miner trains. */
  readonly subnet?: number
  readonly misbehaviours?: readonly Misbehaviour[]
  /** Stake at genesis (base units). @default twice the largest minimum of its roles */
  readonly stake?: bigint
}

export interface LocalNetworkPlan {
  readonly chainId: string
  /** Seed of every node key. */
  readonly seed: string
  readonly modelDir: string
  /** Layer ranges [first, end) of the subnets, in pipeline order, tiling the model. */
  readonly subnets: readonly (readonly [number, number])[]
  readonly nodes: readonly NodeSpec[]
  /** Chain parameters over the local-testnet preset. */
  readonly params?: Partial<Params>
  /** Shards of the data set. @default 64 */
  readonly shardCount?: number
  /** @default 0 */
  readonly genesisTimeMs?: number
}

/** The 32-byte key seed of node `name` in a network. */
export function nodeSeed(chainId: string, seed: string, name: string): Uint8Array {
  return sha256(`r3mes/node-key/1\0${chainId}\0${seed}\0${name}`)
}

/** What every node's account holds once any stake has moved out of it. */
const NODE_BALANCE = 100_000n * UNITS_PER_TOKEN

const CHAIN_ROLES: Partial<Record<NodeRole, Role>> = {
  validator: 'validator',
  miner: 'miner',
  verifier: 'verifier',
  arbiter: 'arbiter',
}

/**
 * The network's genesis, built through the genesis ceremony (chain/genesis-ceremony.ts) as
 * operators build a real one: a draft, an account for every node (100 000 tokens, plus the
 * stake of a staked node, which its gentx then moves into the stake), a gentx for every
 * staked node signed with its key, collected. A local node keeps one key as account,
 * consensus key and libp2p identity, so that key signs the gentx and both proofs.
 */
export function localNetworkGenesis(plan: LocalNetworkPlan): CeremonyGenesis {
  const params: Params = { ...localTestnetParams, ...plan.params }
  const manifest = readManifest(plan.modelDir)
  const n = manifest.config.nLayers
  plan.subnets.forEach(([first, end], i) => {
    const prevEnd = i === 0 ? 0 : (plan.subnets[i - 1] as readonly [number, number])[1]
    if (first !== prevEnd || !(first < end))
      throw new InvalidArgumentError(`subnet ${i} layers [${first}, ${end}) must start at ${prevEnd} and be non-empty`)
  })
  if ((plan.subnets.at(-1)?.[1] ?? 0) !== n)
    throw new InvalidArgumentError(`the subnets must cover the model's ${n} layers`)
  const dataset = brownFictionDataset()
  let genesis = initGenesis({
    chainId: plan.chainId,
    preset: 'localTestnet',
    params,
    model: { config: manifest.config.name, backboneCids: backboneRangeCids(plan.modelDir, plan.subnets) },
    subnets: plan.subnets,
    datasets: [{ cid: dataset.cid, name: dataset.name, shardCount: plan.shardCount ?? 64 }],
    genesisTimeMs: plan.genesisTimeMs ?? 0,
  })
  const names = new Set<string>()
  const gentxs: Gentx[] = []
  for (const node of plan.nodes) {
    if (names.has(node.name)) throw new InvalidArgumentError(`node name '${node.name}' is used twice`)
    names.add(node.name)
    const seed = nodeSeed(plan.chainId, plan.seed, node.name)
    const key = keyPairFromSeed(seed)
    const roles = [...new Set(node.roles.map((r) => CHAIN_ROLES[r]).filter((r): r is Role => r !== undefined))].sort()
    if (roles.includes('miner') && (node.subnet === undefined || node.subnet < 0 || node.subnet >= plan.subnets.length))
      throw new InvalidArgumentError(`miner '${node.name}' must name a subnet in [0, ${plan.subnets.length})`)
    const stake =
      roles.length === 0
        ? 0n
        : (node.stake ??
          roles.reduce((max, r) => (minStakeFor(params, r) * 2n > max ? minStakeFor(params, r) * 2n : max), 0n))
    genesis = addGenesisAccount(genesis, key.address, NODE_BALANCE + stake)
    if (roles.length === 0) continue
    gentxs.push(
      createGentx({
        chainId: plan.chainId,
        account: key,
        consensusSeed: seed,
        peer: { seed },
        stake,
        roles,
        subnet: node.subnet ?? null,
        moniker: node.name,
      }),
    )
  }
  if (!gentxs.some((g) => g.body.roles.includes('validator')))
    throw new InvalidArgumentError('a network needs at least one validator')
  return collectGentxs(genesis, gentxs)
}
