/**
 * A key-value application for tests and benchmarks: a transaction is `key=value` in UTF-8.
 * The app hash chains the blocks: SHA-256(previous app hash ‖ height ‖ the block's txs root);
 * the writes are a deterministic function of the txs, so every node that executed the same
 * blocks has the same hash, at a cost that does not grow with the state. (It commits to the history of writes, not to a
 * state snapshot; `src/chain` will use a Merkle state commitment.) Kept in memory: after a
 * restart the node replays its block store into a new one.
 *
 * `val:<public key, 64 hex digits>=<power>` changes the validator set (power 0 removes), as
 * CometBFT's kvstore example does: the block returns it as a validator update. An update that
 * the set cannot take (removing a non-member, or the last member) is skipped, deterministically.
 */

import { hexToBytes, toHex } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'
import { assert } from '../runtime/assert.ts'
import type { Application, CheckTxResult, ExecutedBlock } from './application.ts'
import { encode } from './codec.ts'
import type { Block } from './types.ts'
import type { GenesisValidator, ValidatorUpdate } from './validator-set.ts'

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

const VALIDATOR_PREFIX = 'val:'

/** A `val:` transaction's update, or undefined when the tx is not a well-formed one. */
function parseValidatorUpdate(key: string, value: string): ValidatorUpdate | undefined {
  const hex = key.slice(VALIDATOR_PREFIX.length)
  if (!/^[0-9a-f]{64}$/.test(hex) || !/^[0-9]{1,15}$/.test(value)) return undefined
  return { publicKey: hexToBytes(hex, 'validator key'), power: Number(value) }
}

export class KvApplication implements Application {
  readonly #entries = new Map<string, string>()
  /** Power of each member by public key (hex), as this application's updates leave it. */
  readonly #powers = new Map<string, number>()
  #height = 0
  #appHash: Uint8Array = sha256()
  #lastUpdates: readonly ValidatorUpdate[] = []
  /** Transactions executed, in order (tests check that each committed tx ran once). */
  executedTxs = 0

  /** `validators`: the genesis set, which `val:` transactions change. */
  constructor(validators: readonly GenesisValidator[] = []) {
    for (const v of validators) this.#powers.set(toHex(v.publicKey), v.power)
  }

  checkTx(tx: Uint8Array): CheckTxResult {
    const kv = parse(tx)
    if (kv === undefined) return { ok: false, reason: 'not a key=value transaction' }
    if (kv[0].startsWith(VALIDATOR_PREFIX) && parseValidatorUpdate(kv[0], kv[1]) === undefined)
      return { ok: false, reason: 'a validator update is val:<64 hex digits of public key>=<power>' }
    return { ok: true }
  }

  executeBlock(block: Block): ExecutedBlock {
    assert(block.header.height === this.#height + 1, 'blocks are executed once each, in order')
    const updates = new Map<string, ValidatorUpdate>()
    for (const tx of block.txs) {
      const kv = parse(tx)
      // A proposer may include a tx that fails here (checkTx ran against older state): skip it, deterministically.
      if (kv === undefined) continue
      if (kv[0].startsWith(VALIDATOR_PREFIX)) {
        const update = parseValidatorUpdate(kv[0], kv[1])
        if (update === undefined || !this.#applicable(update)) continue
        const key = toHex(update.publicKey)
        updates.set(key, update)
        if (update.power === 0) this.#powers.delete(key)
        else this.#powers.set(key, update.power)
      }
      this.#entries.set(kv[0], kv[1])
      this.executedTxs++
    }
    this.#height = block.header.height
    this.#appHash = sha256(this.#appHash, encode([this.#height]), block.header.txsRoot)
    this.#lastUpdates = [...updates.values()]
    return { appHash: this.#appHash, validatorUpdates: this.#lastUpdates }
  }

  /** The set can take it: a removal names a member and leaves at least one. */
  #applicable(update: ValidatorUpdate): boolean {
    if (update.power > 0) return true
    const key = toHex(update.publicKey)
    return this.#powers.has(key) && this.#powers.size > 1
  }

  info(): { height: number; appHash: Uint8Array; validatorUpdates: readonly ValidatorUpdate[] } {
    return { height: this.#height, appHash: this.#appHash, validatorUpdates: this.#lastUpdates }
  }

  query(key: Uint8Array): Uint8Array | undefined {
    const value = this.#entries.get(new TextDecoder().decode(key))
    return value === undefined ? undefined : new TextEncoder().encode(value)
  }
}
