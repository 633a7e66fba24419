/**
 * The genesis ceremony: how operators who do not trust one another build one genesis, as
 * Cosmos SDK chains do (`init`, `add-genesis-account`, `gentx`, `collect-gentxs`,
 * `validate-genesis`).
 *
 *   1. A coordinator writes a draft genesis: chain id, parameters, model, subnets, data sets
 *      (`initGenesis`), and funds each operator's account (`addGenesisAccount`).
 *   2. Each operator signs a gentx against the draft (`createGentx`): its self-stake, roles
 *      and subnet, signed by its account key, with proofs of possession of the consensus key
 *      and libp2p peer id it names (key-proofs.ts), so no one can stake under another
 *      operator's consensus key or peer id.
 *   3. The coordinator collects the gentxs (`collectGentxs`): every signature and proof is
 *      checked, each stake moves out of its account's balance (a stake is the account's own
 *      tokens), and the gentxs stay in the genesis, so that anyone can re-check them.
 *   4. Every operator checks the final genesis (`validateGenesis`) before starting a node.
 *
 * A gentx is JSON `{ body, signature }`, amounts as decimal strings of base units; the
 * signature is the account key's over "r3mes/gentx/1\0" ‖ canonical JSON of the body, so a
 * gentx can never pass for a transaction or the other way round. Everything here is pure
 * and deterministic.
 */
import { fromHex, toHex } from '../codec/bytes.ts'
import { canonicalJson, type JsonValue } from '../codec/canonical-json.ts'
import { ed25519Sign, ed25519Verify } from '../codec/ed25519.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import { GenesisError, GentxError } from './errors.ts'
import { type Genesis, type GenesisStaker, genesisToJson, parseGenesis } from './genesis.ts'
import { publicKeyOfPeerId, signKeyProof, verifyKeyProof } from './key-proofs.ts'
import { addressOf, isAddress, isPeerId, type KeyPair, keyPairFromSeed, peerIdOfKey } from './keys.ts'
import {
  defaultParams,
  localTestnetParams,
  minStakeFor,
  type Params,
  paramsToJson,
  ROLES,
  type Role,
  validateParams,
} from './params.ts'

/**
 * What a staker signs: the staker record it asks the genesis for (its account key, consensus
 * key, peer id, self-stake in base units taken out of the account's genesis balance, sorted
 * roles and subnet), with the chain and the proofs that the named keys are its own.
 */
export interface GentxBody extends GenesisStaker {
  readonly chainId: string
  /** The operator's name for people; the chain does not use it. */
  readonly moniker: string
  /** Proof of possession of `consensusKey` (key-proofs.ts). */
  readonly consensusProof: string
  /** Proof of possession of the key of `peerId` (key-proofs.ts). */
  readonly peerProof: string
}

export interface Gentx {
  readonly body: GentxBody
  /** The account key's signature (hex) over `gentxSignBytes(body)`. */
  readonly signature: string
}

/** A genesis with the gentxs its stakers came from, kept so that anyone can re-check them. */
export interface CeremonyGenesis extends Genesis {
  readonly gentxs: readonly Gentx[]
}

export type GenesisPreset = 'production' | 'localTestnet'

const CHAIN_ID = /^[a-z0-9][a-z0-9-]{0,47}$/
const AMOUNT = /^(0|[1-9][0-9]{0,30})$/
/** The largest amount a genesis can hold (31 decimal digits, as `parseGenesis` reads them). */
const MAX_AMOUNT = 10n ** 31n - 1n
export const MAX_MONIKER_CHARS = 64
/** Printable text without control characters, so a moniker prints safely in a terminal. */
const MONIKER = /^[^\p{Cc}\p{Cf}]+$/u
const GENTX_DOMAIN = 'r3mes/gentx/1\0'
const BODY_FIELDS = [
  'chainId',
  'moniker',
  'pubKey',
  'consensusKey',
  'peerId',
  'stake',
  'roles',
  'subnet',
  'consensusProof',
  'peerProof',
] as const

// ---------------------------------------------------------------------------------------------
// Draft genesis

export interface InitGenesisOptions {
  readonly chainId: string
  /** The parameter set the overrides apply over. @default 'production' */
  readonly preset?: GenesisPreset
  readonly params?: Partial<Params>
  /** The model configuration's name and one backbone CID per subnet, in subnet order. */
  readonly model: { readonly config: string; readonly backboneCids: readonly string[] }
  /** Layer ranges [first, end) of the subnets, in pipeline order. */
  readonly subnets: readonly (readonly [number, number])[]
  readonly datasets: readonly { readonly cid: string; readonly name: string; readonly shardCount: number }[]
  /** @default 0 */
  readonly genesisTimeMs?: number
}

/** A draft genesis with no account and no staker yet; every field checked as `parseGenesis` checks it. */
export function initGenesis(opts: InitGenesisOptions): CeremonyGenesis {
  const base = opts.preset === 'localTestnet' ? localTestnetParams : defaultParams
  const params = validateParams({ ...base, ...opts.params })
  if (opts.model.backboneCids.length !== opts.subnets.length)
    throw new InvalidArgumentError(
      `the model names ${opts.model.backboneCids.length} backbone CIDs for ${opts.subnets.length} subnets: one per subnet`,
    )
  const draft = {
    chainId: opts.chainId,
    genesisTimeMs: opts.genesisTimeMs ?? 0,
    params: paramsToJson(params),
    accounts: [],
    stakers: [],
    model: {
      config: opts.model.config,
      backbone: opts.subnets.map((layers, i) => ({ layers: [...layers], cid: opts.model.backboneCids[i] })),
    },
    subnets: opts.subnets.map((layers, id) => ({ id, layers: [...layers] })),
    datasets: opts.datasets.map((d) => ({ ...d })),
  }
  const genesis = parseGenesis(draft, { draft: true })
  if (genesis.datasets.length === 0) throw new GenesisError('datasets', 'must approve at least one data set')
  return { ...genesis, gentxs: [] }
}

/**
 * The draft with `address` funded with `balance` base units. An address is added once: a
 * second add is refused rather than summed, so a repeated command cannot fund twice.
 */
export function addGenesisAccount(genesis: CeremonyGenesis, address: string, balance: bigint): CeremonyGenesis {
  if (!isAddress(address)) throw new InvalidArgumentError(`'${address}' is not an r3mes1… account address`)
  if (balance <= 0n) throw new InvalidArgumentError(`the balance of ${address} must be positive`)
  if (balance > MAX_AMOUNT) throw new InvalidArgumentError(`the balance of ${address} is above ${MAX_AMOUNT}`)
  const existing = genesis.accounts.find((a) => a.address === address)
  if (existing !== undefined)
    throw new InvalidArgumentError(
      `${address} is already in the genesis with a balance of ${existing.balance}: an account is added once`,
    )
  return { ...genesis, accounts: [...genesis.accounts, { address, balance }] }
}

// ---------------------------------------------------------------------------------------------
// Gentx

export interface CreateGentxOptions {
  readonly chainId: string
  readonly account: KeyPair
  /** Seed of the consensus key. */
  readonly consensusSeed: Uint8Array
  /** The node's libp2p key: its seed, or its peer id with a proof signed where the seed is. */
  readonly peer: { readonly seed: Uint8Array } | { readonly peerId: string; readonly proof: string }
  readonly stake: bigint
  readonly roles: readonly Role[]
  readonly subnet?: number | null
  readonly moniker: string
}

/** A staker's signed self-stake. Bad options are refused with an error naming the option. */
export function createGentx(opts: CreateGentxOptions): Gentx {
  if (!CHAIN_ID.test(opts.chainId)) throw new InvalidArgumentError(`chain id '${opts.chainId}' is not valid`)
  const monikerProblem = checkMoniker(opts.moniker)
  if (monikerProblem !== undefined) throw new InvalidArgumentError(`moniker ${monikerProblem}`)
  if (opts.stake <= 0n || opts.stake > MAX_AMOUNT)
    throw new InvalidArgumentError(`the stake must be a positive amount up to ${MAX_AMOUNT} base units`)
  const roles = [...new Set(opts.roles)].sort()
  if (roles.length === 0) throw new InvalidArgumentError('a gentx must stake for at least one role')
  for (const r of roles)
    if (!ROLES.includes(r)) throw new InvalidArgumentError(`unknown role '${r}': one of ${ROLES.join(', ')}`)
  const subnet = opts.subnet ?? null
  if (subnet !== null && !(Number.isSafeInteger(subnet) && subnet >= 0 && subnet <= 1023))
    throw new InvalidArgumentError(`subnet ${subnet} must be an integer in [0, 1023]`)
  if (roles.includes('miner') && subnet === null) throw new InvalidArgumentError('a miner must name its subnet')
  const address = opts.account.address
  let peerId: string
  let peerProof: string
  if ('seed' in opts.peer) {
    peerId = peerIdOfKey(keyPairFromSeed(opts.peer.seed).publicKey)
    peerProof = signKeyProof('peer', opts.peer.seed, opts.chainId, address)
  } else {
    if (!isPeerId(opts.peer.peerId))
      throw new InvalidArgumentError(`'${opts.peer.peerId}' is not an ed25519 libp2p peer id`)
    peerId = opts.peer.peerId
    peerProof = opts.peer.proof
  }
  const body: GentxBody = {
    chainId: opts.chainId,
    moniker: opts.moniker,
    pubKey: toHex(opts.account.publicKey),
    consensusKey: toHex(keyPairFromSeed(opts.consensusSeed).publicKey),
    peerId,
    stake: opts.stake,
    roles,
    subnet,
    consensusProof: signKeyProof('consensus', opts.consensusSeed, opts.chainId, address),
    peerProof,
  }
  const gentx = { body, signature: toHex(ed25519Sign(opts.account.secretKey, gentxSignBytes(body))) }
  const problems = gentxProblems(gentx, opts.chainId)
  if (problems.length > 0) throw new InvalidArgumentError(`the gentx does not verify: ${problems.join('; ')}`)
  return gentx
}

export function gentxBodyToJson(body: GentxBody): { [key: string]: JsonValue } {
  return { ...body, stake: body.stake.toString(), roles: [...body.roles] }
}

/** The bytes the account key signs. */
export function gentxSignBytes(body: GentxBody): Uint8Array {
  return new TextEncoder().encode(GENTX_DOMAIN + canonicalJson(gentxBodyToJson(body)))
}

export function gentxToJson(gentx: Gentx): { [key: string]: JsonValue } {
  return { body: gentxBodyToJson(gentx.body), signature: gentx.signature }
}

/** The gentx file's text: canonical JSON. */
export function encodeGentx(gentx: Gentx): string {
  return canonicalJson(gentxToJson(gentx))
}

/** The account address a gentx stakes from. */
export function gentxAddress(gentx: Gentx): string {
  return addressOf(fromHex(gentx.body.pubKey, 32) as Uint8Array)
}

/** Read a gentx's text; anything but one well-formed gentx is a GentxError naming `what`. */
export function decodeGentx(text: string, what = 'gentx'): Gentx {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new GentxError(`${what} is not JSON: ${(error as Error).message}`, { gentx: what })
  }
  return parseGentx(json, what)
}

/**
 * A gentx from its JSON, checked field by field (unknown body fields are refused: the
 * signature covers the known fields only). Checks the form, not the signatures: see
 * `gentxProblems`.
 */
export function parseGentx(json: unknown, what = 'gentx'): Gentx {
  const fail = (field: string, message: string): never => {
    throw new GentxError(`${what}: '${field}' ${message}`, { gentx: what, field })
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
  if (!isObject(json)) return fail('gentx', 'must be an object')
  for (const key of Object.keys(json))
    if (key !== 'body' && key !== 'signature') fail(key, 'is not a gentx field (body, signature)')
  const b = json.body
  if (!isObject(b)) return fail('body', 'must be an object')
  for (const key of Object.keys(b))
    if (!(BODY_FIELDS as readonly string[]).includes(key)) fail(`body.${key}`, 'is not a gentx body field')
  if (typeof b.chainId !== 'string' || !CHAIN_ID.test(b.chainId))
    fail('body.chainId', 'must match [a-z0-9][a-z0-9-]{0,47}')
  const monikerProblem = checkMoniker(b.moniker)
  if (monikerProblem !== undefined) fail('body.moniker', monikerProblem)
  if (fromHex(b.pubKey, 32) === undefined) fail('body.pubKey', 'must be 32 bytes of lowercase hex')
  if (fromHex(b.consensusKey, 32) === undefined) fail('body.consensusKey', 'must be 32 bytes of lowercase hex')
  if (!isPeerId(b.peerId)) fail('body.peerId', 'must be an ed25519 libp2p peer id (12D3KooW…)')
  if (typeof b.stake !== 'string' || !AMOUNT.test(b.stake))
    fail('body.stake', 'must be an amount of base units as a decimal string')
  const stake = BigInt(b.stake as string)
  if (stake === 0n) fail('body.stake', 'must be positive')
  const roles = b.roles
  if (!Array.isArray(roles) || roles.length === 0) return fail('body.roles', 'must list at least one role')
  for (const r of roles)
    if (!ROLES.includes(r as Role)) fail('body.roles', `names the unknown role ${JSON.stringify(r)}`)
  if (roles.some((r, i) => i > 0 && !(String(roles[i - 1]) < String(r))))
    fail('body.roles', 'must be sorted, each role once')
  const subnet = b.subnet
  if (subnet !== null && !(typeof subnet === 'number' && Number.isSafeInteger(subnet) && subnet >= 0 && subnet <= 1023))
    fail('body.subnet', 'must be null or an integer in [0, 1023]')
  if (roles.includes('miner') && subnet === null) fail('body.subnet', 'must name the subnet a miner trains')
  if (fromHex(b.consensusProof, 64) === undefined) fail('body.consensusProof', 'must be 64 bytes of lowercase hex')
  if (fromHex(b.peerProof, 64) === undefined) fail('body.peerProof', 'must be 64 bytes of lowercase hex')
  if (fromHex(json.signature, 64) === undefined) fail('signature', 'must be 64 bytes of lowercase hex')
  return {
    body: {
      chainId: b.chainId as string,
      moniker: b.moniker as string,
      pubKey: b.pubKey as string,
      consensusKey: b.consensusKey as string,
      peerId: b.peerId as string,
      stake,
      roles: roles as Role[],
      subnet: subnet as number | null,
      consensusProof: b.consensusProof as string,
      peerProof: b.peerProof as string,
    },
    signature: json.signature as string,
  }
}

/**
 * What is wrong with a well-formed gentx for a chain: a wrong chain id, the account's
 * signature, either proof of possession. Empty when it verifies.
 */
export function gentxProblems(gentx: Gentx, chainId: string): string[] {
  const b = gentx.body
  const problems: string[] = []
  if (b.chainId !== chainId) problems.push(`it is for chain '${b.chainId}', not '${chainId}'`)
  const pubKey = fromHex(b.pubKey, 32)
  const sig = fromHex(gentx.signature, 64)
  if (pubKey === undefined || sig === undefined || !ed25519Verify(pubKey, gentxSignBytes(b), sig))
    problems.push("the account key's signature does not verify")
  const address = pubKey === undefined ? '' : addressOf(pubKey)
  const consensusKey = fromHex(b.consensusKey, 32)
  if (consensusKey === undefined || !verifyKeyProof('consensus', consensusKey, b.chainId, address, b.consensusProof))
    problems.push('the proof of possession of the consensus key does not verify')
  const peerKey = isPeerId(b.peerId) ? publicKeyOfPeerId(b.peerId) : undefined
  if (peerKey === undefined || !verifyKeyProof('peer', peerKey, b.chainId, address, b.peerProof))
    problems.push('the proof of possession of the peer id does not verify')
  return problems
}

function checkMoniker(moniker: unknown): string | undefined {
  if (typeof moniker !== 'string' || moniker.length === 0 || moniker.length > MAX_MONIKER_CHARS)
    return `must be 1 to ${MAX_MONIKER_CHARS} characters`
  if (!MONIKER.test(moniker)) return 'must hold no control characters'
  return undefined
}

function describe(gentx: Gentx): string {
  return `the gentx of '${gentx.body.moniker}' (${gentxAddress(gentx)})`
}

// ---------------------------------------------------------------------------------------------
// Collect

/**
 * Refuse a gentx the genesis cannot take, whoever else stakes: its account unfunded or
 * holding less than the stake, a subnet the genesis lacks, a stake under a role's minimum.
 * `r3mes genesis gentx` checks this against the draft before signing anything away.
 */
export function checkGentxFits(genesis: Genesis, gentx: Gentx): void {
  const b = gentx.body
  const who = describe(gentx)
  const balance = genesis.accounts.find((a) => a.address === gentxAddress(gentx))?.balance
  if (balance === undefined)
    throw new GentxError(`${who}: the account is not in the genesis (fund it with add-account first)`)
  if (balance < b.stake)
    throw new GentxError(`${who}: it stakes ${b.stake} but the account holds ${balance} (base units)`)
  if (b.subnet !== null && b.subnet >= genesis.subnets.length)
    throw new GentxError(`${who}: subnet ${b.subnet} does not exist (the genesis has ${genesis.subnets.length})`)
  for (const r of b.roles)
    if (b.stake < minStakeFor(genesis.params, r))
      throw new GentxError(`${who}: a ${r} stakes at least ${minStakeFor(genesis.params, r)}, it stakes ${b.stake}`)
}

/**
 * The genesis with the stakers of `gentxs` (in the order given): each gentx verified for this
 * chain, its account funded in the genesis with at least its stake, which moves out of the
 * balance; no account, consensus key or peer id staked twice; at least one validator; and the
 * whole checked by `parseGenesis` (the validators' total voting power among the rest).
 */
export function collectGentxs(genesis: CeremonyGenesis, gentxs: readonly Gentx[]): CeremonyGenesis {
  const accounts = new Map(genesis.accounts.map((a) => [a.address, a.balance]))
  const stakers: GenesisStaker[] = [...genesis.stakers]
  const seen = {
    account: new Set(stakers.map((s) => s.pubKey)),
    consensus: new Set(stakers.map((s) => s.consensusKey)),
    peer: new Set(stakers.map((s) => s.peerId)),
  }
  for (const gentx of gentxs) {
    const b = gentx.body
    const who = describe(gentx)
    const problems = gentxProblems(gentx, genesis.chainId)
    if (problems.length > 0) throw new GentxError(`${who}: ${problems.join('; ')}`, { gentx: who })
    const address = gentxAddress(gentx)
    if (seen.account.has(b.pubKey)) throw new GentxError(`${who}: this account already stakes in the genesis`)
    if (seen.consensus.has(b.consensusKey))
      throw new GentxError(`${who}: its consensus key ${b.consensusKey} is already a staker's`)
    if (seen.peer.has(b.peerId)) throw new GentxError(`${who}: its peer id ${b.peerId} is already a staker's`)
    // An account stakes once, so its balance in `genesis` is still the one this stake draws on.
    checkGentxFits(genesis, gentx)
    const balance = accounts.get(address) as bigint
    seen.account.add(b.pubKey)
    seen.consensus.add(b.consensusKey)
    seen.peer.add(b.peerId)
    accounts.set(address, balance - b.stake)
    stakers.push({
      pubKey: b.pubKey,
      consensusKey: b.consensusKey,
      peerId: b.peerId,
      stake: b.stake,
      roles: b.roles,
      subnet: b.subnet,
    })
  }
  if (!stakers.some((s) => s.roles.includes('validator')))
    throw new GentxError('no gentx stakes as a validator: a chain needs at least one')
  const result: CeremonyGenesis = {
    ...genesis,
    accounts: genesis.accounts.map((a) => ({ address: a.address, balance: accounts.get(a.address) as bigint })),
    stakers,
    gentxs: [...genesis.gentxs, ...gentxs],
  }
  // Every rule a node applies to the genesis it starts from, the voting-power cap among them.
  parseGenesis(genesisToJson(result))
  return result
}

// ---------------------------------------------------------------------------------------------
// Documents

/** The genesis file: `genesisToJson` plus the gentxs its stakers came from. */
export function ceremonyGenesisToJson(genesis: CeremonyGenesis): Record<string, unknown> {
  return { ...genesisToJson(genesis), gentxs: genesis.gentxs.map(gentxToJson) }
}

/** A genesis file with its gentxs; `draft` admits one with no validator yet (see parseGenesis). */
export function parseCeremonyGenesis(json: unknown, options: { readonly draft?: boolean } = {}): CeremonyGenesis {
  const genesis = parseGenesis(json, options)
  const list = (json as Record<string, unknown>).gentxs ?? []
  if (!Array.isArray(list)) throw new GenesisError('gentxs', 'must be a list')
  return { ...genesis, gentxs: list.map((g, i) => parseGentx(g, `gentxs[${i}]`)) }
}

export interface GenesisValidation {
  /** The genesis, when it parses (it may still have problems). */
  readonly genesis?: CeremonyGenesis
  /** Every problem found, each naming its field or gentx; empty when the genesis is good. */
  readonly problems: readonly string[]
}

/**
 * `parseGenesis`, then the ceremony's checks: every gentx well-formed and verifying for this
 * chain with its account listed; every staker backed by exactly one gentx that states the
 * same keys, stake, roles and subnet (so each operator signed its stake and holds the keys
 * it names); the backbone split as the subnets are; a data set approved.
 */
export function validateGenesis(json: unknown): GenesisValidation {
  let base: Genesis
  try {
    base = parseGenesis(json)
  } catch (error) {
    if (error instanceof GenesisError) return { problems: [error.message] }
    throw error
  }
  const problems: string[] = []
  const raw = (json as Record<string, unknown>).gentxs ?? []
  const gentxs: Gentx[] = []
  if (!Array.isArray(raw)) problems.push("genesis field 'gentxs': must be a list")
  else
    raw.forEach((g, i) => {
      try {
        gentxs.push(parseGentx(g, `gentxs[${i}]`))
      } catch (error) {
        if (!(error instanceof GentxError)) throw error
        problems.push(error.message)
      }
    })
  const accounts = new Set(base.accounts.map((a) => a.address))
  const byAccount = new Map<string, Gentx>()
  for (const [i, gentx] of gentxs.entries()) {
    const who = `gentxs[${i}] ('${gentx.body.moniker}', ${gentxAddress(gentx)})`
    for (const p of gentxProblems(gentx, base.chainId)) problems.push(`${who}: ${p}`)
    if (!accounts.has(gentxAddress(gentx))) problems.push(`${who}: its account is not in the genesis accounts`)
    if (byAccount.has(gentx.body.pubKey)) problems.push(`${who}: a second gentx for the same account`)
    else byAccount.set(gentx.body.pubKey, gentx)
  }
  const staked = new Set<string>()
  base.stakers.forEach((s, i) => {
    staked.add(s.pubKey)
    const who = `stakers[${i}] (${addressOf(fromHex(s.pubKey, 32) as Uint8Array)})`
    const gentx = byAccount.get(s.pubKey)
    if (gentx === undefined) {
      problems.push(`${who}: no gentx shows that its operator signed this stake and holds the keys it names`)
      return
    }
    const b = gentx.body
    const differs = [
      b.consensusKey !== s.consensusKey ? 'consensusKey' : undefined,
      b.peerId !== s.peerId ? 'peerId' : undefined,
      b.stake !== s.stake ? 'stake' : undefined,
      b.roles.join(',') !== s.roles.join(',') ? 'roles' : undefined,
      b.subnet !== s.subnet ? 'subnet' : undefined,
    ].filter((f) => f !== undefined)
    if (differs.length > 0) problems.push(`${who}: ${differs.join(', ')} differ from what its gentx signed`)
  })
  for (const [i, gentx] of gentxs.entries())
    if (!staked.has(gentx.body.pubKey))
      problems.push(`gentxs[${i}] ('${gentx.body.moniker}', ${gentxAddress(gentx)}): no staker was collected from it`)
  if (base.model.backbone.length !== base.subnets.length)
    problems.push(
      `model.backbone: names ${base.model.backbone.length} ranges for ${base.subnets.length} subnets: one per subnet`,
    )
  base.model.backbone.forEach((b, i) => {
    const s = base.subnets[i]
    if (s !== undefined && (b.layers[0] !== s.layers[0] || b.layers[1] !== s.layers[1]))
      problems.push(
        `model.backbone[${i}].layers: [${b.layers.join(', ')}) is not subnet ${i}'s [${s.layers.join(', ')})`,
      )
  })
  if (base.datasets.length === 0) problems.push('datasets: the genesis approves no data set, so no miner can train')
  return { genesis: { ...base, gentxs }, problems }
}
