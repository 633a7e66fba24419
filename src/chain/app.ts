/**
 * The chain application: the deterministic state machine every validator runs, behind the
 * ABCI-like interface the consensus engine calls.
 *
 * App hash: `executeBlock(H)` returns the hash of the state AFTER block H's transactions (and
 * its begin/end-of-block work). As in CometBFT, the consensus engine commits that hash in the
 * header of block H + 1; `appHash()` always answers the state after the last executed block
 * (for height 0: the genesis state). The hash is SHA-256 over the canonical JSON of every
 * table, sorted (store.ts).
 *
 * Block order: begin (windows close/open, evidence) → transactions in order, each all-or-
 * nothing (a rejected one changes nothing: no fee, no nonce) → end (challenge deadlines,
 * proposal tallies, unbonding releases, vested credits, pruning of finished windows, validator
 * inflation).
 */

import { bytesEqual, fromHex, toHex } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'
import { assert } from '../runtime/assert.ts'
import { CorruptDataError } from '../runtime/errors.ts'
import { MAX_PENDING_TXS_PER_SENDER } from '../runtime/limits.ts'
import type { BlockContext } from './context.ts'
import { reject, TxCode, TxRejected } from './errors.ts'
import { applyEvidence } from './evidence.ts'
import {
  appeal,
  arbiterVote,
  challenge,
  openAvailabilityDisputes,
  runDeadlines,
  verifierClaim,
  verifierResponse,
} from './game.ts'
import type { Genesis } from './genesis.ts'
import { propose, tallyProposals, vote } from './governance.ts'
import { addressOf } from './keys.ts'
import { pruneFinished } from './pruning.ts'
import { runQuery } from './query.ts'
import { payValidators } from './rewards.ts'
import { decodeChainState, encodeChainState } from './snapshot.ts'
import { register, releaseUnbonded, stake, transfer, unstake, votingPower } from './staking.ts'
import { ChainState, type Staker } from './state.ts'
import { decodeTx, type SignedTx } from './tx.ts'
import { aggregate, beginWindows, commit, payCredits, reveal, runAggregations } from './windows.ts'

/** Bound on the checkTx cache (a mempool's worth of transactions). */
export const MAX_VERIFIED = 10_000

export interface Block {
  readonly height: number
  readonly timeMs: number
  /** Validator address (r3mes1…) of the proposer. */
  readonly proposer: string
  readonly hash: Uint8Array
  /** The block's beacon (32 bytes), verified by consensus: the seed of this block's draws. */
  readonly beacon: Uint8Array
  readonly txs: readonly Uint8Array[]
  readonly evidence: readonly Uint8Array[]
}

export type CheckResult = { ok: true } | { ok: false; code: string; log: string }

export interface TxResult {
  readonly code: string
  readonly log: string
}

/** A validator as the consensus engine needs it. */
export interface ValidatorInfo {
  readonly address: string
  /** Hex of the ed25519 consensus key that signs its votes (not its account key). */
  readonly consensusKey: string
  /** Consensus voting power: whole tokens staked (`votingPower`), the unit genesis uses too. */
  readonly power: bigint
}

export interface BlockOutcome {
  /** Hash of the state after this block (the consensus engine commits it in header H + 1). */
  readonly appHash: Uint8Array
  /** One per transaction, in order: code 'OK' or the rejection code, and a log saying why. */
  readonly results: TxResult[]
  /**
   * Validators whose power changed in this block (power 0: removed), as CometBFT's EndBlock
   * reports them; empty when the set did not change. Extra to the minimal interface.
   */
  readonly validatorUpdates: ValidatorInfo[]
}

export interface Application {
  checkTx(tx: Uint8Array): CheckResult
  executeBlock(block: Block): BlockOutcome
  appHash(): Uint8Array
  query(path: string, data?: Uint8Array | string): unknown
}

/**
 * What the consensus adapter (src/actors/chain-application.ts) and the simulator use of a chain
 * application: a ChainApp, or a view that shares one ChainApp's execution (src/sim/shared-execution.ts).
 */
export type ChainAppApi = Pick<
  ChainApp,
  'state' | 'height' | 'checkTx' | 'executeBlock' | 'appHash' | 'snapshot' | 'restore' | 'query'
>

export class ChainApp implements Application {
  readonly state = new ChainState()
  #appHash: Uint8Array
  /** Outcome of each piece of evidence in the last block (for queries and logs). */
  #lastEvidence: TxResult[] = []
  /**
   * Transactions whose signature checkTx already verified, by id, so executeBlock does not
   * verify them again (decoding is a pure function of the bytes). Cleared every block.
   */
  #verified = new Map<string, SignedTx>()
  /**
   * Next nonce per sender as the mempool sees it: checkTx accepts a sender's second and third
   * transaction for the coming block (nonce n+1, n+2) while the committed state still says n,
   * up to MAX_PENDING_TXS_PER_SENDER of them.
   * The dry run itself runs on the committed state (so it cannot see what the earlier pending
   * transactions spend; executeBlock checks again). Cleared every block.
   */
  #pendingNonce = new Map<string, number>()

  constructor(genesis: Genesis) {
    initGenesis(this.state, genesis)
    this.state.journal.commit()
    this.#appHash = this.state.hash()
  }

  get height(): number {
    return this.state.globals.height
  }

  appHash(): Uint8Array {
    return this.#appHash.slice()
  }

  /**
   * Would `bytes` be accepted in the next block? With `record` (the mempool's admission) an
   * accepted transaction also reserves its sender's nonce for the block; a node asking about
   * its own transaction before sending it passes `record: false`.
   */
  checkTx(
    bytes: Uint8Array,
    options: {
      record?: boolean
      /** Next nonces to check against in place of this app's own (another mempool's, sharing this state). */
      pendingNonce?: ReadonlyMap<string, number>
    } = {},
  ): CheckResult {
    const ctx: BlockContext = {
      height: this.height + 1,
      timeMs: this.state.globals.timeMs,
      proposer: '',
      hash: '00'.repeat(32),
      beacon: '00'.repeat(32),
    }
    const mark = this.state.journal.mark()
    try {
      const tx = this.#deliver(ctx, bytes, options.pendingNonce ?? this.#pendingNonce)
      if (options.record !== false && this.#verified.size < MAX_VERIFIED) {
        this.#verified.set(tx.id, tx)
        this.#pendingNonce.set(tx.sender, tx.body.nonce + 1)
      }
      return { ok: true }
    } catch (error) {
      if (error instanceof TxRejected) return { ok: false, code: error.code, log: error.message }
      throw error
    } finally {
      this.state.journal.rollback(mark)
    }
  }

  /**
   * The current validator set, in address order. A validator whose stake is under one whole
   * token has no power and is not in the set (a slash can take it there).
   */
  validators(): ValidatorInfo[] {
    return this.state
      .withRole('validator')
      .map((v) => ({
        address: v.address,
        consensusKey: (this.state.stakers.get(v.address) as Staker).consensusKey,
        power: votingPower(v.weight),
      }))
      .filter((v) => v.power > 0n)
  }

  executeBlock(block: Block): BlockOutcome {
    const before = this.validators()
    assert(block.height === this.height + 1, `block ${block.height} follows height ${this.height}`)
    assert(block.hash.length === 32, 'block hash must be 32 bytes')
    assert(block.beacon.length === 32, 'block beacon must be 32 bytes')
    const ctx: BlockContext = {
      height: block.height,
      timeMs: block.timeMs,
      proposer: block.proposer,
      hash: toHex(block.hash),
      beacon: toHex(block.beacon),
    }
    const s = this.state
    s.setMeta({ height: block.height, timeMs: block.timeMs })
    beginWindows(s, ctx)
    this.#lastEvidence = block.evidence.map((e) => this.#guarded(() => applyEvidence(s, ctx, e)))
    const results = block.txs.map((tx) =>
      this.#guarded(() => {
        this.#deliver(ctx, tx)
      }),
    )
    runDeadlines(s, ctx)
    runAggregations(s, ctx)
    tallyProposals(s, ctx)
    releaseUnbonded(s, ctx)
    payCredits(s, ctx)
    pruneFinished(s, ctx)
    payValidators(s)
    s.claimWrites.record(block.height, s.claims.takeWritten())
    const audit = s.audit()
    assert(
      audit.ok,
      `token conservation broken at height ${block.height}: ${JSON.stringify(audit, (_, v) => (typeof v === 'bigint' ? `${v}` : v))}`,
    )
    s.journal.commit()
    this.#verified.clear()
    this.#pendingNonce.clear()
    this.#appHash = s.hash()
    return { appHash: this.appHash(), results, validatorUpdates: validatorDiff(before, this.validators()) }
  }

  /** The state after the last executed block, as snapshot bytes (snapshot.ts). */
  snapshot(): Uint8Array {
    return encodeChainState(this.state)
  }

  /**
   * Replace the state with a snapshot's, once it is known to hash to `expectedAppHash` (the app
   * hash the chain committed for the snapshot's height). A snapshot that does not, or is of
   * another chain, is a CorruptDataError and the state stays as it was: never a wrong state.
   */
  restore(bytes: Uint8Array, expectedAppHash: Uint8Array): void {
    const names = this.state.allTables().map((t) => t.name)
    const tables = decodeChainState(bytes, names)
    const scratch = new ChainState()
    for (const t of scratch.allTables()) t.replaceAll(tables.get(t.name) ?? [])
    const meta = scratch.meta.get('meta')
    if (meta === undefined || typeof meta.height !== 'number') throw new CorruptDataError('snapshot has no chain meta')
    if (meta.chainId !== this.state.globals.chainId)
      throw new CorruptDataError(`snapshot is of chain ${meta.chainId}, this node runs ${this.state.globals.chainId}`)
    const hash = scratch.hash()
    if (!bytesEqual(hash, expectedAppHash))
      throw new CorruptDataError(
        `snapshot state of height ${meta.height} hashes to ${toHex(hash)}, the chain committed ${toHex(expectedAppHash)}`,
        { height: meta.height },
      )
    this.state.journal.commit()
    for (const t of this.state.allTables()) t.replaceAll(tables.get(t.name) ?? [])
    this.state.claims.takeWritten()
    this.state.claimWrites.clear()
    this.#verified.clear()
    this.#pendingNonce.clear()
    this.#lastEvidence = []
    this.#appHash = hash
  }

  query(path: string, data?: Uint8Array | string): unknown {
    if (path === 'evidence/last') return this.#lastEvidence
    return runQuery(
      this.state,
      path,
      typeof data === 'string' || data === undefined ? data : Buffer.from(data).toString('utf8'),
    )
  }

  /** Run `apply`; on rejection undo everything it did and report the code. */
  #guarded(apply: () => void): TxResult {
    const mark = this.state.journal.mark()
    try {
      apply()
      return { code: TxCode.ok, log: '' }
    } catch (error) {
      this.state.journal.rollback(mark)
      if (error instanceof TxRejected) return { code: error.code, log: error.message }
      // Anything else is a bug (an AssertionFailure, say): stop rather than diverge from other nodes.
      throw error
    }
  }

  #deliver(ctx: BlockContext, bytes: Uint8Array, pendingNonce?: ReadonlyMap<string, number>): SignedTx {
    const s = this.state
    if (bytes.length > s.params.maxTxBytes)
      reject(TxCode.tooLarge, `transaction is ${bytes.length} bytes, the limit is ${s.params.maxTxBytes}`)
    const tx = this.#verified.get(toHex(sha256(bytes))) ?? decodeTx(bytes, s.params.maxTxBytes)
    if (tx.body.chainId !== s.globals.chainId) reject(TxCode.wrongChain, `transaction is for chain ${tx.body.chainId}`)
    const account = s.accounts.get(tx.sender)
    if (account === undefined) reject(TxCode.unknownAccount, `no account ${tx.sender}`)
    const expected = pendingNonce?.get(tx.sender) ?? account.nonce
    if (tx.body.nonce !== expected)
      reject(TxCode.wrongNonce, `nonce is ${tx.body.nonce}, the account expects ${expected}`)
    // Admission only (a block's execution passes no pending nonces): a bound on how far one
    // sender may run ahead of the chain in a mempool.
    if (pendingNonce !== undefined && tx.body.nonce - account.nonce >= MAX_PENDING_TXS_PER_SENDER)
      reject(
        TxCode.tooManyPending,
        `the account has ${MAX_PENDING_TXS_PER_SENDER} transactions waiting for the block already (nonce ${account.nonce} to ${tx.body.nonce - 1})`,
      )
    if (tx.body.fee < s.params.minFee) reject(TxCode.feeTooLow, `fee ${tx.body.fee} is below ${s.params.minFee}`)
    s.debit(tx.sender, tx.body.fee)
    s.payOrPool(ctx.proposer, tx.body.fee)
    s.accounts.set(tx.sender, { ...s.account(tx.sender), nonce: tx.body.nonce + 1 })
    dispatch(s, ctx, tx)
    return tx
  }
}

function validatorDiff(before: readonly ValidatorInfo[], after: readonly ValidatorInfo[]): ValidatorInfo[] {
  const now = new Map(after.map((v) => [v.address, v]))
  const updates = after.filter((v) => {
    const old = before.find((b) => b.address === v.address)
    // A validator's consensus key never changes (staking.ts), so an update by address is one by key.
    assert(old === undefined || old.consensusKey === v.consensusKey, `validator ${v.address} changed its consensus key`)
    return old === undefined || old.power !== v.power
  })
  for (const b of before) if (!now.has(b.address)) updates.push({ ...b, power: 0n })
  return updates.sort((x, y) => (x.address < y.address ? -1 : 1))
}

function dispatch(s: ChainState, ctx: BlockContext, tx: SignedTx): void {
  const msg = tx.body.msg
  switch (msg.type) {
    case 'transfer':
      transfer(s, tx, msg)
      return
    case 'stake':
      stake(s, tx, msg)
      return
    case 'unstake':
      unstake(s, ctx, tx, msg)
      return
    case 'register':
      register(s, tx, msg)
      return
    case 'commit':
      commit(s, ctx, tx, msg)
      return
    case 'reveal':
      reveal(s, ctx, tx, msg)
      return
    case 'aggregate':
      openAvailabilityDisputes(s, ctx, tx.sender, aggregate(s, ctx, tx, msg))
      return
    case 'challenge':
      challenge(s, ctx, tx, msg)
      return
    case 'verifierClaim':
      verifierClaim(s, ctx, tx, msg)
      return
    case 'verifierResponse':
      verifierResponse(s, ctx, tx, msg)
      return
    case 'appeal':
      appeal(s, ctx, tx, msg)
      return
    case 'arbiterVote':
      arbiterVote(s, ctx, tx, msg)
      return
    case 'propose':
      propose(s, ctx, tx, msg)
      return
    case 'vote':
      vote(s, ctx, tx, msg)
      return
  }
}

function initGenesis(s: ChainState, g: Genesis): void {
  let supply = 0n
  for (const a of g.accounts) {
    s.accounts.set(a.address, { balance: a.balance, nonce: 0 })
    supply += a.balance
  }
  for (const st of g.stakers) {
    const address = addressOf(fromHex(st.pubKey, 32) as Uint8Array)
    s.stakers.set(address, {
      pubKey: st.pubKey,
      consensusKey: st.consensusKey,
      peerId: st.peerId,
      stake: st.stake,
      roles: st.roles,
      subnet: st.subnet,
      jailed: false,
      wasValidator: st.roles.includes('validator'),
    })
    if (!s.accounts.has(address)) s.accounts.set(address, { balance: 0n, nonce: 0 })
    supply += st.stake
  }
  for (const sub of g.subnets) s.subnets.set(String(sub.id), { id: sub.id, layers: sub.layers })
  for (const d of g.datasets) s.datasets.set(d.cid, { ...d, approvedHeight: 0 })
  s.meta.set('meta', {
    chainId: g.chainId,
    height: 0,
    timeMs: g.genesisTimeMs,
    genesisSupply: supply,
    supply,
    minted: 0n,
    slashed: 0n,
    communityPool: 0n,
    currentWindow: -1,
    prunedWindows: 0,
    nextChallenge: 0,
    nextProposal: 0,
    nextUnbonding: 0,
    params: g.params,
    model: { config: g.model.config, backbone: g.model.backbone },
  })
}
