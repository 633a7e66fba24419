/**
 * Genesis: the chain's first state. `parseGenesis` reads a JSON document (amounts as decimal
 * strings) and refuses bad input with a GenesisError naming the field; `localTestnetGenesis`
 * builds one for tests and local testnets from deterministic keys.
 */
import { fromHex, toHex } from '../codec/bytes.ts'
import { cidOf, isCanonicalCid } from '../codec/cid.ts'
import { MAX_TOTAL_POWER } from '../consensus/validator-set.ts'
import { GenesisError } from './errors.ts'
import { addressOf, isAddress, isPeerId, type KeyPair, peerIdOfKey } from './keys.ts'
import {
  defaultParams,
  localTestnetParams,
  minStakeFor,
  type Params,
  paramsToJson,
  parseParams,
  ROLES,
  type Role,
  UNITS_PER_TOKEN,
  validateParams,
} from './params.ts'
import { votingPower } from './staking.ts'

export interface GenesisStaker {
  /** The account's ed25519 public key (hex): it signs the staker's transactions. */
  readonly pubKey: string
  /**
   * The key that signs consensus votes and proposals (hex ed25519), when the staker validates.
   * Absent in the JSON: the account key.
   */
  readonly consensusKey: string
  /** The libp2p peer id the staker's node runs under. Absent in the JSON: the account key's. */
  readonly peerId: string
  readonly stake: bigint
  readonly roles: readonly Role[]
  readonly subnet: number | null
}

export interface Genesis {
  readonly chainId: string
  readonly genesisTimeMs: number
  readonly params: Params
  readonly accounts: readonly { readonly address: string; readonly balance: bigint }[]
  readonly stakers: readonly GenesisStaker[]
  readonly model: {
    readonly config: string
    readonly backbone: readonly { readonly layers: readonly [number, number]; readonly cid: string }[]
  }
  readonly subnets: readonly { readonly id: number; readonly layers: readonly [number, number] }[]
  readonly datasets: readonly { readonly cid: string; readonly name: string; readonly shardCount: number }[]
}

/** A CID in canonical string form (see codec/cid.ts). */
export function isCid(text: unknown): text is string {
  return isCanonicalCid(text)
}

function need(cond: unknown, field: string, message: string): asserts cond {
  if (!cond) throw new GenesisError(field, message)
}

function obj(v: unknown, field: string): Record<string, unknown> {
  need(v !== null && typeof v === 'object' && !Array.isArray(v), field, 'must be an object')
  return v as Record<string, unknown>
}

function arr(v: unknown, field: string): unknown[] {
  need(Array.isArray(v), field, 'must be a list')
  return v as unknown[]
}

function amountField(v: unknown, field: string): bigint {
  need(typeof v === 'string' && /^(0|[1-9][0-9]{0,30})$/.test(v), field, 'must be an amount as a decimal string')
  return BigInt(v as string)
}

function intField(v: unknown, field: string, min: number, max: number): number {
  need(
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max,
    field,
    `must be an integer in [${min}, ${max}]`,
  )
  return v as number
}

function range(v: unknown, field: string): [number, number] {
  const r = arr(v, field)
  need(r.length === 2, field, 'must be [first, end)')
  const a = intField(r[0], `${field}[0]`, 0, 100_000)
  const b = intField(r[1], `${field}[1]`, 0, 100_000)
  need(a < b, field, 'must be a non-empty range [first, end)')
  return [a, b]
}

export interface ParseGenesisOptions {
  /**
   * A genesis the ceremony is still building (genesis-ceremony.ts): every field is checked,
   * but it may have no validator yet, as its stakers arrive last, with the gentxs.
   */
  readonly draft?: boolean
}

export function parseGenesis(json: unknown, options: ParseGenesisOptions = {}): Genesis {
  const g = obj(json, 'genesis')
  const chainId = g.chainId
  need(
    typeof chainId === 'string' && /^[a-z0-9][a-z0-9-]{0,47}$/.test(chainId),
    'chainId',
    'must match [a-z0-9][a-z0-9-]{0,47}',
  )
  const genesisTimeMs = intField(g.genesisTimeMs ?? 0, 'genesisTimeMs', 0, Number.MAX_SAFE_INTEGER)
  need(
    g.preset === undefined || g.preset === 'production' || g.preset === 'localTestnet',
    'preset',
    "must be 'production' or 'localTestnet'",
  )
  const params = parseParams(g.params, g.preset === 'localTestnet' ? localTestnetParams : defaultParams)
  const accounts = arr(g.accounts ?? [], 'accounts').map((a, i) => {
    const o = obj(a, `accounts[${i}]`)
    need(isAddress(o.address), `accounts[${i}].address`, 'must be an r3mes1… bech32 address')
    return { address: o.address as string, balance: amountField(o.balance, `accounts[${i}].balance`) }
  })
  need(new Set(accounts.map((a) => a.address)).size === accounts.length, 'accounts', 'lists an address twice')
  const subnets = arr(g.subnets, 'subnets').map((s, i) => {
    const o = obj(s, `subnets[${i}]`)
    return { id: intField(o.id, `subnets[${i}].id`, 0, 1023), layers: range(o.layers, `subnets[${i}].layers`) }
  })
  need(subnets.length > 0, 'subnets', 'must list at least one subnet')
  subnets.forEach((s, i) => {
    need(s.id === i, `subnets[${i}].id`, `must be ${i}: subnets are numbered in pipeline order`)
    if (i > 0)
      need(
        s.layers[0] === (subnets[i - 1] as (typeof subnets)[0]).layers[1],
        `subnets[${i}].layers`,
        'must start where the previous subnet ends',
      )
  })
  const m = obj(g.model, 'model')
  need(typeof m.config === 'string' && m.config.length > 0, 'model.config', 'must name a model configuration')
  const backbone = arr(m.backbone, 'model.backbone').map((b, i) => {
    const o = obj(b, `model.backbone[${i}]`)
    need(isCid(o.cid), `model.backbone[${i}].cid`, 'must be a CID')
    return { layers: range(o.layers, `model.backbone[${i}].layers`), cid: o.cid as string }
  })
  const stakers = arr(g.stakers ?? [], 'stakers').map((s, i) => {
    const f = `stakers[${i}]`
    const o = obj(s, f)
    const pubKey = fromHex(o.pubKey, 32)
    need(pubKey !== undefined, `${f}.pubKey`, 'must be 32 bytes of lowercase hex')
    need(
      o.consensusKey === undefined || fromHex(o.consensusKey, 32) !== undefined,
      `${f}.consensusKey`,
      'must be 32 bytes of lowercase hex',
    )
    need(o.peerId === undefined || isPeerId(o.peerId), `${f}.peerId`, 'must be an ed25519 libp2p peer id (12D3KooW…)')
    const roles = arr(o.roles, `${f}.roles`)
    need(roles.length > 0, `${f}.roles`, 'must list at least one role')
    for (const r of roles) need(ROLES.includes(r as Role), `${f}.roles`, `unknown role ${JSON.stringify(r)}`)
    const subnet = o.subnet === undefined || o.subnet === null ? null : intField(o.subnet, `${f}.subnet`, 0, 1023)
    need(subnet === null || subnet < subnets.length, `${f}.subnet`, 'names no subnet')
    need(!roles.includes('miner') || subnet !== null, `${f}.subnet`, 'a miner must name its subnet')
    const stake = amountField(o.stake, `${f}.stake`)
    for (const r of roles)
      need(stake >= minStakeFor(params, r as Role), `${f}.stake`, `is below the minimum stake of a ${r}`)
    return {
      pubKey: o.pubKey as string,
      consensusKey: (o.consensusKey as string | undefined) ?? (o.pubKey as string),
      peerId: (o.peerId as string | undefined) ?? peerIdOfKey(pubKey),
      stake,
      roles: [...new Set(roles as Role[])].sort(),
      subnet,
    }
  })
  need(new Set(stakers.map((s) => s.pubKey)).size === stakers.length, 'stakers', 'lists a key twice')
  need(new Set(stakers.map((s) => s.consensusKey)).size === stakers.length, 'stakers', 'lists a consensus key twice')
  need(new Set(stakers.map((s) => s.peerId)).size === stakers.length, 'stakers', 'lists a peer id twice')
  need(
    options.draft === true || stakers.some((s) => s.roles.includes('validator')),
    'stakers',
    'must include at least one validator',
  )
  let totalPower = 0n
  stakers.forEach((s, i) => {
    if (!s.roles.includes('validator')) return
    need(votingPower(s.stake) > 0n, `stakers[${i}].stake`, 'gives a validator no voting power (under one token)')
    totalPower += votingPower(s.stake)
  })
  need(
    totalPower <= BigInt(MAX_TOTAL_POWER),
    'stakers',
    `give validators ${totalPower} voting power in total, the limit is ${MAX_TOTAL_POWER}`,
  )
  const datasets = arr(g.datasets ?? [], 'datasets').map((d, i) => {
    const o = obj(d, `datasets[${i}]`)
    need(isCid(o.cid), `datasets[${i}].cid`, 'must be a CID')
    need(
      typeof o.name === 'string' && o.name.length > 0 && o.name.length <= 64,
      `datasets[${i}].name`,
      'must be 1..64 characters',
    )
    return {
      cid: o.cid as string,
      name: o.name as string,
      shardCount: intField(o.shardCount, `datasets[${i}].shardCount`, 1, 1_000_000),
    }
  })
  return {
    chainId,
    genesisTimeMs,
    params,
    accounts,
    stakers,
    model: { config: m.config as string, backbone },
    subnets,
    datasets,
  }
}

/**
 * The consensus validators at genesis: every validator-role staker with its voting power, in
 * the unit every later update uses (`votingPower`: whole tokens staked).
 */
export function genesisValidators(g: Genesis): { readonly pubKey: string; readonly power: bigint }[] {
  // pubKey here is the consensus key: the one the validator set checks votes against.
  return g.stakers
    .filter((s) => s.roles.includes('validator'))
    .map((s) => ({ pubKey: s.consensusKey, power: votingPower(s.stake) }))
    .filter((v) => v.power > 0n)
}

export interface LocalTestnetOptions {
  readonly chainId?: string
  readonly params?: Partial<Params>
  readonly validators: readonly KeyPair[]
  /** Miners, subnet by subnet: miners[k] train subnet k. */
  readonly miners?: readonly (readonly KeyPair[])[]
  readonly verifiers?: readonly KeyPair[]
  readonly arbiters?: readonly KeyPair[]
  /** Funded accounts with no stake. */
  readonly funded?: readonly KeyPair[]
  readonly balance?: bigint
  readonly subnetLayers?: readonly (readonly [number, number])[]
}

/** A CID for fixtures: CIDv1 raw sha2-256 of a label's UTF-8 bytes. */
export function labelCid(label: string): string {
  return cidOf(new TextEncoder().encode(label)).toString()
}

/** A local testnet genesis from deterministic keys; every staker is also funded with `balance`. */
export function localTestnetGenesis(opts: LocalTestnetOptions): Genesis {
  const cid = labelCid
  const params = validateParams({ ...localTestnetParams, ...opts.params })
  const balance = opts.balance ?? 100_000n * UNITS_PER_TOKEN
  const layers = opts.subnetLayers ?? [
    [0, 4],
    [4, 8],
  ]
  const stakers = new Map<string, GenesisStaker>()
  const add = (k: KeyPair, role: Role, subnet: number | null, stake: bigint): void => {
    const id = toHex(k.publicKey)
    const prev = stakers.get(id)
    const roles = [...new Set([...(prev?.roles ?? []), role])].sort()
    const s = prev === undefined || prev.stake < stake ? stake : prev.stake
    stakers.set(id, {
      pubKey: id,
      consensusKey: id,
      peerId: peerIdOfKey(k.publicKey),
      stake: s,
      roles,
      subnet: prev?.subnet ?? subnet,
    })
  }
  for (const v of opts.validators) add(v, 'validator', null, params.minStakeValidator * 2n)
  opts.miners?.forEach((subnet, k) => {
    for (const m of subnet) add(m, 'miner', k, params.minStakeMiner * 2n)
  })
  for (const v of opts.verifiers ?? []) add(v, 'verifier', null, params.minStakeVerifier * 2n)
  for (const a of opts.arbiters ?? []) add(a, 'arbiter', null, params.minStakeArbiter * 2n)
  const keys = [
    ...opts.validators,
    ...(opts.miners ?? []).flat(),
    ...(opts.verifiers ?? []),
    ...(opts.arbiters ?? []),
    ...(opts.funded ?? []),
  ]
  const accounts = [...new Set(keys.map((k) => addressOf(k.publicKey)))].map((address) => ({ address, balance }))
  return {
    chainId: opts.chainId ?? 'r3mes-local',
    genesisTimeMs: 0,
    params,
    accounts,
    stakers: [...stakers.values()],
    model: {
      config: 'tiny',
      backbone: layers.map((l, i) => ({ layers: l, cid: cid(`backbone-${i}`) })),
    },
    subnets: layers.map((l, id) => ({ id, layers: l })),
    datasets: [{ cid: cid('dataset-brown'), name: 'brown', shardCount: 64 }],
  }
}

/** The JSON document of a genesis (amounts as decimal strings), as `parseGenesis` reads it. */
export function genesisToJson(g: Genesis): Record<string, unknown> {
  return {
    chainId: g.chainId,
    genesisTimeMs: g.genesisTimeMs,
    params: paramsToJson(g.params),
    accounts: g.accounts.map((a) => ({ address: a.address, balance: a.balance.toString() })),
    stakers: g.stakers.map((s) => ({ ...s, roles: [...s.roles], stake: s.stake.toString() })),
    model: { config: g.model.config, backbone: g.model.backbone.map((b) => ({ layers: [...b.layers], cid: b.cid })) },
    subnets: g.subnets.map((s) => ({ id: s.id, layers: [...s.layers] })),
    datasets: g.datasets.map((d) => ({ ...d })),
  }
}
