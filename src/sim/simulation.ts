/**
 * A whole network in one process, replayable from a seed: N validators, each the real
 * consensus node (src/consensus: core, NodeIo, WAL, privval, mempool, evidence pool, in
 * memory) running the real chain application (src/chain through the same adapter the nodes
 * use), talking over the simulated network (network.ts) on one SimulatedClock; miners
 * (hosted-miners.ts), verifiers, arbiters and challengers (hosted-roles.ts) and aggregators
 * (hosted-aggregators.ts) as the nodes' role machines, each through a narrow seam whose
 * simulated side is the deterministic cost model (cost-model.ts: a miner's `TaskWork`, a
 * verifier's `ClaimReexecution`, a challenger's `ClaimCheck`, an aggregator's
 * `AggregateComputation`), all sending real signed transactions through their accounts'
 * outboxes (participants.ts). One seed fixes keys, cheaters, network schedule and
 * faults, so a run is byte for byte the same each time; the digest of every committed block
 * (height, block hash, app hash after it) shows it.
 */

import { ChainApplication } from '../actors/chain-application.ts'
import { ChainApp, type ChainAppApi } from '../chain/app.ts'
import { type Genesis as ChainGenesis, genesisValidators, localTestnetGenesis } from '../chain/genesis.ts'
import { type KeyPair, testKey } from '../chain/keys.ts'
import { type Params, UNITS_PER_TOKEN } from '../chain/params.ts'
import type { ChainState } from '../chain/state.ts'
import { fromHex, toHex } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'
import { genesisBeacon } from '../consensus/beacon.ts'
import { hashBlock } from '../consensus/block.ts'
import { DEFAULT_TIMEOUTS, type TimeoutConfig } from '../consensus/core-types.ts'
import { EvidencePool } from '../consensus/evidence-pool.ts'
import type { Genesis } from '../consensus/genesis.ts'
import { addressOf as consensusAddressOf, signerFromSeed } from '../consensus/keys.ts'
import { Mempool } from '../consensus/mempool.ts'
import { ConsensusNode } from '../consensus/node.ts'
import type { NodeComponents } from '../consensus/node-io.ts'
import { MemoryLastSignedStore, PrivValidator } from '../consensus/privval.ts'
import { MemoryStateStore } from '../consensus/stores.ts'
import { ValidatorSet } from '../consensus/validator-set.ts'
import { MemoryWal } from '../consensus/wal.ts'
import { SimulatedClock } from '../runtime/clock.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import { MAX_BLOCK_TIME_DRIFT_MS, MAX_ROUNDS_AHEAD } from '../runtime/limits.ts'
import { createLogger } from '../runtime/logger.ts'
import { SeededRandom } from '../runtime/random.ts'
import { DEFAULT_CHALLENGE_FRACTION, DEFAULT_SPOT_STEPS, type Misbehaviour } from '../topology/roles.ts'
import { SimContent } from './content.ts'
import type { CostModel } from './cost-model.ts'
import { type FaultFile, healedAtMs, planFaults } from './faults.ts'
import { HostedAggregators } from './hosted-aggregators.ts'
import { HostedMiners } from './hosted-miners.ts'
import { HostedRoles } from './hosted-roles.ts'
import { Invariants, type Violation } from './invariants.ts'
import { castMisbehaviours, GRIEF_ONE_IN, MisbehaviourModels, misbehavingAddresses } from './misbehaviours.ts'
import { SimNetwork } from './network.ts'
import { skewedClock, throughSlowDisk } from './node-faults.ts'
import { Participants } from './participants.ts'
import { SharedBlocks } from './shared-blocks.ts'
import { SharedChainView, SharedExecution } from './shared-execution.ts'
import { Turns } from './turns.ts'
import { txIdOf } from './tx-ids.ts'
import { misbehavingTransport } from './validator-misbehaviours.ts'

export interface SimulationOptions {
  readonly seed: number
  readonly validators: number
  readonly miners: number
  readonly subnets: number
  readonly windows: number
  /** Share of miners that reveal wrong gradients, drawn from the seed. @default 0.1 */
  readonly cheaterShare?: number
  /** @default max(4, miners / 10) each */
  readonly verifiers?: number
  readonly arbiters?: number
  /**
   * Honest challengers: one per 5 miners, at least 2. Each checks every flagged claim and a
   * quarter of the rest, a check takes the cost model's time, and flagged claims arrive in
   * proportion to the miners: one per 100 left a window's wrong claims unchallenged at 400
   * miners, and one per 10 some of the claims a griefer's unappealed challenge gave back,
   * behind the next window's flagged claims (docs/ARCHITECTURE.md §14).
   * @default max(2, ⌈miners / 5⌉)
   */
  readonly challengers?: number
  /** Transactions each account keeps in flight (1: one a block, as senders did once). @default TX_MAX_IN_FLIGHT */
  readonly txsInFlight?: number
  /** Faults as a fault file gives them; the random ones are drawn from the seed. @default none */
  readonly faults?: FaultFile
  /** Chain parameters over the local-testnet ones. */
  readonly params?: Partial<Params>
  readonly timeouts?: TimeoutConfig
  readonly costModel?: CostModel
  /** Stop at the first block that satisfies this (after its invariants were checked). */
  readonly until?: StopCondition
  /** Give up when this much simulated time has passed without reaching the end. @default 2 × the expected run */
  readonly maxSimulatedMs?: number
  /** Measures host time around the consensus and application work (absent: no CPU figures). */
  readonly hostMs?: () => number
  /**
   * Validators 0 … witnesses − 1 execute every block on a private chain application; the others
   * share one execution (shared-execution.ts), which changes nothing the chain computes. As many
   * as there are validators: every validator private (fully replicated). @default 3
   */
  readonly witnesses?: number
  /**
   * Each validator decodes its own copy of every consensus message and verifies signatures and
   * proofs in its own memo scope, as validators in processes of their own do (for measuring a
   * validator's consensus CPU; shared decoding and verification change nothing computed, only
   * host time). @default false
   */
  readonly isolateValidators?: boolean
  /** The planted fault for tests of the invariants: after block `height`, validator 0's app changes a balance. */
  readonly plantedFault?: { readonly height: number }
}

export type StopCondition =
  | { readonly kind: 'height'; readonly height: number }
  | { readonly kind: 'window'; readonly window: number }
  | { readonly kind: 'cheat-caught' }
  | { readonly kind: 'violation' }

export interface SimulationReport {
  readonly seed: number
  readonly validators: number
  readonly miners: number
  readonly subnets: number
  readonly windows: number
  readonly heights: number
  readonly simulatedMs: number
  /** SHA-256 over every block line, hex. */
  readonly digest: string
  /** `height blockHash appHashAfter`, one per committed height. */
  readonly blocks: readonly string[]
  readonly stoppedBy: string
  readonly violations: readonly Violation[]
  readonly consensus: {
    readonly messagesPerHeightPerValidator: number
    readonly bytesPerHeightPerValidator: number
    readonly messagesByKind: Readonly<Record<string, number>>
    /**
     * Host ms per height per validator in consensus (signature checks included) and in the chain
     * application: all validators' time divided among them, so with shared execution the
     * application figure is the witnesses' executions and the shared one spread over every validator.
     */
    readonly consensusCpuMsPerHeightPerValidator: number | null
    readonly appCpuMsPerHeightPerValidator: number | null
    /** Consensus messages decoded and handed to a node (not duplicates dropped before decoding). */
    readonly messagesProcessedPerHeightPerValidator: number
    /** Host µs per such message: decoding, admission, signature checks, the core and the WAL, less block execution. */
    readonly cpuUsPerMessageProcessed: number | null
    /** Duplicated copies their receivers dropped as seen, undecoded. */
    readonly duplicatesDropped: number
    readonly dropped: number
    readonly meanBlockIntervalMs: number
  }
  readonly transactions: {
    readonly applied: Readonly<Record<string, number>>
    readonly refused: Readonly<Record<string, number>>
    /** Simulated ms from sending a transaction to the block that applied it. */
    readonly finalityMeanMs: number
    readonly finalityP99Ms: number
    readonly pending: number
  }
  readonly game: {
    readonly cheats: number
    readonly caught: number
    readonly missed: number
    /** Cheats whose deadline lies beyond the end of the run, not yet slashed. */
    readonly open: number
    readonly honestSlashed: number
    /** Honest verifiers, arbiters and validators that paid a duty penalty (a late answer), within 5 % of their stake. */
    readonly dutyPenalized: number
    readonly challenges: number
    readonly verifierAnswers: number
    /** Appeals of a verifier's 'owner' applied. */
    readonly appeals: number
    /** Verifiers whose 'owner' a panel overturned on appeal (slashed for it). */
    readonly overturnedVerifiers: number
    readonly arbiterVotes: number
    /** Re-executions the verifier and arbiter machines ran (a lazy verifier's answers run none). */
    readonly reexecutions: number
    readonly aggregates: number
    /** Accepted submissions the aggregator machines declared unavailable (their gradient not served in time). */
    readonly declaredUnavailable: number
    /** Tasks the miner machines trained (the cost model's time each; a copier trains none). */
    readonly tasksTrained: number
    /** Reveals the chain acknowledged to the miner machines. */
    readonly minerReveals: number
    /** The miner machines' task outcomes by code ('OK': revealed; FAILED, ABANDONED, NOTHING_TO_COPY, or a refusal's code). */
    readonly minerOutcomes: Readonly<Record<string, number>>
  }
  /** The fault file's misbehaviours and machine faults (absent when it names none). */
  readonly misbehaviours?: {
    readonly copies: number
    readonly copiesPaid: number
    readonly withheld: number
    readonly withheldCaught: number
    readonly wrongAggregates: number
    readonly wrongAggregatesSlashed: number
    readonly griefingChallenges: number
    readonly lazyAnswers: number
    readonly equivocators: number
    readonly equivocatorsJailed: number
    readonly byzantineValidators: number
    readonly seedGrinders: number
    readonly skewedClocks: number
    readonly slowDisks: number
  }
  readonly chainStateBytes: number
  /** Validators with a private chain application (the rest share one execution). */
  readonly witnesses: number
  /** The shared execution's work (absent when every validator is a witness): see SharedExecution.stats. */
  readonly sharing?: SharedExecution['stats']
}

/** Stake units and balances: generous, so no honest account runs out over a long run. */
const BALANCE = 10_000_000n * UNITS_PER_TOKEN
const GOSSIP_INTERVAL_MS = 200
/** Blocks each node keeps in memory (older ones are pruned; a node further behind cannot catch up). */
const KEEP_BLOCKS = 200
const LIVENESS_BUDGET_MS = 60_000
/** How long after the first validator executes a block the participants act on it. */
const CLIENT_DELAY_MS = 150
const DEFAULT_WITNESSES = 3

export async function runSimulation(opts: SimulationOptions): Promise<SimulationReport> {
  checkOptions(opts)
  const rng = new SeededRandom(opts.seed)
  const clock = new SimulatedClock()
  const label = (role: string, i: number): KeyPair => testKey(`sim/${opts.seed}/${role}/${i}`)
  const validatorKeys = Array.from({ length: opts.validators }, (_, i) => label('validator', i))
  const minerKeys = Array.from({ length: opts.miners }, (_, i) => label('miner', i))
  const nVerifiers = opts.verifiers ?? Math.max(4, Math.floor(opts.miners / 10))
  const nArbiters = opts.arbiters ?? Math.max(4, Math.floor(opts.miners / 10))
  const verifierKeys = Array.from({ length: nVerifiers }, (_, i) => label('verifier', i))
  const arbiterKeys = Array.from({ length: nArbiters }, (_, i) => label('arbiter', i))
  const honestChallengers = Array.from(
    { length: opts.challengers ?? Math.max(2, Math.ceil(opts.miners / 5)) },
    (_, i) => label('challenger', i),
  )
  const rates = opts.faults?.misbehaviours
  const cheaterShare = rates?.wrongGradient ?? opts.cheaterShare ?? 0.1
  const cheaters = new Set(
    rng
      .fork('cheaters')
      .shuffle(minerKeys.map((k) => k.address))
      .slice(0, Math.round(opts.miners * cheaterShare)),
  )
  const cast =
    rates === undefined
      ? undefined
      : castMisbehaviours(
          {
            rates,
            miners: minerKeys.map((k) => k.address).filter((a) => !cheaters.has(a)),
            verifiers: verifierKeys.map((k) => k.address),
            validators: validatorKeys.map((k) => k.address),
            challengerKey: (kind, i) => label(kind, i),
          },
          rng.fork('misbehaviours'),
        )
  const models = cast === undefined ? undefined : new MisbehaviourModels(cast)
  const challengerKeys = [...honestChallengers, ...(cast?.griefers ?? []), ...(cast?.accomplices ?? [])]
  const bySubnet = Array.from({ length: opts.subnets }, (_, s) => minerKeys.filter((_, i) => i % opts.subnets === s))
  const layers = Array.from({ length: opts.subnets }, (_, s) => [s * 2, s * 2 + 2] as const)
  const genesis: ChainGenesis = localTestnetGenesis({
    chainId: `r3mes-sim-${opts.seed}`,
    params: opts.params ?? {},
    validators: validatorKeys,
    miners: bySubnet,
    verifiers: verifierKeys,
    arbiters: arbiterKeys,
    funded: challengerKeys,
    balance: BALANCE,
    subnetLayers: layers,
  })
  const params = genesis.params
  const misbehaving =
    cast === undefined
      ? new Set<string>()
      : misbehavingAddresses(
          cast,
          validatorKeys.map((k) => k.address),
        )
  const honest = new Set(
    [...validatorKeys, ...minerKeys, ...verifierKeys, ...arbiterKeys]
      .map((k) => k.address)
      .filter((a) => !cheaters.has(a) && !misbehaving.has(a)),
  )
  const consensus = consensusGenesisOf(genesis)
  const validatorSet = ValidatorSet.create(consensus.validators)
  const timeouts = opts.timeouts ?? DEFAULT_TIMEOUTS
  const endHeight =
    opts.windows * params.windowBlocks +
    params.challengePeriodBlocks +
    params.maxVerifierAttempts * params.l2DeadlineBlocks +
    params.appealBlocks +
    params.l3DeadlineBlocks +
    // Withheld submissions are judged once aggregated, and aggregates have a challenge game of their own.
    (cast === undefined
      ? 0
      : params.maxAggregationAttempts * params.aggregationDeadlineBlocks +
        params.aggregateChallengeBlocks +
        params.maxPanelRounds * params.l3DeadlineBlocks)
  const expectedMs = endHeight * (timeouts.commitMs + 500)
  const faults = planFaults(opts.faults ?? {}, opts.validators, expectedMs, rng.fork('faults'))
  const net = new SimNetwork(
    {
      nodes: opts.validators,
      profile: faults.network,
      random: rng.fork('network'),
      ...(opts.isolateValidators === true ? { isolateReceivers: true } : {}),
    },
    {
      clock,
      // A received message's decoding is its receiver's consensus work, as consensus-link's is.
      measure: (work) => {
        const consensusBefore = consensusMs
        const appBefore = appMs
        const simBefore = simMs
        timed(work)
        messageMs += consensusMs - consensusBefore - (appMs - appBefore) - (simMs - simBefore)
      },
    },
  )
  const invariants = new Invariants({ honest })
  const firstBeacon = genesisBeacon(consensus, new ChainApp(genesis).appHash())
  const keyOf = new Map(consensus.validators.map((v) => [toHex(consensusAddressOf(v.publicKey)), v.publicKey]))
  // The furthest ahead a committed block may be dated: the fastest clock plus the drift consensus allows.
  const maxDriftPpm = Math.max(0, ...faults.clockSkews.map((c) => c.driftPpm))
  const aheadMs =
    Math.max(0, ...faults.clockSkews.map((c) => c.offsetMs)) +
    Math.ceil((maxDriftPpm * 2 * expectedMs) / 1_000_000) +
    MAX_BLOCK_TIME_DRIFT_MS +
    1000
  const equivocatedAt = new Map<string, number>()
  const silent = createLogger({ name: 'sim', level: 'silent', clock })
  const txRng = rng.fork('clients')
  /** When the last client transactions sent to each validator arrive there (later ones arrive after). */
  const txsArriveAt: number[] = []
  const host = opts.hostMs
  let consensusMs = 0
  let appMs = 0
  /** Host time receivers spent on consensus messages (decoding, admission, the core, the WAL), less block execution. */
  let messageMs = 0
  /**
   * Host time the simulator's own checks took inside a node's callbacks (its invariants on each
   * commit: the block's hash, the beacon's proof): not a validator's work, so not counted as it.
   */
  let simMs = 0
  /** Run `fn`, handing its host time to `add` (when the run measures host time). */
  const measured = (fn: () => void, add: (ms: number) => void): void => {
    if (host === undefined) {
      fn()
      return
    }
    const t0 = host()
    fn()
    add(host() - t0)
  }
  const untimed = (fn: () => void): void =>
    measured(fn, (ms) => {
      simMs += ms
    })
  const timed = (fn: () => void): void =>
    measured(fn, (ms) => {
      consensusMs += ms
    })

  const turns = new Turns(clock)
  const content = new SimContent({ turns, withholders: cast?.withholders ?? new Set() })
  const costModel = opts.costModel ?? { stepMs: 500, innerSteps: params.innerSteps }
  const participants = new Participants(
    {
      chainId: genesis.chainId,
      fee: params.minFee,
      miners: minerKeys,
      cheaters,
      verifiers: verifierKeys,
      arbiters: arbiterKeys,
      challengers: challengerKeys,
      validators: validatorKeys,
      ...(opts.txsInFlight === undefined ? {} : { txsInFlight: opts.txsInFlight }),
      ...(models === undefined ? {} : { misbehaviours: models }),
    },
    {
      clock,
      // Clients reach every validator (as the transaction topic does), each copy with the network's
      // latency and loss, and in the order sent (one connection keeps its order): a sender's
      // nonce n+1 sent after n does not overtake it and find the mempool refusing a gap.
      submit: (txs) => {
        const now = clock.monotonicMs()
        for (let to = 0; to < opts.validators; to++) {
          if (txRng.chance(faults.network.loss)) continue
          const delay =
            faults.network.baseLatencyMs + txRng.nextInt(Math.max(1, Math.ceil(faults.network.jitterMs)) + 1)
          const at = Math.max(now + delay, txsArriveAt[to] ?? 0)
          txsArriveAt[to] = at
          clock.setTimer(at - now, () => {
            const node = nodes[to]
            if (node !== undefined && up[to])
              disks[to]?.(() => {
                if (nodes[to] === node && up[to]) timed(() => node.receive({ kind: 'txs', txs }, 'client'))
              })
          })
        }
      },
    },
  )
  const roles = new HostedRoles(
    {
      verifiers: verifierKeys,
      arbiters: arbiterKeys,
      lazyVerifiers: cast?.lazyVerifiers ?? new Set(),
      challengers: [
        ...honestChallengers.map((key) => ({
          key,
          misbehaviours: new Set<Misbehaviour>(),
          challengeFraction: DEFAULT_CHALLENGE_FRACTION,
        })),
        // A griefer challenges whatever it checks: its share sets how often it grieves.
        ...(cast?.griefers ?? []).map((key) => ({
          key,
          misbehaviours: new Set<Misbehaviour>(['griefingChallenger']),
          challengeFraction: 1 / GRIEF_ONE_IN,
        })),
        ...(cast?.accomplices ?? []).map((key) => ({
          key,
          misbehaviours: new Set<Misbehaviour>(['withholdAndChallenge']),
          challengeFraction: DEFAULT_CHALLENGE_FRACTION,
        })),
      ],
      costModel,
      spotSteps: DEFAULT_SPOT_STEPS,
    },
    {
      clock,
      turns,
      content,
      send: (address, msg, settled) => participants.send(address, msg, settled),
      logger: silent,
    },
  )
  const aggregators = new HostedAggregators(
    { validators: validatorKeys, wrongAggregators: cast?.wrongAggregators ?? new Set(), costModel },
    {
      chain: roles.chain,
      turns,
      content,
      send: (address, msg, settled) => participants.send(address, msg, settled),
      logger: silent,
    },
  )
  const minerMisbehaviours = new Map<string, Set<Misbehaviour>>()
  const plant = (miners: Iterable<string>, m: Misbehaviour): void => {
    for (const a of miners) minerMisbehaviours.set(a, new Set([...(minerMisbehaviours.get(a) ?? []), m]))
  }
  plant(cheaters, 'wrongGradient')
  plant(cast?.copiers ?? [], 'copiedCid')
  plant(cast?.withholders ?? [], 'withholdingMiner')
  const miners = new HostedMiners(
    {
      miners: minerKeys,
      misbehaviours: minerMisbehaviours,
      costModel,
      trainWindows: opts.windows,
      blockTimeMs: params.blockTimeMs,
    },
    {
      chain: roles.chain,
      clock,
      turns,
      content,
      send: (address, msg, settled) => participants.send(address, msg, settled),
      revealed: (miner, claimId, height) => participants.minerRevealed(miner, claimId, height),
      logger: silent,
    },
  )
  let lastHeight = 0
  let highestCommitted = 0
  let lastCommitMs = 0
  let firstCommitMs: number | undefined
  let stoppedBy = ''
  let stop = false
  const nodes: (ConsensusNode | undefined)[] = []
  const up: boolean[] = []
  const componentsOf: NodeComponents[] = []
  const apps: ChainApplication[] = []
  const disks = Array.from({ length: opts.validators }, (_, i) =>
    throughSlowDisk(clock, faults.slowDisks.find((d) => d.validator === i)?.delayMs ?? 0),
  )
  const witnesses = Math.min(opts.validators, opts.witnesses ?? DEFAULT_WITNESSES)
  // Kept as long as a block store keeps blocks: a validator further behind cannot catch up anyway.
  const sharedBlocks = new SharedBlocks(KEEP_BLOCKS + 1)
  const shared =
    witnesses < opts.validators ? new SharedExecution({ genesis, keepHeights: KEEP_BLOCKS + 1 }) : undefined

  for (let i = 0; i < opts.validators; i++) {
    const key = validatorKeys[i] as KeyPair
    const signer = signerFromSeed(key.secretKey)
    const chain: ChainAppApi = shared === undefined || i < witnesses ? new ChainApp(genesis) : shared.view()
    /** `fn` given this validator's state as of its own height (a shared view reads back to it). */
    const readState = <T>(fn: (state: ChainState) => T): T =>
      chain instanceof SharedChainView ? chain.read(fn) : fn(chain.state)
    const app = new ChainApplication({
      chain,
      validators: validatorSet,
      onExecuted: (block, outcome) => {
        const now = clock.monotonicMs()
        invariants.executed(i, block.height, toHex(outcome.appHash), now)
        if (block.height <= lastHeight) return
        if (block.height === opts.plantedFault?.height) {
          // A bug planted on purpose (tests of the invariants): one token unit out of nowhere.
          const address = key.address
          chain.state.accounts.set(address, {
            ...chain.state.account(address),
            balance: chain.state.account(address).balance + 1n,
          })
        }
        // The first validator to execute a height speaks for the network to the participants.
        lastHeight = block.height
        const results = new Map<string, { code: string; log: string }>()
        block.txs.forEach((tx, k) => {
          const r = outcome.results[k]
          if (r !== undefined) results.set(toHex(sha256(tx)), r)
        })
        readState((state) => {
          invariants.afterBlock(state, block.height, now, participants.cheats)
          if (models !== undefined)
            invariants.afterBlockMisbehaviours(state, block.height, now, {
              copies: models.copies,
              withheld: models.withheld,
              griefers: new Set(cast?.griefers.map((k) => k.address)),
              cheats: participants.cheats,
              equivocatedAt,
            })
        })
        // The participants act a moment later, as a role machine acts once its own node has
        // executed the block: sent at once, a transaction reaches validators that have not
        // executed it yet, whose mempools refuse it for its nonce.
        const height = block.height
        clock.setTimer(CLIENT_DELAY_MS, () =>
          readState((state) => {
            participants.onBlock(state, height, results, (bytes, pendingNonce) => {
              const r = chain.checkTx(bytes, { record: false, pendingNonce })
              return r.ok ? { ok: true } : r
            })
            miners.onBlock(state, height)
            roles.onBlock(state, height)
            aggregators.onBlock(state, height)
          }),
        )
        stopCheck(
          readState((state) => state.globals.currentWindow),
          block.height,
        )
      },
    })
    const timedApp = withTiming(app, host, (ms) => {
      appMs += ms
    })
    const skew = faults.clockSkews.find((c) => c.validator === i)
    const nodeClock = skew === undefined ? clock : skewedClock(clock, skew)
    const blockStore = sharedBlocks.store()
    const link = net.transportFor(i)
    const transport =
      cast === undefined
        ? link
        : misbehavingTransport(link, {
            index: i,
            cast,
            chainId: consensus.chainId,
            signer,
            validatorIndex: validatorSet.indexOf(consensusAddressOf(signer.publicKey)),
            state: chain.state,
            blockStore,
            random: rng.fork(`byzantine/${i}`),
            logger: silent,
            onEquivocated: (height) => {
              if (!equivocatedAt.has(key.address)) equivocatedAt.set(key.address, height)
            },
          })
    const components: NodeComponents = {
      genesis: consensus,
      config: {
        chainId: consensus.chainId,
        myAddress: consensusAddressOf(signer.publicKey),
        timeouts,
        maxBlockBytes: 4 * 1024 * 1024,
        maxEvidenceAgeHeights: params.evidenceMaxAgeBlocks,
        maxRoundsAhead: MAX_ROUNDS_AHEAD,
      },
      privval: new PrivValidator(signer, new MemoryLastSignedStore()),
      wal: new MemoryWal(),
      app: timedApp,
      mempool: new Mempool(timedApp, { txKey: txIdOf }),
      evidencePool: new EvidencePool(consensus.chainId, validatorSet),
      blockStore,
      stateStore: new MemoryStateStore(),
      clock: nodeClock,
      transport,
      onCommit: (committed) => {
        const h = committed.block.header.height
        const now = clock.monotonicMs()
        untimed(() => {
          invariants.committed(i, h, toHex(hashBlock(committed.block)), now)
          const header = committed.block.header
          invariants.committedHeader(
            {
              height: h,
              timeMs: header.timeMs,
              proposerKey: keyOf.get(toHex(header.proposer)) ?? new Uint8Array(32),
              vrfProof: header.vrfProof,
              beacon: header.beacon,
            },
            firstBeacon,
            clock.nowMs(),
            aheadMs,
          )
        })
        if (h > highestCommitted) {
          highestCommitted = h
          lastCommitMs = now
          firstCommitMs ??= now
        }
        if (h > KEEP_BLOCKS) components.blockStore.pruneBelow(h - KEEP_BLOCKS)
      },
    }
    componentsOf.push(components)
    apps.push(app)
    up.push(true)
    nodes.push(undefined)
  }
  const start = (i: number): void => {
    timed(() => {
      const node = ConsensusNode.open(componentsOf[i] as NodeComponents)
      nodes[i] = node
      up[i] = true
      const disk = disks[i] as (act: () => void) => void
      const slowDisk = faults.slowDisks.some((d) => d.validator === i && d.delayMs > 0)
      net.attach(i, (m, from) => {
        if (!slowDisk) {
          node.receive(m, from)
          return
        }
        // Acted on after its WAL write: no longer inside the network's measure of this receipt.
        disk(() => {
          if (nodes[i] === node && up[i]) timed(() => node.receive(m, from))
        })
      })
    })
  }
  for (let i = 0; i < opts.validators; i++) start(i)
  const gossipRng = rng.fork('gossip')
  for (let i = 0; i < opts.validators; i++) {
    const tick = (): void => {
      const node = nodes[i]
      if (node !== undefined && up[i]) timed(() => node.gossip())
      clock.setTimer(GOSSIP_INTERVAL_MS, tick)
    }
    clock.setTimer(1 + gossipRng.nextInt(GOSSIP_INTERVAL_MS), tick)
  }

  // Faults.
  const partitionRng = rng.fork('partitions')
  for (const p of faults.partitions)
    net.cut({
      fromMs: p.atMs,
      untilMs: p.atMs + p.forMs,
      groupOf: Array.from({ length: opts.validators }, () => partitionRng.nextInt(p.groups)),
    })
  for (const c of faults.crashes) {
    clock.setTimer(c.atMs, () => {
      if (!up[c.validator]) return
      nodes[c.validator]?.stop()
      up[c.validator] = false
      net.attach(c.validator, undefined)
      clock.setTimer(c.forMs, () => start(c.validator))
    })
  }
  const healMs = healedAtMs(faults)
  const livenessTick = (): void => {
    const now = clock.monotonicMs()
    if (now > healMs + LIVENESS_BUDGET_MS && now - lastCommitMs > LIVENESS_BUDGET_MS) {
      invariants.report({
        invariant: 'liveness',
        height: lastHeight,
        atMs: now,
        detail: `no block for ${Math.round((now - lastCommitMs) / 1000)} s after the faults healed (at ${Math.round(healMs / 1000)} s)`,
      })
      stop = true
      stoppedBy ||= 'liveness'
      return
    }
    clock.setTimer(1000, livenessTick)
  }
  clock.setTimer(1000, livenessTick)

  function stopCheck(window: number, height: number): void {
    const u = opts.until
    if (invariants.first !== undefined && (u === undefined || u.kind === 'violation')) {
      stop = true
      stoppedBy ||= `violation: ${invariants.first.invariant}`
    }
    if (u?.kind === 'height' && height >= u.height) stoppedBy ||= `height ${u.height}`
    if (u?.kind === 'window' && window >= u.window) stoppedBy ||= `window ${u.window}`
    if (u?.kind === 'cheat-caught' && invariants.caught.size > 0) stoppedBy ||= 'cheat-caught'
    if (height >= endHeight) stoppedBy ||= 'end'
    if (stoppedBy !== '') stop = true
  }

  const crashedNode = (): string | undefined => {
    for (const [i, n] of nodes.entries())
      if (n?.crashed !== undefined) {
        const e = n.crashed
        return `validator ${i}: ${e instanceof Error ? e.message : String(e)}`
      }
    return undefined
  }
  const maxMs = opts.maxSimulatedMs ?? 2 * expectedMs + healMs
  let halted = false
  for (;;) {
    clock.runUntil(maxMs, () => {
      // Between events the shared state shows the newest block (a read may have parked it older).
      shared?.showNewest()
      if (stop) halted = true
      const crash = halted ? undefined : crashedNode()
      if (crash !== undefined) {
        invariants.report({ invariant: 'crash', height: lastHeight, atMs: clock.monotonicMs(), detail: crash })
        stoppedBy ||= 'crash'
        halted = true
      }
      // The hosted machines' settled work runs before the next event, at this instant.
      return halted || turns.due
    })
    if (halted || !turns.due) break
    await turns.take()
  }
  const minerOutcomes = miners.outcomes()
  miners.stop()
  roles.stop()
  aggregators.stop()
  if (stoppedBy === '') {
    stoppedBy = 'time limit'
    invariants.report({
      invariant: 'liveness',
      height: lastHeight,
      atMs: clock.monotonicMs(),
      detail: `height ${lastHeight} of ${endHeight} after ${Math.round(maxMs / 1000)} simulated s`,
    })
  }
  for (const n of nodes) n?.stop()

  const observer = apps.find((_, i) => up[i]) ?? (apps[0] as ChainApplication)
  const blocks: string[] = []
  for (let h = 1; h <= lastHeight; h++)
    blocks.push(`${h} ${invariants.blockHash(h) ?? '-'} ${invariants.appHashAfter(h) ?? '-'}`)
  const open = [...participants.cheats.keys()].filter((id) => !invariants.caught.has(id) && !invariants.missed.has(id))
  const heights = Math.max(1, lastHeight)
  const perHV = (x: number): number => x / heights / opts.validators
  const latencies = [...participants.stats.latenciesMs].sort((a, b) => a - b)
  const applied = participants.stats.applied
  return {
    seed: opts.seed,
    validators: opts.validators,
    miners: opts.miners,
    subnets: opts.subnets,
    windows: opts.windows,
    heights: lastHeight,
    simulatedMs: clock.monotonicMs(),
    digest: toHex(sha256(blocks.join('\n'))),
    blocks,
    stoppedBy,
    violations: invariants.violations,
    consensus: {
      messagesPerHeightPerValidator: perHV(net.sent.messages),
      bytesPerHeightPerValidator: perHV(net.sent.bytes),
      messagesByKind: Object.fromEntries([...net.sent.byKind].sort()),
      consensusCpuMsPerHeightPerValidator: host === undefined ? null : perHV(consensusMs - appMs - simMs),
      appCpuMsPerHeightPerValidator: host === undefined ? null : perHV(appMs),
      messagesProcessedPerHeightPerValidator: perHV(net.delivered),
      cpuUsPerMessageProcessed: host === undefined || net.delivered === 0 ? null : (messageMs * 1000) / net.delivered,
      duplicatesDropped: net.duplicates,
      dropped: net.dropped,
      meanBlockIntervalMs: lastHeight > 1 ? (lastCommitMs - (firstCommitMs ?? 0)) / (lastHeight - 1) : 0,
    },
    transactions: {
      applied: Object.fromEntries([...applied].sort()),
      refused: Object.fromEntries([...participants.stats.refused].sort()),
      finalityMeanMs: latencies.length === 0 ? 0 : latencies.reduce((a, b) => a + b, 0) / latencies.length,
      finalityP99Ms: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0,
      pending: participants.pending,
    },
    game: {
      cheats: participants.cheats.size,
      caught: invariants.caught.size,
      missed: invariants.missed.size,
      open: open.length,
      honestSlashed: invariants.honestSlashed.size,
      dutyPenalized: invariants.dutyPenalized.size,
      challenges: applied.get('challenge') ?? 0,
      verifierAnswers: applied.get('verifierResponse') ?? 0,
      appeals: applied.get('appeal') ?? 0,
      overturnedVerifiers: invariants.overturned.size,
      arbiterVotes: applied.get('arbiterVote') ?? 0,
      reexecutions: roles.stats.reexecutions,
      aggregates: applied.get('aggregate') ?? 0,
      declaredUnavailable: aggregators.stats.declaredUnavailable,
      tasksTrained: miners.stats.tasksTrained,
      minerReveals: miners.stats.submissions,
      minerOutcomes: Object.fromEntries([...minerOutcomes].sort()),
    },
    ...(cast === undefined && faults.clockSkews.length === 0 && faults.slowDisks.length === 0
      ? {}
      : {
          misbehaviours: {
            copies: models?.copies.size ?? 0,
            copiesPaid: [...(models?.copies ?? [])].filter((id) => observer.chain.state.credits.has(id)).length,
            withheld: models?.withheld.size ?? 0,
            withheldCaught: [...(models?.withheld ?? [])].filter((id) => invariants.caught.has(id)).length,
            wrongAggregates: models?.wrongAggregates.size ?? 0,
            wrongAggregatesSlashed: [...(models?.wrongAggregates ?? [])].filter((id) => invariants.caught.has(id))
              .length,
            griefingChallenges: [...observer.chain.state.challenges.entries()].filter(([, c]) =>
              cast?.griefers.some((k) => k.address === c.challenger),
            ).length,
            lazyAnswers: roles.stats.lazyAnswers,
            equivocators: cast?.equivocators.size ?? 0,
            equivocatorsJailed: invariants.punished.size,
            byzantineValidators: cast?.byzantine.size ?? 0,
            seedGrinders: cast?.grinders.size ?? 0,
            skewedClocks: faults.clockSkews.length,
            slowDisks: faults.slowDisks.length,
          },
        }),
    chainStateBytes: observer.chain.snapshot().byteLength,
    witnesses,
    ...(shared === undefined ? {} : { sharing: { ...shared.stats } }),
  }
}

/**
 * The consensus genesis of a chain genesis: its validator-role stakers with their power (the
 * conversion the node does in src/actors/chain-node.ts, which this layer does not load).
 */
function consensusGenesisOf(g: ChainGenesis): Genesis {
  const validators = genesisValidators(g).map((v) => ({
    publicKey: fromHex(v.pubKey, 32) as Uint8Array,
    power: Number(v.power),
  }))
  return { chainId: g.chainId, genesisTimeMs: g.genesisTimeMs, validators }
}

/** The application with the host time of its block executions added up (checkTx counts as consensus work). */
function withTiming(
  app: ChainApplication,
  host: (() => number) | undefined,
  add: (ms: number) => void,
): ChainApplication {
  if (host === undefined) return app
  return new Proxy(app, {
    get(target, prop) {
      if (prop !== 'executeBlock') {
        const v = Reflect.get(target, prop, target)
        return typeof v === 'function' ? v.bind(target) : v
      }
      return (block: Parameters<ChainApplication['executeBlock']>[0]) => {
        const t0 = host()
        try {
          return target.executeBlock(block)
        } finally {
          add(host() - t0)
        }
      }
    },
  })
}

function checkOptions(o: SimulationOptions): void {
  const need = (ok: boolean, field: string, what: string): void => {
    if (!ok) throw new InvalidArgumentError(`${field} ${what}`, { field })
  }
  const int = (v: number, field: string, min: number, max: number): void =>
    need(Number.isSafeInteger(v) && v >= min && v <= max, field, `must be an integer in [${min}, ${max}], not ${v}`)
  int(o.seed, 'seed', 0, 0xffff_ffff)
  int(o.validators, 'validators', 1, 1000)
  int(o.subnets, 'subnets', 1, 64)
  int(o.miners, 'miners', 0, 100_000)
  int(o.windows, 'windows', 1, 10_000)
  need(
    o.miners === 0 || o.miners >= 2 * o.subnets,
    'miners',
    'must be 0 or at least 2 per subnet (tasks are replicated)',
  )
  if (o.witnesses !== undefined)
    need(
      Number.isSafeInteger(o.witnesses) && o.witnesses >= 0,
      'witnesses',
      `must be a whole number (0: every validator shares one execution), not ${o.witnesses}`,
    )
  if (o.cheaterShare !== undefined)
    need(o.cheaterShare >= 0 && o.cheaterShare <= 0.5, 'cheaterShare', 'must be between 0 and 0.5')
  if (o.challengers !== undefined) int(o.challengers, 'challengers', 1, 10_000)
}
