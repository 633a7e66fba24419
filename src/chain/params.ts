/**
 * Chain parameters. The production defaults are the seed's numbers (5 s blocks, windows of 100
 * blocks, L2 bond 10× the base reward = 5,000 R3MES, L2 ≈ 5 blocks, L3 ≈ 50 blocks, bounty
 * 10–20× → 15×); `localTestnetParams` shortens every time so a laptop testnet shows a whole
 * window and a whole verification game in seconds. Governance may change any of them; every
 * change goes through `validateParams`, whose errors name the field.
 *
 * Amounts are bigint base units: 1 R3MES = 10^6 ur3mes.
 */
import { MAX_INBOX_TENSORS_PER_SENDER } from '../runtime/limits.ts'
import { GenesisError } from './errors.ts'

export const UNITS_PER_TOKEN = 1_000_000n
/**
 * Bonded ur3mes per unit of consensus voting power (the Cosmos SDK's DefaultPowerReduction):
 * a validator's power is its whole staked tokens, floor(stake / POWER_REDUCTION), at genesis
 * and after every block alike, so the set never mixes two units.
 */
export const POWER_REDUCTION = UNITS_PER_TOKEN
export const ROLES = ['validator', 'miner', 'verifier', 'arbiter'] as const
export type Role = (typeof ROLES)[number]

export interface Params {
  /** Target block interval; used only to turn the yearly inflation rate into a per-block mint. @default 5000 */
  readonly blockTimeMs: number
  /** W: a training window opens at block N and closes at N + W. @default 100 */
  readonly windowBlocks: number
  /** Miners per task (L1 compares their CIDs). @default 2 */
  readonly replication: number
  /**
   * Most data shards a window trains (each is one task per subnet: a pipeline path). The
   * window's shards follow its miners (`tasksPerMiner`); this cap bounds what one window adds
   * to the state (shards × subnets tasks, × replication commitments and claims) and to the
   * blocks (two transactions per submission). @default 512
   */
  readonly shardsPerWindow: number
  /**
   * Tasks each miner of the subnet with the fewest miners trains per window: a window has
   * ⌈that subnet's miners × tasksPerMiner / replication⌉ shards (at most `shardsPerWindow`),
   * and every subnet shares its slots evenly among its miners (chain/task-slots.ts). @default 2
   */
  readonly tasksPerMiner: number
  /**
   * H: local optimizer steps a task runs over its data shard before it submits the change of
   * its adapters (DiLoCo's inner steps): the network talks once per H steps, not once per step.
   * @default 16
   */
  readonly innerSteps: number
  /**
   * M: micro-batches each inner step's batch is split into; they flow through the pipeline's
   * stages one after another, so a stage computes micro-batch j + 1 while the next one computes
   * j. Must divide `stepSequences`. @default 2
   */
  readonly microBatches: number
  /**
   * Sequences in one inner step's batch. A step's fixed costs (its trace leaf, the optimizer
   * step, the pipeline's hand-offs) are paid once per step whatever its size, so steps as
   * large as a single-process fine-tune's (8) keep them a small share of the work. @default 8
   */
  readonly stepSequences: number
  /** Tokens in each sequence of a step (at most the model's context length, which caps it). @default 128 */
  readonly sequenceTokens: number
  /**
   * Learning rate of the inner AdamW steps, in millionths. Half the single-process fine-tune's
   * 4e-3: a fresh AdamW's first steps move every adapter by about the rate, and H of them
   * from the same start are what the outer step averages (`npm run bench -- diloco`).
   * @default 2000 (2e-3)
   */
  readonly innerLrPpm: number
  /**
   * Learning rate of the outer Nesterov step the aggregate applies, in millionths. Every
   * aggregate lands two rounds after the state its miners started from (a window's miners load
   * the last final aggregate, which is window k − 3's, while window k's aggregate is applied on
   * top of window k − 1's; docs/BENCHMARKS.md, "DiLoCo defaults"), and a delayed step is stable
   * only at a smaller rate: 0.35 keeps held-out loss falling where DiLoCo's 0.7 makes it
   * wander, both on the local testnet's 8 inner steps and on these defaults' 16 (the
   * production windows are two rounds stale too; `npm run bench -- diloco`). @default 350000
   */
  readonly outerLrPpm: number
  /**
   * Momentum of the outer Nesterov step, in millionths. Zero by default, unlike DiLoCo's 0.9:
   * every aggregate is two rounds stale (see `outerLrPpm`), and momentum on stale
   * pseudo-gradients overshoots: with 0.5 held-out loss climbs after a few windows, with 0 it
   * falls steadily (`npm run bench -- diloco`, docs/BENCHMARKS.md). Governance may raise it
   * for long windows of many inner steps. @default 0
   */
  readonly outerMomentumPpm: number
  /** Reward for one accepted submission. @default 500 R3MES */
  readonly baseReward: bigint
  /** L2 challenge bond, as a multiple of the base reward. @default 10 */
  readonly bondMultiple: number
  /** Fraud-detection bounty paid to a challenger proven right at L3, × base reward (seed: 10–20). @default 15 */
  readonly bountyMultiple: number
  /**
   * The bounty never exceeds this share of what the convicted owner was slashed, basis points.
   * Were it larger, an owner and an accomplice who challenges it would profit from convicting
   * the owner: the pair must always lose what the slash takes beyond the bounty. @default 5000
   */
  readonly bountyShareBps: number
  /** Blocks a selected verifier has to answer. @default 5 */
  readonly l2DeadlineBlocks: number
  /** Blocks the L3 panel has to reach 2 of 3. @default 50 */
  readonly l3DeadlineBlocks: number
  /**
   * Blocks after the seated verifier answers 'owner' during which the challenger may appeal to
   * an L3 panel with a second bond; with no appeal the owner wins when they end. @default 5
   */
  readonly appealBlocks: number
  /**
   * Expected number of verifiers the VRF sortition selects per L2 attempt: a verifier holding
   * stake w of the eligible total W is selected with probability min(1, expected × w / W), so
   * one verifier (or one holding ≥ W / expected) is always selected, and with many equal ones
   * an attempt selects nobody with probability about e^−expected. @default 5
   */
  readonly verifierExpectedCount: number
  /** Blocks at the start of each L2 attempt during which selected verifiers claim the seat (the best ticket wins). @default 2 */
  readonly verifierClaimBlocks: number
  /** L2 attempts (each a fresh VRF draw) before an unanswered challenge lapses (bond returned). @default 3 */
  readonly maxVerifierAttempts: number
  /** Panel rounds (missing arbiters replaced) before an undecided dispute lapses. @default 3 */
  readonly maxPanelRounds: number
  /** Blocks after window close during which a submission may be challenged; rewards vest then. @default 100 */
  readonly challengePeriodBlocks: number
  /**
   * Blocks after an aggregate lands during which it may be challenged. Shorter than a window on
   * purpose: a subnet's next aggregate is built only on a final one, so a period of a whole
   * window would make the model fall behind a little every window; and re-executing an
   * aggregate takes a checker seconds (no training, one optimizer step). @default 50
   */
  readonly aggregateChallengeBlocks: number
  /**
   * Blocks a drawn aggregator has for its transaction, counted from the height at which the
   * aggregation became due (every submission settled, the subnet's pointer final) or from the
   * slash or missed deadline that opened its attempt. @default 20
   */
  readonly aggregationDeadlineBlocks: number
  /**
   * Aggregators drawn for one (window, subnet), the first included: a slashed aggregate or a
   * missed deadline draws the next (never one already tried); after this many the window's
   * training on that subnet is given up. @default 3
   */
  readonly maxAggregationAttempts: number
  /** Yearly inflation paid to validators, in basis points of supply. @default 700 */
  readonly inflationBps: number
  /** Share of a faulty miner's (or aggregator's) stake slashed at L3, basis points. @default 1000 */
  readonly slashFractionBps: number
  /** Share of an equivocating validator's stake slashed, basis points. @default 500 */
  readonly equivocationSlashBps: number
  /** Share of stake slashed from an arbiter that misses its panel deadline, basis points. @default 100 */
  readonly arbiterPenaltyBps: number
  /** Share of stake slashed from a verifier that claimed the L2 seat and did not answer by the deadline, basis points. @default 100 */
  readonly verifierPenaltyBps: number
  /**
   * Share of a verifier's stake slashed when it answered 'owner' and the appealed panel found
   * the claim faulty, basis points: it signed a verdict the bit-exact re-execution proved
   * false. As much as a faulty miner's slash, so answering 'owner' unchecked costs what
   * cheating does. @default 1000
   */
  readonly overturnedVerifierSlashBps: number
  /** Paid (minted) to a verifier that answers. @default 50 R3MES */
  readonly verifierReward: bigint
  /** Paid (minted) to each arbiter on the winning side. @default 100 R3MES */
  readonly arbiterReward: bigint
  /** Least fee per transaction, paid to the block proposer. @default 0.01 R3MES */
  readonly minFee: bigint
  readonly minStakeValidator: bigint
  readonly minStakeMiner: bigint
  readonly minStakeVerifier: bigint
  readonly minStakeArbiter: bigint
  /** Delay before unstaked tokens return to the balance; slashing still reaches them. @default 100800 (≈ 1 week) */
  readonly unbondingBlocks: number
  readonly votingPeriodBlocks: number
  /** Share of all stake that must vote for a proposal to count, basis points. @default 3334 */
  readonly quorumBps: number
  /**
   * Blocks a finished window (every claim settled, paid or revoked, no dispute open) stays in
   * the state before its tasks, commitments, claims, challenges and CID records are pruned.
   * @default 17280 (≈ 1 day)
   */
  readonly retentionBlocks: number
  /** Oldest equivocation evidence accepted, in blocks. @default 1000 */
  readonly evidenceMaxAgeBlocks: number
  /** Largest encoded transaction. @default 2048 */
  readonly maxTxBytes: number
  /** Largest reveal transaction as encoded in blocks (a commit and a reveal together stay under 512 bytes). @default 511 */
  readonly maxSubmissionBytes: number
  /** Largest submission metadata (canonical JSON). @default 256 */
  readonly maxMetadataBytes: number
}

/**
 * The parameters of training itself (local steps, micro-batches, inner and outer rates). A
 * window records them when it opens (`Window.training`), so its tasks, aggregates and any
 * later dispute of them compute with the values the window ran with, even after governance
 * changes them: a change takes effect at the next window that opens.
 */
export const TRAINING_PARAMS = [
  'innerSteps',
  'microBatches',
  'stepSequences',
  'sequenceTokens',
  'innerLrPpm',
  'outerLrPpm',
  'outerMomentumPpm',
] as const
export type TrainingParams = Pick<Params, (typeof TRAINING_PARAMS)[number]>

export function trainingParamsOf(params: Params): TrainingParams {
  return {
    innerSteps: params.innerSteps,
    microBatches: params.microBatches,
    stepSequences: params.stepSequences,
    sequenceTokens: params.sequenceTokens,
    innerLrPpm: params.innerLrPpm,
    outerLrPpm: params.outerLrPpm,
    outerMomentumPpm: params.outerMomentumPpm,
  }
}

const R = UNITS_PER_TOKEN

export const defaultParams: Params = {
  blockTimeMs: 5000,
  windowBlocks: 100,
  replication: 2,
  shardsPerWindow: 512,
  tasksPerMiner: 2,
  innerSteps: 16,
  microBatches: 2,
  stepSequences: 8,
  sequenceTokens: 128,
  innerLrPpm: 2000,
  outerLrPpm: 350_000,
  outerMomentumPpm: 0,
  baseReward: 500n * R,
  bondMultiple: 10,
  bountyMultiple: 15,
  bountyShareBps: 5000,
  l2DeadlineBlocks: 5,
  l3DeadlineBlocks: 50,
  appealBlocks: 5,
  verifierExpectedCount: 5,
  verifierClaimBlocks: 2,
  maxVerifierAttempts: 3,
  maxPanelRounds: 3,
  challengePeriodBlocks: 100,
  aggregateChallengeBlocks: 50,
  aggregationDeadlineBlocks: 20,
  maxAggregationAttempts: 3,
  inflationBps: 700,
  slashFractionBps: 1000,
  equivocationSlashBps: 500,
  arbiterPenaltyBps: 100,
  verifierPenaltyBps: 100,
  overturnedVerifierSlashBps: 1000,
  verifierReward: 50n * R,
  arbiterReward: 100n * R,
  minFee: R / 100n,
  minStakeValidator: 10_000n * R,
  minStakeMiner: 1_000n * R,
  minStakeVerifier: 5_000n * R,
  minStakeArbiter: 5_000n * R,
  unbondingBlocks: 100_800,
  votingPeriodBlocks: 17_280,
  quorumBps: 3334,
  retentionBlocks: 17_280,
  evidenceMaxAgeBlocks: 1000,
  maxTxBytes: 2048,
  maxSubmissionBytes: 511,
  maxMetadataBytes: 256,
}

/**
 * Short times for a local testnet: 1 s blocks, 10-block windows, L2 ≈ 5 blocks (2 to claim the
 * seat: a claim sent when the challenge is seen must still land in time), L3 ≈ 6 blocks, and a
 * retention of 500 blocks (≈ 8 minutes), so a run shows finished windows leaving the state.
 */
export const localTestnetParams: Params = {
  ...defaultParams,
  blockTimeMs: 1000,
  windowBlocks: 10,
  // 4 inner steps for the preset's 10-block windows; the default testnet's 20-block windows
  // run 8 (topology/default.yaml: a task's last step to its commit now takes 2–3 s).
  innerSteps: 4,
  // As the defaults (half DiLoCo's rate): each aggregate lands two rounds after its miners'
  // start, where 0.7 makes held-out loss wander and 0.35 keeps it falling at H 4, 8 and 16.
  outerLrPpm: 350_000,
  stepSequences: 4,
  sequenceTokens: 64,
  l2DeadlineBlocks: 5,
  l3DeadlineBlocks: 6,
  challengePeriodBlocks: 10,
  aggregateChallengeBlocks: 5,
  aggregationDeadlineBlocks: 5,
  maxAggregationAttempts: 3,
  unbondingBlocks: 20,
  votingPeriodBlocks: 10,
  retentionBlocks: 500,
}

const BIGINT_FIELDS = new Set<keyof Params>([
  'baseReward',
  'verifierReward',
  'arbiterReward',
  'minFee',
  'minStakeValidator',
  'minStakeMiner',
  'minStakeVerifier',
  'minStakeArbiter',
])

/**
 * Most tasks per miner a window may aim at. A miner holds at most tasksPerMiner + 1 tasks
 * (task-slots.ts), and a pipeline neighbour has up to `microBatches` tensors in flight per
 * shared task, for the open window and the next, which the miner's inbox must hold from that
 * one sender: 2 × microBatches × (tasksPerMiner + 1) ≤ MAX_INBOX_TENSORS_PER_SENDER
 * (`validateParams`). This is that bound at one micro-batch.
 */
export const MAX_TASKS_PER_MINER = MAX_INBOX_TENSORS_PER_SENDER / 2 - 1

const MAX_REPLICATION = 16
const MAX_SHARDS_PER_WINDOW = 4096

/**
 * Most accepted submissions one (window, subnet) can hold: `shardsPerWindow` tasks of
 * `replication` miners each, at the greatest of both bounds (4,096 × 16). An aggregate's
 * `unavailable` bitmap has a bit for each: MAX_UNAVAILABLE_BITMAP_BYTES, which the decoder
 * takes, is ⌈this / 8⌉ (test/chain/unavailable-bitmap.test.ts keeps the two together).
 */
export const MAX_ACCEPTED_PER_AGGREGATION = MAX_SHARDS_PER_WINDOW * MAX_REPLICATION

/**
 * The most bytes of an aggregate transaction the chain can accept, less its `unavailable`
 * bitmap's own bytes; `validateParams` keeps this plus ⌈shardsPerWindow × replication / 8⌉
 * within `maxTxBytes`, so the aggregate of the fullest window always fits, however many of
 * its submissions go unserved. Canonical msgpack, each part at its largest:
 *   tx map {b, k, s}: fixmap 1 + three 1-character keys 6 + k bin8 2 + 32 + s bin8 2 + 64 = 107
 *   body {c, f, m, n}: fixmap 1 + keys 8 + chainId (genesis: at most 48 ASCII characters;
 *     any other is refused as the wrong chain) str8 2 + 48 + fee (at most 31 digits) fixstr
 *     1 + 31 + nonce (at most 2^53 − 1) uint64 9 = 100
 *   msg {ac, cl, n, t, ub, w}: fixmap 1 + keys 3 + 3 + 2 + 2 + 3 + 2 + adapterCid (canonical
 *     text at most 128 characters: base32 of at most 79 bytes) bin8 2 + 79 + claimsDigest
 *     bin8 2 + 32 + subnet (at most 1023) uint16 3 + type fixstr 1 + 9 + bitmap header
 *     (bin16 past 255 bytes) 3 + window (at most 2^53 − 1) uint64 9 = 156
 *   107 + 100 + 156 = 363. test/chain/unavailable-bitmap.test.ts builds this transaction.
 * At the default maxTxBytes (2,048) a subnet's window may hold (2048 − 363) × 8 = 13,480
 * submissions; the defaults (512 × 2) take 363 + 128 = 491 bytes.
 */
export const AGGREGATE_TX_FIXED_BYTES = 363

/** Bounds for each integer field: [least, greatest]. */
const INT_BOUNDS: Partial<Record<keyof Params, readonly [number, number]>> = {
  blockTimeMs: [1, 3_600_000],
  windowBlocks: [2, 1_000_000],
  replication: [1, MAX_REPLICATION],
  shardsPerWindow: [0, MAX_SHARDS_PER_WINDOW],
  tasksPerMiner: [1, MAX_TASKS_PER_MINER],
  innerSteps: [1, 1024],
  microBatches: [1, 64],
  stepSequences: [1, 256],
  sequenceTokens: [2, 8192],
  innerLrPpm: [1, 1_000_000],
  outerLrPpm: [1, 10_000_000],
  outerMomentumPpm: [0, 999_999],
  bondMultiple: [1, 1000],
  bountyMultiple: [0, 1000],
  bountyShareBps: [0, 10_000],
  l2DeadlineBlocks: [1, 100_000],
  l3DeadlineBlocks: [1, 1_000_000],
  appealBlocks: [1, 100_000],
  verifierExpectedCount: [1, 1000],
  verifierClaimBlocks: [1, 100_000],
  maxVerifierAttempts: [1, 100],
  maxPanelRounds: [1, 100],
  challengePeriodBlocks: [1, 10_000_000],
  aggregateChallengeBlocks: [1, 10_000_000],
  aggregationDeadlineBlocks: [1, 1_000_000],
  maxAggregationAttempts: [1, 100],
  inflationBps: [0, 10_000],
  slashFractionBps: [0, 10_000],
  equivocationSlashBps: [0, 10_000],
  arbiterPenaltyBps: [0, 10_000],
  verifierPenaltyBps: [0, 10_000],
  overturnedVerifierSlashBps: [0, 10_000],
  unbondingBlocks: [0, 10_000_000],
  votingPeriodBlocks: [1, 10_000_000],
  quorumBps: [0, 10_000],
  retentionBlocks: [1, 10_000_000],
  evidenceMaxAgeBlocks: [1, 10_000_000],
  maxTxBytes: [256, 1 << 20],
  maxSubmissionBytes: [128, 1 << 16],
  maxMetadataBytes: [0, 1 << 16],
}

export const PARAM_NAMES = Object.keys(defaultParams) as (keyof Params)[]

export function isParamName(name: string): name is keyof Params {
  return Object.hasOwn(defaultParams, name)
}

/** Parse one parameter from JSON (bigints as decimal strings); throws GenesisError naming `path`. */
export function parseParam(name: keyof Params, value: unknown, path: string): number | bigint {
  if (BIGINT_FIELDS.has(name)) {
    if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,30})$/.test(value)) {
      throw new GenesisError(
        path,
        `must be a non-negative integer amount as a decimal string, got ${JSON.stringify(value)}`,
      )
    }
    return BigInt(value)
  }
  const bounds = INT_BOUNDS[name] as readonly [number, number]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < bounds[0] || value > bounds[1]) {
    throw new GenesisError(path, `must be an integer in [${bounds[0]}, ${bounds[1]}], got ${JSON.stringify(value)}`)
  }
  return value
}

/** Parse a full or partial parameter object over `base`; unknown names are errors. */
export function parseParams(json: unknown, base: Params = defaultParams, path = 'params'): Params {
  if (json === undefined) return base
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new GenesisError(path, 'must be an object')
  const out: Record<string, unknown> = { ...base }
  for (const [name, value] of Object.entries(json)) {
    if (!isParamName(name)) throw new GenesisError(`${path}.${name}`, 'is not a chain parameter')
    out[name] = parseParam(name, value, `${path}.${name}`)
  }
  return validateParams(out as unknown as Params, path)
}

/** Cross-field rules. */
export function validateParams(p: Params, path = 'params'): Params {
  if (p.maxSubmissionBytes > p.maxTxBytes)
    throw new GenesisError(`${path}.maxSubmissionBytes`, 'must not exceed maxTxBytes')
  if (p.maxMetadataBytes >= p.maxSubmissionBytes)
    throw new GenesisError(`${path}.maxMetadataBytes`, 'must be smaller than maxSubmissionBytes')
  if (p.baseReward <= 0n) throw new GenesisError(`${path}.baseReward`, 'must be positive')
  if (2 * p.microBatches * (p.tasksPerMiner + 1) > MAX_INBOX_TENSORS_PER_SENDER)
    throw new GenesisError(
      `${path}.tasksPerMiner`,
      `with microBatches ${p.microBatches}, at most ${Math.floor(MAX_INBOX_TENSORS_PER_SENDER / (2 * p.microBatches)) - 1}: a pipeline neighbour's tensors for every task it shares with a miner must fit its inbox (${MAX_INBOX_TENSORS_PER_SENDER} per sender)`,
    )
  if (p.stepSequences % p.microBatches !== 0)
    throw new GenesisError(
      `${path}.microBatches`,
      `must divide stepSequences (${p.stepSequences}): every micro-batch holds the same number of sequences`,
    )
  const bitmapBytes = Math.ceil((p.shardsPerWindow * p.replication) / 8)
  if (AGGREGATE_TX_FIXED_BYTES + bitmapBytes > p.maxTxBytes)
    throw new GenesisError(
      `${path}.maxTxBytes`,
      `must be at least ${AGGREGATE_TX_FIXED_BYTES + bitmapBytes}: an aggregate declaring any of the ${p.shardsPerWindow * p.replication} submissions a window's subnet can hold (shardsPerWindow ${p.shardsPerWindow} × replication ${p.replication}) unavailable takes up to ${AGGREGATE_TX_FIXED_BYTES} bytes plus a ${bitmapBytes}-byte bitmap`,
    )
  if (p.verifierClaimBlocks >= p.l2DeadlineBlocks)
    throw new GenesisError(
      `${path}.verifierClaimBlocks`,
      'must be smaller than l2DeadlineBlocks (the seated verifier needs blocks to answer)',
    )
  return p
}

export function paramsToJson(p: Params): Record<string, string | number> {
  const out: Record<string, string | number> = {}
  for (const name of PARAM_NAMES) {
    const v = p[name]
    out[name] = typeof v === 'bigint' ? v.toString() : v
  }
  return out
}

export function minStakeFor(p: Params, role: Role): bigint {
  switch (role) {
    case 'validator':
      return p.minStakeValidator
    case 'miner':
      return p.minStakeMiner
    case 'verifier':
      return p.minStakeVerifier
    case 'arbiter':
      return p.minStakeArbiter
  }
}
