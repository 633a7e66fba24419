/**
 * The ceremony actions of `r3mes genesis`: init, add-account, gentx, collect, validate (see
 * chain/genesis-ceremony.ts for what each step proves). They read and write an operator's
 * home: `genesis.json`, its keys, `gentx/`.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { brownFictionDataset } from '../../actors/training/datasets.ts'
import { backboneRangeCids } from '../../actors/training/model-store.ts'
import {
  addGenesisAccount,
  checkGentxFits,
  collectGentxs,
  createGentx,
  type GenesisPreset,
  initGenesis,
  validateGenesis,
} from '../../chain/genesis-ceremony.ts'
import {
  defaultParams,
  isParamName,
  localTestnetParams,
  type Params,
  paramsToJson,
  parseParam,
  ROLES,
  type Role,
} from '../../chain/params.ts'
import { votingPower } from '../../chain/staking.ts'
import { MANIFEST_FILE, readManifest } from '../../ml/artifacts.ts'
import {
  GENTX_DIR,
  readCeremonyGenesis,
  readGenesisJson,
  readGentxDir,
  readPeerSeed,
  writeCeremonyGenesis,
  writeGentxFile,
} from '../../operator/ceremony-files.ts'
import { CONFIG_FILE, GENESIS_FILE, loadOperatorKeys } from '../../operator/home.ts'
import { readPassphraseFile } from '../../operator/keystore.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { AMOUNT_EXPECTED, formatAmount, isAmount, toBaseUnits } from '../../topology/amount.ts'
import { type CliIo, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { intOption, listOption, oneOf, stringOption } from '../options.ts'
import { defaultBackboneDir } from './ml.ts'

type Values = ParsedCommandArgs['values']

function requiredOption(values: Values, name: string): string {
  const v = stringOption(values, name, '')
  if (v === '') throw new InvalidArgumentError(`--${name} is required`, { option: name })
  return v
}

function homeOf(values: Values): string {
  return resolve(requiredOption(values, 'home'))
}

/** `0:4,4:8` → [[0, 4], [4, 8]]. */
function subnetsOption(values: Values, nLayers: number): [number, number][] {
  const text = values.subnets
  if (text === undefined) return [[0, nLayers]]
  if (typeof text !== 'string' || !/^\d{1,6}:\d{1,6}(,\d{1,6}:\d{1,6})*$/.test(text))
    throw new InvalidArgumentError(
      `--subnets must be layer ranges FIRST:END separated by commas, got '${String(text)}'`,
      {
        option: 'subnets',
      },
    )
  const ranges = text.split(',').map((r) => r.split(':').map(Number) as [number, number])
  const end = ranges.at(-1)?.[1]
  if (end !== nLayers)
    throw new InvalidArgumentError(`--subnets must cover the model's ${nLayers} layers, they end at ${end}`, {
      option: 'subnets',
    })
  return ranges
}

/** `--param name=value`, each as the genesis file writes it (amounts in base units). */
function paramOverrides(values: Values, base: Params): Partial<Params> {
  const json = paramsToJson(base)
  const out: Record<string, number | bigint> = {}
  for (const item of listOption(values, 'param')) {
    const eq = item.indexOf('=')
    const name = eq < 0 ? item : item.slice(0, eq)
    if (eq < 0 || !isParamName(name))
      throw new InvalidArgumentError(
        `--param ${item}: expected NAME=VALUE with NAME a chain parameter (see docs/PARAMETERS.md or topology/schema.json)`,
        { option: 'param' },
      )
    const text = item.slice(eq + 1)
    const value = typeof json[name] === 'number' && /^-?\d+$/.test(text) ? Number(text) : text
    out[name] = parseParam(name, value, `--param ${name}`)
  }
  return out as Partial<Params>
}

function genesisTimeOption(values: Values): number {
  const v = values['genesis-time']
  if (v === undefined) return 0
  const text = String(v)
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text)
  if (!Number.isSafeInteger(ms) || ms < 0)
    throw new InvalidArgumentError(
      `--genesis-time must be milliseconds since 1970 or an ISO 8601 time (2026-01-01T00:00:00Z), got '${text}'`,
      { option: 'genesis-time' },
    )
  return ms
}

function amountArgument(text: string, what: string): bigint {
  if (!isAmount(text)) throw new InvalidArgumentError(`${what} must be ${AMOUNT_EXPECTED}, got '${text}'`)
  return toBaseUnits(text)
}

function genesisFileOf(home: string): string {
  return join(home, GENESIS_FILE)
}

export async function genesisInit(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const v = args.values
  const home = homeOf(v)
  const chainId = requiredOption(v, 'chain-id')
  if (v.model !== undefined && v.config !== undefined)
    throw new InvalidArgumentError('give --model DIR or --config NAME, not both', { option: 'model' })
  const modelDir = resolve(stringOption(v, 'model', defaultBackboneDir(stringOption(v, 'config', 'tiny'))))
  if (!existsSync(join(modelDir, MANIFEST_FILE)))
    throw new InvalidArgumentError(
      `${modelDir} holds no backbone (no ${MANIFEST_FILE}): give --model DIR, or write one with r3mes genesis pretrain`,
      { option: 'model' },
    )
  const preset = oneOf(
    stringOption(v, 'preset', 'production'),
    ['production', 'localTestnet'],
    '--preset',
  ) as GenesisPreset
  const file = genesisFileOf(home)
  if (existsSync(file)) throw new InvalidArgumentError(`${file} already exists: remove it to start a new genesis`)
  const manifest = readManifest(modelDir)
  const subnets = subnetsOption(v, manifest.config.nLayers)
  const params = paramOverrides(v, preset === 'localTestnet' ? localTestnetParams : defaultParams)
  const dataset = brownFictionDataset()
  const genesis = initGenesis({
    chainId,
    preset,
    params,
    model: { config: manifest.config.name, backboneCids: backboneRangeCids(modelDir, subnets) },
    subnets,
    datasets: [{ cid: dataset.cid, name: dataset.name, shardCount: intOption(v, 'dataset-shards', 64, 1, 1_000_000) }],
    genesisTimeMs: genesisTimeOption(v),
  })
  mkdirSync(home, { recursive: true })
  writeCeremonyGenesis(file, genesis)
  io.out(`draft genesis for chain ${chainId} written to ${file}`)
  io.out(`model ${manifest.config.name}, subnets ${subnets.map(([a, b]) => `[${a}, ${b})`).join(' ')}`)
  io.out('next: r3mes genesis add-account for every operator, then send the file to them for their gentx')
  return ExitCode.ok
}

export async function genesisAddAccount(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const [address, amount] = args.positionals
  if (address === undefined || amount === undefined)
    throw new InvalidArgumentError('r3mes genesis add-account needs ADDRESS AMOUNT')
  const file = genesisFileOf(homeOf(args.values))
  const genesis = readCeremonyGenesis(file, { draft: true })
  if (genesis.stakers.length > 0)
    throw new InvalidArgumentError(`${file} has its gentxs collected already: accounts are added before collect`)
  const balance = amountArgument(amount, 'AMOUNT')
  writeCeremonyGenesis(file, addGenesisAccount(genesis, address, balance))
  io.out(`${address} funded with ${formatAmount(balance)} in ${file}`)
  return ExitCode.ok
}

/** The moniker from --moniker, else from the home's config.toml, else none. */
function monikerOf(values: Values, home: string): string | undefined {
  if (values.moniker !== undefined) return stringOption(values, 'moniker', '')
  const config = join(home, CONFIG_FILE)
  if (!existsSync(config)) return undefined
  let parsed: Record<string, unknown>
  try {
    parsed = parseToml(readFileSync(config, 'utf8'))
  } catch (error) {
    throw new InvalidArgumentError(`cannot read ${config}: ${(error as Error).message}`, { path: config })
  }
  return typeof parsed.moniker === 'string' ? parsed.moniker : undefined
}

function rolesOption(values: Values): Role[] {
  const text = requiredOption(values, 'roles')
  return text.split(',').map((r) => oneOf(r.trim(), ROLES, '--roles'))
}

export async function genesisGentx(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const v = args.values
  const home = homeOf(v)
  const genesis = readCeremonyGenesis(genesisFileOf(home), { draft: true })
  const roles = rolesOption(v)
  const subnet = v.subnet === undefined ? null : intOption(v, 'subnet', 0, 0, 1023)
  const stake = amountArgument(requiredOption(v, 'stake'), '--stake')
  const passphraseFile = v['passphrase-file'] === undefined ? undefined : stringOption(v, 'passphrase-file', '')
  const keys = loadOperatorKeys(
    home,
    passphraseFile === undefined ? {} : { passphrase: readPassphraseFile(passphraseFile) },
  )
  const gentx = createGentx({
    chainId: genesis.chainId,
    account: keys.account,
    consensusSeed: keys.consensusSeed,
    peer: { seed: readPeerSeed(home) },
    stake,
    roles,
    subnet,
    moniker: monikerOf(v, home) ?? keys.account.address,
  })
  checkGentxFits(genesis, gentx)
  const out = resolve(stringOption(v, 'out', join(home, GENTX_DIR, `gentx-${keys.account.address}.json`)))
  writeGentxFile(out, gentx)
  io.out(`gentx of ${gentx.body.moniker} (${keys.account.address}) for chain ${genesis.chainId} written to ${out}`)
  io.out(`stake ${formatAmount(stake)} as ${gentx.body.roles.join(', ')}; peer id ${gentx.body.peerId}`)
  return ExitCode.ok
}

export async function genesisCollect(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const v = args.values
  const home = homeOf(v)
  const file = genesisFileOf(home)
  const genesis = readCeremonyGenesis(file, { draft: true })
  const found = readGentxDir(resolve(stringOption(v, 'gentx-dir', join(home, GENTX_DIR))))
  const collected = collectGentxs(
    genesis,
    found.map((f) => f.gentx),
  )
  writeCeremonyGenesis(file, collected)
  const validators = collected.stakers.filter((s) => s.roles.includes('validator'))
  const power = validators.reduce((sum, s) => sum + votingPower(s.stake), 0n)
  io.out(`${found.length} gentxs collected into ${file}`)
  io.out(`${collected.stakers.length} stakers, ${validators.length} validators with ${power} voting power`)
  return ExitCode.ok
}

export async function genesisValidate(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const v = args.values
  const [fileArg] = args.positionals
  if (fileArg !== undefined && v.home !== undefined)
    throw new InvalidArgumentError('give a genesis FILE or --home DIR, not both')
  if (fileArg === undefined && v.home === undefined)
    throw new InvalidArgumentError('r3mes genesis validate needs a genesis FILE or --home DIR')
  const file = fileArg !== undefined ? resolve(fileArg) : genesisFileOf(homeOf(v))
  const { genesis, problems } = validateGenesis(readGenesisJson(file))
  if (v.json === true) io.out(JSON.stringify({ file, valid: problems.length === 0, problems }))
  else if (problems.length > 0) {
    io.err(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`)
    for (const p of problems) io.err(`  - ${p}`)
  } else if (genesis !== undefined) {
    const validators = genesis.stakers.filter((s) => s.roles.includes('validator')).length
    io.out(
      `${file}: a valid genesis for chain ${genesis.chainId}: ${validators} validators, ${genesis.stakers.length} stakers, ` +
        `${genesis.accounts.length} accounts, every staker backed by its verified gentx`,
    )
  }
  return problems.length === 0 ? ExitCode.ok : ExitCode.dataError
}
