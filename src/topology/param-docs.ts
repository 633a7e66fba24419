/**
 * The doc comment of every chain parameter a topology may override, for the schema and the
 * editor's JSON Schema. The Record type makes a new chain parameter fail to compile here until
 * it is documented. Amounts are in R3MES in a topology file (base units in genesis JSON).
 */
import type { Params } from '../chain/params.ts'

export const PARAM_DOCS: Readonly<Record<keyof Params, string>> = {
  blockTimeMs: 'Target time between blocks, in milliseconds.',
  windowBlocks: 'Length of a training window, in blocks.',
  replication: 'Miners that train each task; L1 compares their gradient CIDs.',
  shardsPerWindow:
    'Most data shards a window trains (each is one task per subnet); bounds what a window adds to the chain.',
  tasksPerMiner:
    'Tasks each miner of the smallest subnet trains per window: shards = ceil(its miners × tasksPerMiner / replication), at most shardsPerWindow.',
  innerSteps: 'Local optimizer steps per task (DiLoCo inner steps) before its pseudo-gradient is submitted.',
  microBatches: 'Micro-batches per inner step, flowing through the pipeline stages one after another.',
  stepSequences: "Sequences in one inner step's batch (a multiple of microBatches).",
  sequenceTokens: "Tokens per sequence of a step, capped by the model's context length.",
  innerLrPpm: 'Inner AdamW learning rate, in millionths.',
  outerLrPpm: 'Outer Nesterov learning rate of the aggregate, in millionths.',
  outerMomentumPpm: 'Outer Nesterov momentum, in millionths.',
  baseReward: 'Reward for one accepted submission.',
  bondMultiple: 'L2 challenge bond, as a multiple of the base reward.',
  bountyMultiple: 'Bounty paid to a challenger proven right at L3, as a multiple of the base reward.',
  bountyShareBps: "Most of the convicted owner's slash the bounty may be, in basis points.",
  l2DeadlineBlocks: 'Blocks a selected verifier has to answer a challenge.',
  appealBlocks:
    "Blocks after a verifier answers 'owner' during which the challenger may appeal to an L3 panel with a second bond.",
  l3DeadlineBlocks: 'Blocks the L3 arbiter panel has to reach 2 of 3.',
  verifierExpectedCount: 'Verifiers the VRF sortition selects per L2 attempt, on average (weighted by stake).',
  verifierClaimBlocks: 'Blocks at the start of an L2 attempt during which selected verifiers claim the seat.',
  maxVerifierAttempts: 'L2 attempts (each a fresh VRF draw) before an unanswered challenge lapses.',
  maxPanelRounds: 'Panel rounds before an undecided dispute lapses.',
  challengePeriodBlocks: 'Blocks after a window closes during which its submissions may be challenged.',
  aggregateChallengeBlocks:
    'Blocks after an aggregate lands during which it may be challenged (shorter than a window).',
  aggregationDeadlineBlocks: 'Blocks a drawn aggregator has for its transaction, from when the aggregation became due.',
  maxAggregationAttempts:
    'Aggregators drawn for one window and subnet (a slashed aggregate or a missed deadline draws the next).',
  inflationBps: 'Yearly inflation paid to validators, in basis points of the supply.',
  slashFractionBps: "Share of a faulty miner's stake slashed at L3, in basis points.",
  equivocationSlashBps: "Share of an equivocating validator's stake slashed, in basis points.",
  arbiterPenaltyBps: 'Share of stake slashed from an arbiter that misses its panel deadline, in basis points.',
  verifierPenaltyBps: 'Share of stake slashed from a seated verifier that does not answer in time, in basis points.',
  overturnedVerifierSlashBps:
    "Share of stake slashed from a verifier that answered 'owner' when the appealed panel found a fault, in basis points.",
  verifierReward: 'Paid to a verifier that answers.',
  arbiterReward: 'Paid to each arbiter on the winning side.',
  minFee: 'Least fee per transaction.',
  minStakeValidator: 'Least stake of a validator.',
  minStakeMiner: 'Least stake of a miner.',
  minStakeVerifier: 'Least stake of a verifier.',
  minStakeArbiter: 'Least stake of an arbiter.',
  unbondingBlocks: 'Blocks before unstaked tokens return to the balance.',
  votingPeriodBlocks: 'Blocks a governance proposal stays open.',
  quorumBps: 'Share of all stake that must vote for a proposal to count, in basis points.',
  retentionBlocks: 'Blocks a finished window stays in the state before it is pruned.',
  evidenceMaxAgeBlocks: 'Oldest equivocation evidence accepted, in blocks.',
  maxTxBytes: 'Largest encoded transaction, in bytes.',
  maxSubmissionBytes: 'Largest reveal transaction as encoded in blocks, in bytes.',
  maxMetadataBytes: 'Largest submission metadata, in bytes.',
}
