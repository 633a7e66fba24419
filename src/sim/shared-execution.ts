/**
 * One chain execution shared by many simulated validators.
 *
 * Executing a block is deterministic: the same block from the same state gives the same state
 * and outcome on every honest validator. So in the simulator the validators that are not
 * witnesses share ONE real ChainApp (the same chain code, run once per block) instead of each
 * holding and executing a copy; the witnesses keep private ChainApps and execute every block
 * themselves, so the one-app-hash-per-height invariant still compares independent executions.
 *
 * Each sharing validator holds a `SharedChainView`: its own height, app hash and mempool
 * reservations (the next nonce per sender its checks recorded), over the shared state.
 * - Execution: the first view to execute height h runs the block on the shared app and the
 *   outcome is kept with the block hash and the app hash before it (the lineage); a view that
 *   executes h later gets that outcome. A view that would execute another block at h, or from
 *   another app hash, is an error (a `SharedExecutionError`), never silently shared: it means
 *   consensus forked or a view skipped a block, and the run stops on it as a node crash.
 *   A restarted validator's handshake replays stored blocks the same way, from the lineage.
 * - Reads at the view's own height: a view lagging the shared app (it has not executed the
 *   newest block yet, or it is catching up after a crash) must check transactions against the
 *   state of ITS height, exactly as a private app would, or its mempool (and so the blocks it
 *   proposes) would differ from a replicated run. The shared state tracks what each block
 *   replaced; a read at an older height applies those changes back (newest block first) inside
 *   a journal mark and leaves them so (parked) for the next reads at that height; a read at
 *   another height, an execution, a view's `state` or the end of the simulation's event rolls
 *   them back, so between events the shared state is the newest block's.
 * - Checks: the result of checking a transaction is a function of the state (its height, as
 *   the lineage has one state per height), the bytes and the sender's next nonce as the
 *   checking mempool has it; it is memoized on those, so a hundred mempools admitting and
 *   rechecking the same pending transactions cost one check each.
 *
 * Shared execution changes nothing the chain computes (a test runs the same seed both ways and
 * compares the digest). What it changes is host work: the simulator's per-validator
 * application CPU figure is the shared work divided among the validators.
 */
import {
  type BlockOutcome,
  ChainApp,
  type ChainAppApi,
  type Block as ChainBlock,
  type CheckResult,
  MAX_VERIFIED,
} from '../chain/app.ts'
import type { Genesis as ChainGenesis } from '../chain/genesis.ts'
import type { ChainState } from '../chain/state.ts'
import type { StateChanges, Table } from '../chain/store.ts'
import { decodeTx } from '../chain/tx.ts'
import { bytesEqual, toHex } from '../codec/bytes.ts'
import { BoundedMemo } from '../runtime/bounded-memo.ts'
import { R3mesError } from '../runtime/errors.ts'
import { txIdOf } from './tx-ids.ts'

/** Check results kept (by height, transaction and the sender's reserved nonce): a few blocks' worth of mempool traffic. */
const CHECK_MEMO_ENTRIES = 200_000
/** Decoded senders and nonces by transaction hash (decoding verifies the signature). */
const DECODED_MEMO_ENTRIES = 100_000

/** A sharing validator left the shared lineage: another block, another pre-state, or too far behind. */
export class SharedExecutionError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ERR_SHARED_EXECUTION', message, details)
  }
}

interface Executed {
  readonly blockHash: string
  readonly appHashBefore: Uint8Array
  readonly outcome: BlockOutcome
  /** What the block replaced in the shared state (with the dry runs before it, which changed nothing). */
  readonly changes: StateChanges
}

export interface SharedExecutionInit {
  readonly genesis: ChainGenesis
  /**
   * Heights of the lineage kept (outcomes and changes): how far behind the shared app a view
   * may fall and still execute and read. A validator further behind than its block store keeps
   * cannot catch up anyway, so the block store's bound is the natural value.
   */
  readonly keepHeights: number
}

export class SharedExecution {
  readonly chain: ChainApp
  readonly #keepHeights: number
  readonly #lineage = new Map<number, Executed>()
  readonly #genesisAppHash: Uint8Array
  /** The height of the newest block executed (the app's own height reads the state, which may be parked). */
  #newest: number
  /** The height the shared state currently shows (below `#newest` while it is parked at an older one). */
  #showing: number
  /**
   * Where the shared state is parked: the changes of the blocks after `#showing` applied back,
   * undone by rolling the journal back to `mark`. Reads at one older height come in runs (a
   * lagging validator admits a burst of transactions), and applying back and undoing a block's
   * changes for each read cost more than the reads.
   */
  #parkedAt: number | undefined
  /** Reads in progress (a read's function may read again, at the same height only). */
  #reading = 0
  readonly #checks = new BoundedMemo<string, CheckResult>(CHECK_MEMO_ENTRIES)
  readonly #decoded = new BoundedMemo<string, { sender: string; nonce: number } | null>(DECODED_MEMO_ENTRIES)
  /**
   * Blocks executed on the shared app and handed to a view from the lineage; checks asked and
   * answered from the memo; reads (checks included) of a height below the shared app's, and
   * the times the state was parked at such a height for them.
   */
  readonly stats = { executed: 0, reused: 0, checks: 0, checkHits: 0, readsBehind: 0, parked: 0 }

  constructor(init: SharedExecutionInit) {
    this.chain = new ChainApp(init.genesis)
    this.chain.state.journal.trackChanges()
    this.#keepHeights = init.keepHeights
    this.#genesisAppHash = this.chain.appHash()
    this.#newest = this.chain.height
    this.#showing = this.#newest
  }

  view(): SharedChainView {
    return new SharedChainView(this)
  }

  /** The app hash after `height` on the lineage. */
  appHashAt(height: number): Uint8Array {
    if (height === 0) return this.#genesisAppHash
    const e = this.#lineage.get(height)
    if (e === undefined) throw this.#gone(height)
    return e.outcome.appHash
  }

  /** Block `block` executed from a view at `height - 1` whose app hash is `appHashBefore`. */
  execute(block: ChainBlock, appHashBefore: Uint8Array): BlockOutcome {
    const h = block.height
    const known = this.#lineage.get(h)
    if (known !== undefined) {
      if (known.blockHash !== toHex(block.hash))
        throw new SharedExecutionError(
          `block ${h} is ${toHex(block.hash)}, the shared lineage executed ${known.blockHash} at that height`,
          { height: h },
        )
      if (!bytesEqual(known.appHashBefore, appHashBefore))
        throw new SharedExecutionError(
          `block ${h} executed from app hash ${toHex(appHashBefore)}, the shared lineage from ${toHex(known.appHashBefore)}`,
          { height: h },
        )
      this.stats.reused++
      return known.outcome
    }
    if (h !== this.#newest + 1) throw this.#gone(h)
    this.showNewest()
    if (!bytesEqual(this.chain.appHash(), appHashBefore))
      throw new SharedExecutionError(
        `block ${h} executed from app hash ${toHex(appHashBefore)}, the shared app is at ${toHex(this.chain.appHash())}`,
        { height: h },
      )
    const outcome = this.chain.executeBlock(block)
    this.#newest = this.chain.height
    this.#showing = this.#newest
    this.#lineage.set(h, {
      blockHash: toHex(block.hash),
      appHashBefore: appHashBefore.slice(),
      outcome,
      changes: this.chain.state.journal.takeChanges(),
    })
    this.#lineage.delete(h - this.#keepHeights)
    this.stats.executed++
    return outcome
  }

  /**
   * `fn` run with the shared state as it was after `height`: the changes of every later block
   * applied back, newest first, and left so (parked) for the next read at that height, until a
   * read at another height, an execution or `showNewest`. Writes `fn` makes while parked are not
   * tracked as the next block's changes (they are dry runs, rolled back). Nests at one height.
   */
  at<T>(height: number, fn: () => T): T {
    if (height !== this.#showing) {
      if (height > this.#newest)
        throw new SharedExecutionError(`a read at height ${height} above the shared app's ${this.#newest}`)
      if (this.#reading > 0)
        throw new SharedExecutionError(`a read at height ${height} inside a read at height ${this.#showing}`)
      this.showNewest()
      if (height < this.#showing) this.#park(height)
    }
    if (this.#showing < this.#newest) this.stats.readsBehind++
    this.#reading++
    try {
      return this.#parkedAt === undefined ? fn() : this.chain.state.journal.untracked(fn)
    } finally {
      this.#reading--
    }
  }

  /**
   * The shared state at the newest executed block again (a parked read undone). Called before
   * anything reads the shared state other than through `at`: the simulation calls it after each
   * event, so between events the state shows the newest block, as it did before parking.
   */
  showNewest(): void {
    if (this.#parkedAt === undefined) return
    if (this.#reading > 0) throw new SharedExecutionError('the shared state cannot move inside a read')
    this.chain.state.journal.rollback(this.#parkedAt)
    this.#parkedAt = undefined
    this.#showing = this.#newest
  }

  #park(height: number): void {
    const journal = this.chain.state.journal
    const mark = journal.mark()
    journal.untracked(() => {
      for (let h = this.#showing; h > height; h--) {
        const e = this.#lineage.get(h)
        if (e === undefined) {
          journal.rollback(mark)
          throw this.#gone(h)
        }
        for (const [table, byKey] of e.changes) revert(table, byKey)
      }
    })
    this.#parkedAt = mark
    this.#showing = height
    this.stats.parked++
  }

  /** `bytes` checked at `height` for a mempool whose reserved next nonces are `pendingNonce`. */
  check(height: number, bytes: Uint8Array, pendingNonce: ReadonlyMap<string, number>): CheckOutcome {
    const id = txIdOf(bytes)
    const decoded = this.#decoded.getOrCompute(id, () => {
      try {
        const tx = decodeTx(bytes, bytes.byteLength)
        return { sender: tx.sender, nonce: tx.body.nonce }
      } catch {
        return null
      }
    })
    const reserved = decoded === null ? undefined : pendingNonce.get(decoded.sender)
    // The chain reads a reservation only as the nonce it expects (the reserved one, else the
    // account's own), so checks expecting the same nonce share a result: a client's pre-check
    // with its next nonce and a mempool holding nothing of that sender, say. The account's own
    // is read only at the height on show (behind it, a read would cost a revert): elsewhere '-'.
    const expected = reserved ?? (decoded === null ? undefined : this.#ownNonceOnShow(height, decoded.sender))
    const key = `${height}:${id}:${expected ?? '-'}`
    this.stats.checks++
    let result = this.#checks.get(key)
    if (result === undefined) {
      result = this.at(height, () => this.chain.checkTx(bytes, { record: false, pendingNonce }))
      this.#checks.set(key, result)
    } else this.stats.checkHits++
    return { result, id, tx: decoded }
  }

  /** The account's nonce, when `height` is the one on show; 'none' for no account. */
  #ownNonceOnShow(height: number, address: string): number | 'none' | undefined {
    if (height !== this.#showing) return undefined
    return this.chain.state.accounts.get(address)?.nonce ?? 'none'
  }

  #gone(height: number): SharedExecutionError {
    return new SharedExecutionError(
      `height ${height} is not on the shared lineage (the shared app is at ${this.#newest}, the lineage keeps ${this.#keepHeights} heights)`,
      { height },
    )
  }
}

interface CheckOutcome {
  readonly result: CheckResult
  readonly id: string
  readonly tx: { readonly sender: string; readonly nonce: number } | null
}

function revert(table: Table<unknown>, byKey: ReadonlyMap<string, { had: boolean; old: unknown }>): void {
  for (const [key, prior] of byKey)
    if (prior.had) table.set(key, prior.old)
    else table.delete(key)
}

/** One sharing validator's chain application: its height and mempool reservations over the shared state. */
export class SharedChainView implements ChainAppApi {
  readonly #shared: SharedExecution
  #height = 0
  #appHash: Uint8Array
  /** As ChainApp's own: transactions this view's checks accepted since its last block, and the next nonces they reserve. */
  readonly #checked = new Set<string>()
  readonly #pendingNonce = new Map<string, number>()

  constructor(shared: SharedExecution) {
    this.#shared = shared
    this.#appHash = shared.appHashAt(0)
  }

  /** The shared state as of the NEWEST executed block: read it at this view's height through `read`. */
  get state(): ChainState {
    this.#shared.showNewest()
    return this.#shared.chain.state
  }

  get height(): number {
    return this.#height
  }

  appHash(): Uint8Array {
    return this.#appHash.slice()
  }

  /** `fn` given the state as of this view's height. */
  read<T>(fn: (state: ChainState) => T): T {
    return this.#shared.at(this.#height, () => fn(this.#shared.chain.state))
  }

  checkTx(
    bytes: Uint8Array,
    options: { record?: boolean; pendingNonce?: ReadonlyMap<string, number> } = {},
  ): CheckResult {
    const { result, id, tx } = this.#shared.check(this.#height, bytes, options.pendingNonce ?? this.#pendingNonce)
    if (result.ok && tx !== null && options.record !== false && this.#checked.size < MAX_VERIFIED) {
      this.#checked.add(id)
      this.#pendingNonce.set(tx.sender, tx.nonce + 1)
    }
    return result
  }

  executeBlock(block: ChainBlock): BlockOutcome {
    if (block.height !== this.#height + 1)
      throw new SharedExecutionError(`block ${block.height} does not follow height ${this.#height}`, {
        height: block.height,
      })
    const outcome = this.#shared.execute(block, this.#appHash)
    this.#height = block.height
    this.#appHash = outcome.appHash.slice()
    this.#checked.clear()
    this.#pendingNonce.clear()
    return { ...outcome, appHash: outcome.appHash.slice() }
  }

  snapshot(): Uint8Array {
    return this.read(() => this.#shared.chain.snapshot())
  }

  restore(): void {
    throw new SharedExecutionError('a validator sharing execution cannot restore a snapshot')
  }

  query(path: string, data?: Uint8Array | string): unknown {
    return this.read(() => this.#shared.chain.query(path, data))
  }
}
