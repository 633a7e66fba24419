/**
 * A key-value application for tests and benchmarks: a transaction is `key=value` in UTF-8.
 * The app hash chains the blocks: SHA-256(previous app hash ‖ height ‖ the block's txs root);
 * the writes are a deterministic function of the txs, so every node that executed the same
 * blocks has the same hash, at a cost that does not grow with the state. (It commits to the history of writes, not to a
 * state snapshot; `src/chain` will use a Merkle state commitment.) Kept in memory: after a
 * restart the node replays its block store into a new one.
 */
import { assert } from '../runtime/assert.ts'
import type { Application, CheckTxResult } from './application.ts'
import { encode } from './codec.ts'
import { sha256 } from './hash.ts'
import type { Block } from './types.ts'

const MAX_KV_TX_BYTES = 4096
const decoder = new TextDecoder('utf-8', { fatal: true })

function parse(tx: Uint8Array): [string, string] | undefined {
  if (tx.byteLength === 0 || tx.byteLength > MAX_KV_TX_BYTES) return undefined
  let text: string
  try {
    text = decoder.decode(tx)
  } catch {
    return undefined
  }
  const eq = text.indexOf('=')
  if (eq <= 0) return undefined
  return [text.slice(0, eq), text.slice(eq + 1)]
}

export class KvApplication implements Application {
  readonly #entries = new Map<string, string>()
  #height = 0
  #appHash: Uint8Array = sha256()
  /** Transactions executed, in order (tests check that each committed tx ran once). */
  executedTxs = 0

  checkTx(tx: Uint8Array): CheckTxResult {
    return parse(tx) === undefined ? { ok: false, reason: 'not a key=value transaction' } : { ok: true }
  }

  executeBlock(block: Block): Uint8Array {
    assert(block.header.height === this.#height + 1, 'blocks are executed once each, in order')
    for (const tx of block.txs) {
      const kv = parse(tx)
      // A proposer may include a tx that fails here (checkTx ran against older state): skip it, deterministically.
      if (kv === undefined) continue
      this.#entries.set(kv[0], kv[1])
      this.executedTxs++
    }
    this.#height = block.header.height
    this.#appHash = sha256(this.#appHash, encode([this.#height]), block.header.txsRoot)
    return this.#appHash
  }

  info(): { height: number; appHash: Uint8Array } {
    return { height: this.#height, appHash: this.#appHash }
  }

  query(key: Uint8Array): Uint8Array | undefined {
    const value = this.#entries.get(new TextDecoder().decode(key))
    return value === undefined ? undefined : new TextEncoder().encode(value)
  }
}
