/**
 * The topology file format: the shape of every field, its default and its doc comment. Checks
 * that need more than one field (layer tiling, node names, roles, the fault schedule) live in
 * checks.ts; this file is also the source of the editor's JSON Schema (json-schema.ts).
 *
 * Node names are stable and derived from the file: `validator-<i>`, `miner-<subnet>-<i>`,
 * `verifier-<i>`, `arbiter-<i>`, `serving-<i>` (see inventory.ts). Where a field takes nodes,
 * it takes those names or a selector naming a group (selectors.ts).
 */
import { z } from 'zod'
import { defaultParams, PARAM_NAMES, type Params } from '../chain/params.ts'
import { modelConfigs } from '../ml/config.ts'
import { MAX_TRACE_STEPS } from '../runtime/limits.ts'
import { amountSchema } from './amount.ts'
import { PARAM_DOCS } from './param-docs.ts'
import { DEFAULT_SPOT_STEPS, MISBEHAVIOURS } from './roles.ts'

const MODEL_NAMES = Object.keys(modelConfigs) as [string, ...string[]]

export const BACKENDS = ['auto', 'ts', 'cpu', 'cuda'] as const
export const PRESETS = ['localTestnet', 'production'] as const
export const FAULT_ACTIONS = [
  'kill',
  'pause',
  'resume',
  'restart',
  'disconnect',
  'partition',
  'heal',
  'clockSkew',
] as const

/** Chain parameters that have their own field under `chain` rather than `chain.params`. */
export const CHAIN_LEVEL_PARAMS = ['blockTimeMs', 'windowBlocks'] as const satisfies readonly (keyof Params)[]

const NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/
const NODE_REF_EXPECTED = 'a node name such as validator-0 or miner-1-0, or a selector such as validators'

function int(min: number, max: number) {
  const expected = `an integer in [${min}, ${max}]`
  return z
    .number({ error: expected })
    .int({ error: expected })
    .min(min, { error: expected })
    .max(max, { error: expected })
}

function nodeRef() {
  return z.string({ error: NODE_REF_EXPECTED }).regex(NAME_PATTERN, { error: NODE_REF_EXPECTED })
}

function nodeRefs(description: string) {
  return z.array(nodeRef(), { error: `a list of node names or selectors` }).describe(description)
}

const chainParamsSchema = z
  .strictObject(
    Object.fromEntries(
      PARAM_NAMES.filter((name) => !(CHAIN_LEVEL_PARAMS as readonly string[]).includes(name)).map((name) => [
        name,
        (typeof defaultParams[name] === 'bigint'
          ? amountSchema(PARAM_DOCS[name])
          : z.number({ error: 'an integer' }).int({ error: 'an integer' }).describe(PARAM_DOCS[name])
        ).optional(),
      ]),
    ),
  )
  .default({})
  .describe(
    'Any other chain parameter, by name, over the preset. Bounds are those of the chain (src/chain/params.ts); amounts are in R3MES.',
  )

const chainSchema = z
  .strictObject({
    id: z
      .string({ error: 'a chain id' })
      .regex(/^[a-z0-9][a-z0-9-]{0,47}$/, { error: 'a chain id: lowercase letters, digits and -, at most 48' })
      .optional()
      .describe('Chain id, part of every signed transaction and gossip topic. Default: r3mes-<name>.'),
    preset: z
      .enum(PRESETS, { error: `one of ${PRESETS.join(', ')}` })
      .default('localTestnet')
      .describe(
        'Parameter set the overrides start from: localTestnet (short times: 1 s blocks, 10-block windows) or production (the 5 s blocks and 100-block windows of a real network).',
      ),
    blockTimeMs: int(1, 3_600_000).optional().describe(`${PARAM_DOCS.blockTimeMs} Default: the preset's.`),
    windowBlocks: int(2, 1_000_000).optional().describe(`${PARAM_DOCS.windowBlocks} Default: the preset's.`),
    params: chainParamsSchema,
  })
  .default({ preset: 'localTestnet', params: {} })
  .describe('Chain parameters.')

const validatorsSchema = z
  .strictObject({
    count: int(1, 100)
      .optional()
      .describe('Number of validators. Default: the length of `stake` when it is a list, else 4.'),
    stake: z
      .union([amountSchema('One stake for every validator.'), z.array(amountSchema('Stake of one validator.'))], {
        error: 'an amount of R3MES, or a list of amounts (one per validator)',
      })
      .optional()
      .describe(
        "Stake of each validator: one amount for all, or a list whose i-th entry is validator-i's. Default: twice the chain's minStakeValidator.",
      ),
  })
  .default({})
  .describe('The validators, named validator-0, validator-1, … They run BFT consensus; stake is voting power.')

const subnetSchema = z
  .strictObject({
    layers: z
      .tuple([int(0, 100_000), int(0, 100_000)], { error: 'a layer range [first, end)' })
      .describe(
        'Layer range [first, end) of the model this subnet trains. Together the subnets tile the model: the first starts at 0, each starts where the previous ends, the last ends at the model depth.',
      ),
    miners: int(1, 64).default(2).describe('Miners training this subnet, named miner-<subnet>-0, miner-<subnet>-1, …'),
    peers: int(0, 16)
      .default(0)
      .describe(
        "Subnet peers seeding this subnet, named peer-<subnet>-0, peer-<subnet>-1, …: they join the subnet's topics, hold its layer range and recent content and serve them, without training or stake.",
      ),
    minerStake: amountSchema("Stake of each miner of this subnet. Default: twice the chain's minStakeMiner.")
      .optional()
      .describe("Stake of each miner of this subnet. Default: twice the chain's minStakeMiner."),
  })
  .describe('One subnet: a pipeline stage of the model and the miners that train it.')

function hostedRoleSchema(role: string, plural: string, minStake: string) {
  return z
    .strictObject({
      count: int(0, 64).default(0).describe(`Dedicated ${role} nodes to add, named ${role}-0, ${role}-1, …`),
      on: nodeRefs(
        `Existing nodes that also hold the ${role} role: validator or miner names, or the selectors validators and miners.`,
      ).default([]),
      stake: amountSchema(`Stake of each dedicated ${role} node.`)
        .optional()
        .describe(`Stake of each dedicated ${role} node. Default: twice the chain's ${minStake}.`),
    })
    .default({ count: 0, on: [] })
    .describe(`The ${plural}: dedicated nodes (count) and roles co-located on existing nodes (on).`)
}

const servingSchema = z
  .strictObject({
    count: int(0, 16).default(0).describe('Serving nodes, named serving-0, serving-1, … They hold no stake.'),
    port: int(0, 65_535)
      .default(0)
      .describe('HTTP port of serving-0; serving-i listens on port + i. 0 lets the system pick free ports.'),
  })
  .default({ count: 0, port: 0 })
  .describe('Serving nodes: load the backbone and the latest adapters and answer completion requests.')

const aggregatorSchema = z
  .strictObject({
    on: nodeRefs(
      'Validators that run the aggregator role: validator names or the selector validators. The chain picks one validator per window by sortition; a window whose pick runs no aggregator misses its aggregation.',
    ).default(['validators']),
  })
  .default({ on: ['validators'] })
  .describe('Which validators can aggregate a window.')

const challengerSchema = z
  .strictObject({
    nodes: nodeRefs('Nodes that re-check submissions and challenge the wrong ones: names or selectors.'),
    fraction: z
      .number({ error: 'a number in (0, 1]' })
      .gt(0, { error: 'a number in (0, 1]' })
      .lte(1, { error: 'a number in (0, 1]' })
      .default(1)
      .describe('Share of the submissions each of these nodes re-checks, in (0, 1].'),
    steps: z
      .union([z.literal('all'), int(0, MAX_TRACE_STEPS)], { error: `all, or an integer in [0, ${MAX_TRACE_STEPS}]` })
      .default(DEFAULT_SPOT_STEPS)
      .describe(
        'Inner steps of a checked task re-executed, drawn in secret, beside the pseudo-gradient check; all (or 0) re-executes the whole task.',
      ),
  })
  .describe('Nodes that check a fraction of the submissions.')

const misbehaviourSchema = z
  .strictObject({
    node: nodeRef().describe('The misbehaving node, by name.'),
    kind: z
      .enum(MISBEHAVIOURS, { error: `one of ${MISBEHAVIOURS.join(', ')}` })
      .describe(
        'wrongGradient (a miner submits a gradient it did not compute), copiedCid (a miner reveals the CID of another miner), wrongAggregate (a validator drawn to aggregate publishes an adapter state it did not compute), withholdingMiner (a miner reveals work but never serves the content it names), withholdAndChallenge (a challenger bonds challenges against withheld claims without checking them, so the verifiers cannot fetch the content), lazyVerifier (a verifier answers without recomputing), griefingChallenger (a challenger disputes honest submissions), equivocatingValidator (a validator signs two blocks at one height), byzantineValidator (a validator sends far-future rounds, heights and block times, junk commits, evidence and transactions, and statuses with forged authors, beside its honest votes), seedGrinder (a validator that, when it proposes, forges a beacon of its choosing or withholds its block).',
      ),
    fromWindow: int(0, 1_000_000)
      .default(0)
      .describe('First training window (0 = the first) in which the node misbehaves.'),
  })
  .describe(
    'A node planted to cheat; chaos checks that it is caught and slashed, or (byzantineValidator, seedGrinder) that the network shrugs it off.',
  )

const linkSchema = {
  delayMs: int(0, 60_000).describe('Added one-way delay of every message a node sends, in milliseconds.'),
  jitterMs: int(0, 60_000).describe('Uniform random extra delay in [0, jitterMs] per message, in milliseconds.'),
  lossPercent: z
    .number({ error: 'a percentage in [0, 100]' })
    .min(0, { error: 'a percentage in [0, 100]' })
    .max(100, { error: 'a percentage in [0, 100]' })
    .describe('Share of messages dropped, in percent [0, 100].'),
}

const networkSchema = z
  .strictObject({
    delayMs: linkSchema.delayMs.default(0),
    jitterMs: linkSchema.jitterMs.default(0),
    lossPercent: linkSchema.lossPercent.default(0),
    nodes: z
      .record(
        nodeRef(),
        z
          .strictObject({
            delayMs: linkSchema.delayMs.optional(),
            jitterMs: linkSchema.jitterMs.optional(),
            lossPercent: linkSchema.lossPercent.optional(),
          })
          .describe('Conditions of these nodes; fields left out keep the network-wide value.'),
        { error: 'a mapping from node names or selectors to link conditions' },
      )
      .default({})
      .describe(
        'Per-node overrides, keyed by node name or selector. Selector entries apply first, then name entries, so a name wins over its group.',
      ),
  })
  .default({ delayMs: 0, jitterMs: 0, lossPercent: 0, nodes: {} })
  .describe('Network conditions on loopback, applied by the fault-injection layer of each node.')

const AT_EXPECTED =
  'one of { height: N } (a block height), { ms: N } (milliseconds after start) or { afterMs: N } (milliseconds after the previous fault)'

const atSchema = z
  .union(
    [
      z.strictObject({ height: int(1, 100_000_000).describe('Block height at which the fault fires.') }),
      z.strictObject({
        ms: int(0, 86_400_000).describe(
          'Milliseconds after the network starts (every node launched) at which the fault fires.',
        ),
      }),
      z.strictObject({
        afterMs: int(0, 86_400_000).describe(
          'Milliseconds after the previous fault fired (after start for the first): for a fault that must follow another whose height is not known in advance, such as a heal after a partition.',
        ),
      }),
    ],
    { error: AT_EXPECTED },
  )
  .describe('When the fault fires: { height: N }, { ms: N } after start, or { afterMs: N } after the previous fault.')

const targetsDoc =
  'Nodes the action applies to: names or the selectors validators, miners, verifiers, arbiters, serving, all, proposer (the proposer of the current height when the fault fires).'

function fault<A extends string, S extends z.core.$ZodLooseShape>(action: A, doc: string, shape: S) {
  return z.strictObject({ at: atSchema, action: z.literal(action).describe(doc), ...shape })
}

const faultSchema = z
  .discriminatedUnion(
    'action',
    [
      fault('kill', 'Kill the process (SIGKILL); it stays down until a restart.', {
        targets: nodeRefs(targetsDoc),
      }),
      fault('pause', 'Freeze the process (SIGSTOP); it keeps its connections but answers nothing.', {
        targets: nodeRefs(targetsDoc),
      }),
      fault('resume', 'Unfreeze paused processes (SIGCONT).', {
        targets: nodeRefs(`${targetsDoc} Default: every paused node.`).optional(),
      }),
      fault('restart', 'Start killed nodes again from their stored state (a running node is killed first).', {
        targets: nodeRefs(`${targetsDoc} Default: every killed node.`).optional(),
      }),
      fault('disconnect', 'Cut every connection of the targets, until a heal.', { targets: nodeRefs(targetsDoc) }),
      fault('partition', 'Split the network into groups that cannot reach each other, until a heal.', {
        groups: z
          .array(
            nodeRefs(
              'One side: node names or selectors (not proposer); the selector rest stands for every node named in no other group.',
            ),
            { error: 'a list of groups, each a list of node names or selectors' },
          )
          .min(2, { error: 'at least 2 groups' })
          .describe('The sides of the partition; every node is in exactly one.'),
      }),
      fault('heal', 'Restore the connections cut by disconnect and partition.', {
        targets: nodeRefs('Nodes to reconnect. Default: every node.').optional(),
      }),
      fault('clockSkew', "Shift the targets' wall clocks.", {
        targets: nodeRefs(targetsDoc),
        skewMs: int(-3_600_000, 3_600_000).describe(
          'Shift of the wall clock in milliseconds (negative: behind); 0 undoes a skew.',
        ),
      }),
    ],
    { error: `a fault whose action is one of ${FAULT_ACTIONS.join(', ')}` },
  )
  .describe('One scheduled fault.')

const runSchema = z
  .strictObject({
    windows: int(1, 10_000).default(3).describe('Training windows to run before the network stops.'),
    timeoutMs: int(1_000, 86_400_000)
      .optional()
      .describe(
        'Longest the run may take, in milliseconds; a run that has not finished by then fails. Default: three times the nominal length (windows × windowBlocks × blockTimeMs) plus two minutes to start.',
      ),
    recoveryBlocks: int(1, 1_000_000)
      .default(20)
      .describe('Chaos: blocks within which the network must commit again after each fault.'),
  })
  .default({ windows: 3, recoveryBlocks: 20 })
  .describe('How long the run lasts and how quickly it must recover.')

export const topologySchema = z
  .strictObject({
    name: z
      .string({ error: 'a name' })
      .regex(NAME_PATTERN, { error: 'a name: lowercase letters, digits and -, starting with a letter' })
      .describe('Name of the network, used in reports and as the default chain id suffix.'),
    description: z.string({ error: 'a text' }).default('').describe('What this network or scenario is for.'),
    seed: int(0, Number.MAX_SAFE_INTEGER)
      .default(1)
      .describe(
        'Seed of everything random in the run (keys, link jitter and loss, timings): one seed reproduces a run.',
      ),
    model: z
      .enum(MODEL_NAMES, { error: `one of the model configurations ${MODEL_NAMES.join(', ')}` })
      .default('tiny')
      .describe('Model configuration (src/ml/config.ts), e.g. tiny or micro.'),
    backend: z
      .enum(BACKENDS, { error: `one of ${BACKENDS.join(', ')}` })
      .default('auto')
      .describe('Compute backend of the training nodes: auto picks the fastest available.'),
    chain: chainSchema,
    validators: validatorsSchema,
    subnets: z
      .array(subnetSchema, { error: 'a list of subnets' })
      .min(1, { error: 'at least one subnet' })
      .describe('The subnets in pipeline order; subnet k is the k-th entry.'),
    verifiers: hostedRoleSchema('verifier', 'verifiers (L2: recompute a challenged submission)', 'minStakeVerifier'),
    arbiters: hostedRoleSchema(
      'arbiter',
      'arbiters (L3: the 3-member CPU panel; at least 3 when any)',
      'minStakeArbiter',
    ),
    aggregator: aggregatorSchema,
    serving: servingSchema,
    challengers: z
      .array(challengerSchema, { error: 'a list of challenger entries' })
      .optional()
      .describe('Who re-checks submissions. Default: every verifier re-checks all of them.'),
    misbehaviours: z
      .array(misbehaviourSchema, { error: 'a list of misbehaviours' })
      .default([])
      .describe('Planted cheats.'),
    network: networkSchema,
    faults: z
      .array(faultSchema, { error: 'a list of faults' })
      .default([])
      .describe('The fault schedule, in firing order: heights non-decreasing, times non-decreasing.'),
    run: runSchema,
  })
  .describe('An R3MES network: chain, nodes and roles, misbehaviours, network conditions and a fault schedule.')

export type TopologyFile = z.output<typeof topologySchema>
export type FaultEntry = TopologyFile['faults'][number]
export type FaultAction = (typeof FAULT_ACTIONS)[number]
export type MisbehaviourKind = (typeof MISBEHAVIOURS)[number]
export type Backend = (typeof BACKENDS)[number]
