/**
 * A tiny block producer for chain tests: builds signed transactions with the right nonces,
 * feeds blocks to the application (and to an optional twin that also runs every transaction
 * through checkTx first, as a mempool would), and checks after every block that token supply
 * is conserved and that the twin reached the same app hash.
 */
import assert from 'node:assert/strict'
import { ChainApp, type TxResult } from '../../src/chain/app.ts'
import { drawOf } from '../../src/chain/game.ts'
import { type Genesis, type LocalTestnetOptions, labelCid, localTestnetGenesis } from '../../src/chain/genesis.ts'
import { type KeyPair, testKey } from '../../src/chain/keys.ts'
import type { Challenge, L2Verdict } from '../../src/chain/state.ts'
import { commitmentOf, encodeTx, type Msg } from '../../src/chain/tx.ts'
import { verifierTicket } from '../../src/chain/verifier-draw.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'

export const R3 = 1_000_000n

export interface HarnessOptions extends LocalTestnetOptions {
  readonly twin?: boolean
}

export function keys(prefix: string, n: number): KeyPair[] {
  return Array.from({ length: n }, (_, i) => testKey(`${prefix}-${i}`))
}

/** A commit–reveal salt derived from a label: 16 bytes of hex. */
export const salt = (label: string): string => toHex(sha256(label)).slice(0, 32)

/**
 * The cast of the verification-game tests: 4 validators, 2 subnets of 2 miners, 4 verifiers,
 * 6 arbiters and `users` funded accounts; `key` finds any of them by address (a drawn verifier,
 * arbiter or aggregator), `net` starts a chain of 2-replica, 1-shard windows for them.
 */
export function gameCast(users: number) {
  const validators = keys('val', 4)
  const miners = [keys('miner0', 2), keys('miner1', 2)]
  const verifiers = keys('verifier', 4)
  const arbiters = keys('arbiter', 6)
  const funded = keys('user', users)
  const everyone = [...validators, ...miners.flat(), ...verifiers, ...arbiters, ...funded]
  const byAddress = new Map(everyone.map((k) => [k.address, k]))
  const key = (address: string | null): KeyPair => byAddress.get(address as string) as KeyPair
  const challengeOf = (h: Harness, id: string): Challenge => h.app.state.challenges.get(id) as Challenge
  const ticketOf = (h: Harness, v: KeyPair, c: Challenge) =>
    verifierTicket(v.secretKey, drawOf(c), c.eligible[v.address] as bigint, c.eligibleStake, h.params)
  return {
    validators,
    miners,
    verifiers,
    arbiters,
    funded,
    key,
    /** Every verifier the draw selects for challenge `id`'s attempt claims the seat; the claim phase runs out: the seated one. */
    seat(h: Harness, id: string): KeyPair {
      const c = challengeOf(h, id)
      const selected = verifiers
        .filter((v) => Object.hasOwn(c.eligible, v.address))
        .map((v) => ({ v, ticket: ticketOf(h, v, c) }))
        .filter((s) => s.ticket.selected)
      assert.ok(selected.length > 0, `nobody selected for attempt ${c.attempt} of ${id}`)
      h.block(selected.map((s) => h.tx(s.v, { type: 'verifierClaim', challengeId: id, proof: s.ticket.proof })))
      h.runTo(challengeOf(h, id).claimUntil)
      return key(challengeOf(h, id).verifier)
    },
    /** The seated verifier of challenge `id` (seated first when nobody is) answers `verdict`: who, and the result's code. */
    answer(h: Harness, id: string, verdict: L2Verdict): { verifier: KeyPair; code: string } {
      if (challengeOf(h, id).verifier === null) this.seat(h, id)
      const c = challengeOf(h, id)
      const verifier = key(c.verifier)
      const proof = ticketOf(h, verifier, c).proof
      return { verifier, code: h.one(verifier, { type: 'verifierResponse', challengeId: id, verdict, proof }).code }
    },
    net: (params: Record<string, unknown> = {}, twin = false): Harness =>
      new Harness({
        validators,
        miners,
        verifiers,
        arbiters,
        funded,
        twin,
        params: { replication: 2, shardsPerWindow: 1, ...params },
      }),
  }
}

export class Harness {
  readonly genesis: Genesis
  readonly app: ChainApp
  readonly twin: ChainApp | undefined
  readonly #pending = new Map<string, number>()
  proposer: string
  hashLabel = 'block'

  constructor(opts: HarnessOptions) {
    this.genesis = localTestnetGenesis(opts)
    this.app = new ChainApp(this.genesis)
    this.twin = opts.twin ? new ChainApp(this.genesis) : undefined
    this.proposer = (opts.validators[0] as KeyPair).address
  }

  get height(): number {
    return this.app.height
  }

  get params() {
    return this.app.state.params
  }

  nonceOf(address: string): number {
    return this.app.state.account(address).nonce + (this.#pending.get(address) ?? 0)
  }

  /** A signed transaction with the sender's next nonce (counting ones built for the coming block). */
  tx(key: KeyPair, msg: Msg, over: { fee?: bigint; nonce?: number; chainId?: string } = {}): Uint8Array {
    const nonce = over.nonce ?? this.nonceOf(key.address)
    if (over.nonce === undefined) this.#pending.set(key.address, (this.#pending.get(key.address) ?? 0) + 1)
    const body = { chainId: over.chainId ?? this.genesis.chainId, nonce, fee: over.fee ?? this.params.minFee, msg }
    return encodeTx(body, key)
  }

  blockHash(height: number): Uint8Array {
    return sha256(`${this.hashLabel}/${height}`)
  }

  /** The beacon of block `height` (in a real chain, its proposer's VRF output; here any fixed bytes). */
  beacon(height: number): Uint8Array {
    return sha256(`${this.hashLabel}/beacon/${height}`)
  }

  block(txs: Uint8Array[] = [], evidence: Uint8Array[] = []): TxResult[] {
    this.#pending.clear()
    const height = this.height + 1
    const block = {
      height,
      timeMs: height * 1000,
      proposer: this.proposer,
      hash: this.blockHash(height),
      beacon: this.beacon(height),
      txs,
      evidence,
    }
    if (this.twin !== undefined) for (const t of txs) this.twin.checkTx(t)
    const { appHash, results } = this.app.executeBlock(block)
    assert.equal(results.length, txs.length)
    this.checkSupply()
    if (this.twin !== undefined) {
      const other = this.twin.executeBlock(block)
      assert.equal(toHex(other.appHash), toHex(appHash), `app hashes differ at height ${height}`)
      assert.deepEqual(other.results, results)
    }
    return results
  }

  /** One transaction in its own block; returns its result. */
  one(key: KeyPair, msg: Msg, over: { fee?: bigint; nonce?: number } = {}): TxResult {
    return this.block([this.tx(key, msg, over)])[0] as TxResult
  }

  ok(key: KeyPair, msg: Msg): void {
    const r = this.one(key, msg)
    assert.equal(r.code, 'OK', `${msg.type} by ${key.address}: ${r.log}`)
  }

  run(blocks: number): void {
    for (let i = 0; i < blocks; i++) this.block()
  }

  runTo(height: number): void {
    while (this.height < height) this.block()
  }

  /** Supply moves only by inflation minus slashing, and every token is accounted for. */
  checkSupply(): void {
    const m = this.app.state.globals
    const audit = this.app.state.audit()
    assert.ok(audit.ok, `audit failed at height ${m.height}`)
    assert.equal(m.supply, m.genesisSupply + m.minted - m.slashed)
  }

  balance(address: string): bigint {
    return this.app.state.account(address).balance
  }

  stake(address: string): bigint {
    return this.app.state.stakeOf(address)
  }
}

export const cid = labelCid

/**
 * Both miners of subnet 0 commit to the current window's task and reveal the same CID, in two
 * blocks; both reveals must be accepted (L1). Returns the two claim ids, sorted.
 */
export function submitPair(h: Harness, pair: readonly [KeyPair, KeyPair]): string[] {
  const task = `${h.app.state.globals.currentWindow}.0.0`
  const c = cid(`grad-${task}`)
  h.block(
    pair.map((m) =>
      h.tx(m, { type: 'commit', taskId: task, commitment: commitmentOf(c, m.address, task, salt(m.address)) }),
    ),
  )
  const results = h.block(
    pair.map((m) => h.tx(m, { type: 'reveal', taskId: task, cid: c, salt: salt(m.address), metadata: '' })),
  )
  assert.deepEqual(
    results.map((r) => r.log),
    ['', ''],
  )
  return pair.map((m) => `${task}/${m.address}`).sort()
}
