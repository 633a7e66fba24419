/**
 * From the parsed file to a `Topology`: fills the defaults that depend on other fields
 * (stakes from the chain's minimums, the chain id, the default challengers), converts amounts
 * to ur3mes, and resolves the chain parameters over their preset with the chain's own parser,
 * so a bad parameter is refused by the same rules as in genesis, under its topology path.
 */
import { GenesisError } from '../chain/errors.ts'
import { defaultParams, localTestnetParams, type Params, parseParam, validateParams } from '../chain/params.ts'
import { toBaseUnits } from './amount.ts'
import { describeValue, type FieldPath, type FieldProblem } from './problems.ts'
import { DEFAULT_SPOT_STEPS } from './roles.ts'
import type { TopologyFile } from './schema.ts'
import type { Topology } from './types.ts'

const DEFAULT_VALIDATORS = 4
/** Time the default run timeout allows for launching the nodes and reaching the first block. */
const START_ALLOWANCE_MS = 120_000

export function resolveTopology(file: string, parsed: TopologyFile): { topology: Topology; problems: FieldProblem[] } {
  const problems: FieldProblem[] = []
  const params = resolveParams(parsed.chain, problems)
  const p = params ?? defaultParams
  const validatorStakes = resolveValidatorStakes(parsed.validators, p, problems)
  const topology: Topology = {
    file,
    name: parsed.name,
    description: parsed.description,
    seed: parsed.seed,
    model: parsed.model,
    backend: parsed.backend,
    chain: { id: parsed.chain.id ?? `r3mes-${parsed.name}`.slice(0, 48), preset: parsed.chain.preset, params: p },
    validators: { stakes: validatorStakes, listed: Array.isArray(parsed.validators.stake) },
    subnets: parsed.subnets.map((s) => ({
      layers: s.layers,
      miners: s.miners,
      peers: s.peers,
      minerStake: s.minerStake === undefined ? 2n * p.minStakeMiner : toBaseUnits(s.minerStake),
    })),
    verifiers: {
      count: parsed.verifiers.count,
      on: parsed.verifiers.on,
      stake: parsed.verifiers.stake === undefined ? 2n * p.minStakeVerifier : toBaseUnits(parsed.verifiers.stake),
    },
    arbiters: {
      count: parsed.arbiters.count,
      on: parsed.arbiters.on,
      stake: parsed.arbiters.stake === undefined ? 2n * p.minStakeArbiter : toBaseUnits(parsed.arbiters.stake),
    },
    aggregator: parsed.aggregator,
    serving: parsed.serving,
    challengers: (parsed.challengers ?? [{ nodes: ['verifiers'], fraction: 1, steps: DEFAULT_SPOT_STEPS }]).map(
      (c) => ({
        ...c,
        steps: c.steps === 'all' ? 0 : c.steps,
      }),
    ),
    misbehaviours: parsed.misbehaviours,
    network: parsed.network,
    faults: parsed.faults,
    run: {
      ...parsed.run,
      timeoutMs: parsed.run.timeoutMs ?? 3 * parsed.run.windows * p.windowBlocks * p.blockTimeMs + START_ALLOWANCE_MS,
    },
  }
  return { topology, problems }
}

/** The preset, then chain.blockTimeMs / chain.windowBlocks, then chain.params, each through the chain's parser. */
function resolveParams(chain: TopologyFile['chain'], problems: FieldProblem[]): Params | undefined {
  const base = chain.preset === 'production' ? defaultParams : localTestnetParams
  const out: Record<string, unknown> = { ...base }
  // A local testnet's deadlines follow its window: a longer window is chosen for a slower
  // machine, and a verification game or an aggregation needs the same room there
  // (chain.params still overrides each of them).
  if (chain.preset !== 'production' && chain.windowBlocks !== undefined) {
    const half = Math.ceil(chain.windowBlocks / 2)
    out.l2DeadlineBlocks = Math.max(base.l2DeadlineBlocks, half)
    out.appealBlocks = Math.max(base.appealBlocks, half)
    out.l3DeadlineBlocks = Math.max(base.l3DeadlineBlocks, half)
    out.aggregationDeadlineBlocks = Math.max(base.aggregationDeadlineBlocks, half)
    out.challengePeriodBlocks = Math.max(base.challengePeriodBlocks, chain.windowBlocks)
    out.aggregateChallengeBlocks = Math.max(base.aggregateChallengeBlocks, half)
  }
  const overrides: [keyof Params, unknown, FieldPath][] = []
  if (chain.blockTimeMs !== undefined) overrides.push(['blockTimeMs', chain.blockTimeMs, ['chain', 'blockTimeMs']])
  if (chain.windowBlocks !== undefined) overrides.push(['windowBlocks', chain.windowBlocks, ['chain', 'windowBlocks']])
  for (const [name, value] of Object.entries(chain.params)) {
    if (value !== undefined) overrides.push([name as keyof Params, value, ['chain', 'params', name]])
  }
  let ok = true
  for (const [name, value, path] of overrides) {
    // Genesis JSON writes amounts as base-unit strings; the topology writes them in R3MES.
    const json = typeof defaultParams[name] === 'bigint' ? toBaseUnits(value as number | string).toString() : value
    try {
      out[name] = parseParam(name, json, path.join('.'))
    } catch (error) {
      if (!(error instanceof GenesisError)) throw error
      ok = false
      problems.push({ path, ...genesisMessage(error), found: describeValue(value) })
    }
  }
  if (!ok) return undefined
  try {
    return validateParams(out as unknown as Params, 'chain.params')
  } catch (error) {
    if (!(error instanceof GenesisError)) throw error
    problems.push({ path: error.field.split('.'), ...genesisMessage(error) })
    return undefined
  }
}

/** "genesis field 'x': must be an integer in [1, 16], got 20" → expected "an integer in [1, 16]". */
function genesisMessage(error: GenesisError): { expected: string } {
  const text = error.message
    .replace(/^genesis field '[^']*': /, '')
    .replace(/, got .*$/, '')
    .replace(/ as a decimal string/, '')
  return { expected: text.startsWith('must be ') ? text.slice('must be '.length) : `a value that ${text}` }
}

function resolveValidatorStakes(validators: TopologyFile['validators'], p: Params, problems: FieldProblem[]): bigint[] {
  const stake = validators.stake
  if (Array.isArray(stake)) {
    if (validators.count !== undefined && validators.count !== stake.length) {
      problems.push({
        path: ['validators', 'stake'],
        expected: `one stake per validator (validators.count is ${validators.count})`,
        found: `${stake.length} stakes`,
      })
    }
    if (stake.length === 0) {
      problems.push({ path: ['validators', 'stake'], expected: 'at least one stake', found: 'an empty list' })
    }
    return stake.map(toBaseUnits)
  }
  const each = stake === undefined ? 2n * p.minStakeValidator : toBaseUnits(stake)
  return Array.from({ length: validators.count ?? DEFAULT_VALIDATORS }, () => each)
}
