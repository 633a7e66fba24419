/**
 * One node's view of the chain: the consensus engine (a validator when the node's consensus
 * key is in the set, a follower that verifies and applies decided blocks otherwise) running the chain
 * application over the node's gossip, with its WAL, block store, state store and signing
 * record on disk in the node's home. Every executed block is announced to `onBlock`
 * listeners (the role actors); transactions enter through `submit`, which hands them to the
 * local mempool (validators) and to the transaction topic (everyone else's way in).
 */

import { join } from 'node:path'
import { createActor, type InspectionEvent } from 'xstate'
import { type BlockOutcome, ChainApp, type Block as ChainBlock } from '../chain/app.ts'
import { type Genesis as ChainGenesis, genesisValidators } from '../chain/genesis.ts'
import { ChainReader } from '../chain/reader.ts'
import { decodeTx } from '../chain/tx.ts'
import { fromHex } from '../codec/bytes.ts'
import { sha256Hex } from '../codec/hash.ts'
import { consensusMachine } from '../consensus/consensus-actor.ts'
import type { TimeoutConfig } from '../consensus/core-types.ts'
import { StoreCorruptError } from '../consensus/errors.ts'
import { EvidencePool } from '../consensus/evidence-pool.ts'
import type { Genesis } from '../consensus/genesis.ts'
import { addressOf as consensusAddressOf, type Signer, signerFromSeed } from '../consensus/keys.ts'
import { Mempool } from '../consensus/mempool.ts'
import type { ConsensusTransport } from '../consensus/messages.ts'
import type { NodeComponents } from '../consensus/node-io.ts'
import { FileLastSignedStore, PrivValidator } from '../consensus/privval.ts'
import { FileBlockStore, FileStateStore } from '../consensus/stores.ts'
import { ValidatorSet } from '../consensus/validator-set.ts'
import { FileWal } from '../consensus/wal.ts'
import { GossipValidationError } from '../net/errors.ts'
import type { NetNode } from '../net/node.ts'
import type { RuntimeComponents } from '../runtime/components.ts'
import { MAX_RECENT_TX_RESULTS, MAX_ROUNDS_AHEAD } from '../runtime/limits.ts'
import { byzantineTransport } from './byzantine-validator.ts'
import { type BeaconEvidence, ChainApplication } from './chain-application.ts'
import { restoreNewestSnapshot, SnapshotStore } from './chain-snapshots.ts'
import { consensusLink } from './consensus-link.ts'
import { equivocatingTransport } from './equivocating-validator.ts'
import type { HistoryEntry } from './node-api.ts'
import { RecentTxResults } from './recent-tx-results.ts'
import { seedGrinderTransport } from './seed-grinder.ts'

export interface ExecutedBlock {
  readonly block: ChainBlock
  readonly outcome: BlockOutcome
  /** Hex ids of the block's transactions, in order (results line up with them). */
  readonly txIds: readonly string[]
}

/** How a long-running node keeps its disk in check (`r3mes node --snapshot-interval --keep-blocks --gc-interval`). */
export interface StorageOptions {
  /** Write a chain-state snapshot after every this many blocks; 0: never. @default 100 */
  readonly snapshotIntervalBlocks?: number
  /**
   * After a snapshot, delete stored blocks more than this many below the tip (never one a
   * restart from the snapshots kept would replay); 0: keep every block. @default 0
   */
  readonly keepBlocks?: number
  /** Drop content nothing live needs every this many blocks (content-gc.ts); 0: never. @default 100 */
  readonly gcIntervalBlocks?: number
}

export const DEFAULT_SNAPSHOT_INTERVAL_BLOCKS = 100
export const DEFAULT_GC_INTERVAL_BLOCKS = 100

/** Where the node's disk housekeeping stands (`GET /status`, field `storage`). */
export interface StorageStatus {
  /** Height of the newest snapshot on disk; 0 when none. */
  snapshotHeight: number
  snapshotBytes: number
  /** Height the chain state was restored from at start; 0: replayed from genesis (or a fresh node). */
  restoredFromHeight: number
  /** Blocks executed since start (replayed after a restart included). */
  executedBlocks: number
  /** Lowest block stored: blocks below it were pruned (1: none were). */
  prunedBelow: number
  prunedBlocks: number
}

export interface ChainNodeInit {
  readonly home: string
  readonly storage?: StorageOptions
  readonly genesis: ChainGenesis
  /**
   * Seed of the node's consensus key: it signs votes, proposals and beacon proofs when its
   * public key is in the validator set. The account key (transactions) is not needed here.
   */
  readonly consensusSeed: Uint8Array
  readonly net: NetNode
  readonly timeouts: TimeoutConfig
  /** Re-send status, proposal and votes this often. @default 200 */
  readonly gossipIntervalMs?: number
  /**
   * Misbehaviour for tests: with every prevote for a block this validator also signs and
   * sends a nil prevote for the same height and round, around its privval (which would
   * refuse). Peers must turn the pair into evidence and the chain must slash it, once.
   */
  readonly equivocate?: boolean
  /**
   * Told when consensus stops for good (after it logged the error at fatal level).
   * @default end the process with exit code 1
   */
  readonly onFatal?: (error: unknown) => void
  /**
   * Misbehaviour for tests: beside its honest messages this validator sends a running mix of
   * hostile ones (far-future rounds, heights and block times, junk commits, evidence and
   * transactions, statuses with forged authors; see byzantine-validator.ts). Peers must keep
   * committing and slash nobody.
   */
  readonly byzantine?: boolean
  /**
   * Misbehaviour for tests: when this validator proposes it tries to steer the beacon, forging
   * one of its choosing or withholding the proposal (seed-grinder.ts). Peers must refuse every
   * forged block and keep committing.
   */
  readonly seedGrinder?: boolean
  /** Sees the consensus actor's inspection events (the node's event log). */
  readonly inspect?: (event: InspectionEvent) => void
}

/** Where the consensus engine is: its actor's state, and the height and round it decides. */
export interface ConsensusPosition {
  readonly state: string
  readonly height: number
  readonly round: number
}

/**
 * The consensus engine's genesis from the chain's: validators are the validator-role stakers,
 * with the power the chain application reports in every later update (whole tokens staked).
 */
export function consensusGenesis(g: ChainGenesis): Genesis {
  const validators = genesisValidators(g).map((v) => ({
    publicKey: fromHex(v.pubKey, 32) as Uint8Array,
    power: Number(v.power),
  }))
  return { chainId: g.chainId, genesisTimeMs: g.genesisTimeMs, validators }
}

export class ChainNode {
  readonly app: ChainApplication
  /** Typed reads of the chain state after the last executed block. */
  readonly reader: ChainReader
  readonly validators: ValidatorSet
  readonly signer: Signer
  /** Index in the genesis validator set, or -1 (the set can change: `validating()` says what holds now). */
  readonly validatorIndex: number
  /** Attacks sent so far, by kind, when this node runs the byzantineValidator misbehaviour. */
  readonly byzantineAttacksSent: ReadonlyMap<string, number> | undefined
  readonly #listeners = new Set<(b: ExecutedBlock) => void>()
  /** Block hash and the app hash after it, per height executed here (checks across nodes). */
  readonly history = new Map<number, HistoryEntry>()
  readonly storage: StorageStatus
  readonly #snapshots: SnapshotStore
  readonly #blockStore: FileBlockStore
  readonly #snapshotIntervalBlocks: number
  readonly #keepBlocks: number
  /** Height and result of the transactions in recent blocks (`GET /tx/<id>`). */
  readonly txResults = new RecentTxResults(MAX_RECENT_TX_RESULTS)
  readonly #actor
  readonly #link
  readonly #leaveTx: () => void
  readonly #mempool: Mempool
  readonly #c: RuntimeComponents
  readonly #netNode: NetNode
  #lastBlockAt: number | undefined
  #intervalMs: number | undefined

  constructor(init: ChainNodeInit, components: RuntimeComponents) {
    this.#c = components
    this.#netNode = init.net
    const genesis = consensusGenesis(init.genesis)
    this.validators = ValidatorSet.create(genesis.validators)
    this.signer = signerFromSeed(init.consensusSeed)
    this.validatorIndex = this.validators.validators.findIndex(
      (v) => Buffer.compare(Buffer.from(v.publicKey), Buffer.from(this.signer.publicKey)) === 0,
    )
    const chain = new ChainApp(init.genesis)
    this.reader = new ChainReader(chain.state)
    this.app = new ChainApplication({
      chain,
      validators: this.validators,
      onExecuted: (block, outcome, beacon) => this.#announce(block, outcome, beacon),
    })
    const dir = join(init.home, 'consensus')
    this.#link = consensusLink({ channel: init.net.consensus, logger: components.logger })
    const mempool = new Mempool(this.app)
    this.#mempool = mempool
    const blockStore = new FileBlockStore(join(dir, 'blocks'))
    const stateStore = new FileStateStore(join(dir, 'state'))
    this.#blockStore = blockStore
    this.#snapshots = new SnapshotStore(join(init.home, 'chain', 'snapshots'))
    this.#snapshotIntervalBlocks = init.storage?.snapshotIntervalBlocks ?? DEFAULT_SNAPSHOT_INTERVAL_BLOCKS
    this.#keepBlocks = init.storage?.keepBlocks ?? 0
    const restoredFromHeight = restoreNewestSnapshot({
      app: this.app,
      snapshots: this.#snapshots,
      blockStore,
      stateStore,
      logger: components.logger.child({ component: 'snapshots' }),
    })
    if (blockStore.base() > this.app.chain.height + 1)
      throw new StoreCorruptError(
        `blocks below ${blockStore.base()} are pruned and no snapshot of height ${blockStore.base() - 1} or later in ${this.#snapshots.dir} checks out (see the log): this home cannot restart; start a fresh home from the genesis`,
        { base: blockStore.base(), restoredFromHeight },
      )
    this.storage = {
      snapshotHeight: this.#snapshots.heights().at(-1) ?? 0,
      snapshotBytes: 0,
      restoredFromHeight,
      executedBlocks: 0,
      prunedBelow: blockStore.base(),
      prunedBlocks: 0,
    }
    let transport: ConsensusTransport = this.#link
    if (init.equivocate === true)
      transport = equivocatingTransport({
        chainId: genesis.chainId,
        signer: this.signer,
        validatorIndex: this.validatorIndex,
        link: transport,
        logger: components.logger,
      })
    if (init.byzantine === true && this.validatorIndex >= 0) {
      const byzantine = byzantineTransport({
        chainId: genesis.chainId,
        signer: this.signer,
        validatorIndex: this.validatorIndex,
        link: transport,
        net: init.net,
        blockStore,
        random: components.random.fork('byzantine'),
        clock: components.clock,
        logger: components.logger,
      })
      this.byzantineAttacksSent = byzantine.sent
      transport = byzantine
    } else this.byzantineAttacksSent = undefined
    if (init.seedGrinder === true && this.validatorIndex >= 0)
      transport = seedGrinderTransport({
        chainId: genesis.chainId,
        signer: this.signer,
        link: transport,
        chain: this.reader,
        logger: components.logger,
      })
    const nodeComponents: NodeComponents = {
      genesis,
      config: {
        chainId: genesis.chainId,
        // Always the node's consensus address and signer: the core looks itself up in each
        // height's validator set, so a node the chain adds to the set later starts signing
        // from the height that includes it, and one removed stops.
        myAddress: consensusAddressOf(this.signer.publicKey),
        timeouts: init.timeouts,
        maxBlockBytes: 4 * 1024 * 1024,
        maxEvidenceAgeHeights: init.genesis.params.evidenceMaxAgeBlocks,
        maxRoundsAhead: MAX_ROUNDS_AHEAD,
      },
      privval: new PrivValidator(this.signer, new FileLastSignedStore(join(dir, 'last-signed'))),
      wal: new FileWal({ dir: join(dir, 'wal') }),
      app: this.app,
      mempool,
      evidencePool: new EvidencePool(genesis.chainId, this.validators),
      blockStore,
      stateStore,
      clock: components.clock,
      transport,
      logger: components.logger.child({ component: 'consensus' }),
      onCommit: (committed) => this.#afterCommit(committed.block.header.height),
    }
    this.#actor = createActor(consensusMachine, {
      input: {
        components: nodeComponents,
        inbox: this.#link,
        gossipIntervalMs: init.gossipIntervalMs ?? 200,
        ...(init.onFatal === undefined ? {} : { onFatal: init.onFatal }),
      },
      ...(init.inspect === undefined ? {} : { inspect: init.inspect }),
    })
    // Transactions from the topic reach a validator's mempool, which runs the application's
    // check (running it here too would count the sender's nonce twice). Gossip forwards only
    // well-formed, correctly signed transactions; a malformed one is the forwarder's fault.
    this.#leaveTx = init.net.gossip.subscribe('tx', {
      validate: (payload) => {
        try {
          decodeTx(payload.tx, init.genesis.params.maxTxBytes)
        } catch (error) {
          throw new GossipValidationError('reject', `bad transaction: ${(error as Error).message}`)
        }
      },
      handle: (payload) => {
        if (this.validating()) this.#actor.send({ type: 'tx', tx: payload.tx })
      },
    })
  }

  get height(): number {
    return this.app.chain.height
  }

  start(): void {
    this.#actor.start()
  }

  onBlock(listener: (b: ExecutedBlock) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Hand a signed transaction to the network: the local mempool when a validator, and the topic. */
  async submit(tx: Uint8Array): Promise<void> {
    if (this.validating()) this.#actor.send({ type: 'tx', tx })
    await this.#netNode.gossip.publish('tx', { tx }).catch((error: unknown) => {
      this.#c.logger.debug({ err: error }, 'transaction publish failed; resubmitted later')
    })
  }

  /** Where consensus is now (the node's status shows it). */
  /** Whether this node's consensus key is in the validator set of the height it is deciding. */
  validating(): boolean {
    const core = this.#actor.getSnapshot().context.core
    return core === undefined || core === null ? this.validatorIndex >= 0 : core.myIndex >= 0
  }

  consensusPosition(): ConsensusPosition {
    const snapshot = this.#actor.getSnapshot()
    const core = snapshot.context.core
    return {
      state: typeof snapshot.value === 'string' ? snapshot.value : JSON.stringify(snapshot.value),
      height: core?.tip.height ?? this.height + 1,
      round: core?.round ?? 0,
    }
  }

  /** Transactions waiting in this node's mempool (a follower's stays empty: it only forwards). */
  mempoolSize(): { txs: number; bytes: number } {
    return { txs: this.#mempool.size, bytes: this.#mempool.sizeBytes }
  }

  /** The JSON answer to a string-path query (query.ts; the HTTP API and the CLI). */
  queryJson(path: string): unknown {
    return this.app.chain.query(path)
  }

  /**
   * The application's check of a signed transaction against the state now, recording nothing.
   * `pendingNonce` gives the nonce a sender's next transaction takes in place of what this
   * node's mempool reserved (a sender checking its own transactions ahead of the chain).
   */
  checkTx(tx: Uint8Array, pendingNonce?: ReadonlyMap<string, number>): ReturnType<ChainApp['checkTx']> {
    return this.app.chain.checkTx(tx, pendingNonce === undefined ? { record: false } : { record: false, pendingNonce })
  }

  /** The state's app hash after the last executed block. */
  appHash(): Uint8Array {
    return this.app.chain.appHash()
  }

  stop(): void {
    this.#leaveTx()
    this.#actor.send({ type: 'stop' })
    this.#actor.stop()
    this.#link.close()
  }

  /** Mean wall time between recent blocks (ms): how long "N blocks from now" really is. */
  get blockIntervalMs(): number {
    return this.#intervalMs ?? this.reader.params.blockTimeMs
  }

  /**
   * After block `height` is stored and executed: every snapshot interval, write the state
   * down, then prune blocks no restart from a kept snapshot would replay.
   */
  #afterCommit(height: number): void {
    const interval = this.#snapshotIntervalBlocks
    if (interval <= 0 || height % interval !== 0) return
    const startedMs = this.#c.clock.monotonicMs()
    const bytes = this.#snapshots.save({
      height,
      appHash: this.app.chain.appHash(),
      state: this.app.chain.snapshot(),
      sets: this.app.snapshotSets(),
    })
    this.storage.snapshotHeight = height
    this.storage.snapshotBytes = bytes
    let pruned = 0
    if (this.#keepBlocks > 0) {
      // The oldest snapshot kept, not the newest: a damaged newest one must still leave a restart its blocks.
      const oldest = this.#snapshots.heights()[0] ?? 0
      pruned = this.#blockStore.pruneBelow(Math.min(height - this.#keepBlocks, oldest))
      this.storage.prunedBelow = this.#blockStore.base()
      this.storage.prunedBlocks += pruned
    }
    this.#c.logger.info(
      { height, bytes, pruned, prunedBelow: this.#blockStore.base(), ms: this.#c.clock.monotonicMs() - startedMs },
      'chain state snapshot written',
    )
  }

  #announce(block: ChainBlock, outcome: BlockOutcome, beacon: BeaconEvidence): void {
    this.storage.executedBlocks++
    const now = this.#c.clock.monotonicMs()
    if (this.#lastBlockAt !== undefined) {
      const dt = now - this.#lastBlockAt
      this.#intervalMs = this.#intervalMs === undefined ? dt : 0.8 * this.#intervalMs + 0.2 * dt
    }
    this.#lastBlockAt = now
    this.history.set(block.height, {
      blockHash: Buffer.from(block.hash).toString('hex'),
      appHash: Buffer.from(outcome.appHash).toString('hex'),
      proposer: block.proposer,
      timeMs: block.timeMs,
      beacon: Buffer.from(block.beacon).toString('hex'),
      vrfProof: Buffer.from(beacon.vrfProof).toString('hex'),
      proposerKey: Buffer.from(beacon.proposerKey).toString('hex'),
    })
    const txIds = block.txs.map((tx) => txIdOf(tx))
    txIds.forEach((txId, i) => {
      const r = outcome.results[i]
      if (r !== undefined) this.txResults.record({ txId, height: block.height, code: r.code, log: r.log })
    })
    for (const l of this.#listeners) l({ block, outcome, txIds })
  }
}

export function txIdOf(tx: Uint8Array): string {
  return sha256Hex(tx)
}
