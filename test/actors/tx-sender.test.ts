/**
 * TxSender against a real chain application and a real mempool (standing for the validators):
 * several transactions in flight with consecutive nonces, signed again from the chain's nonce
 * when one before them is rejected or given up, sent again when a mempool refused one that
 * arrived ahead of its predecessor. Only the network between sender and mempool is a fake,
 * which loses or reorders what a test says.
 */
import assert from 'node:assert/strict'
import type { ExecutedBlock } from '../../src/actors/chain-node.ts'
import { txIdOf } from '../../src/actors/chain-node.ts'
import { type TxResultInfo, TxSender } from '../../src/actors/tx-sender.ts'
import { ChainApp } from '../../src/chain/app.ts'
import { localTestnetGenesis } from '../../src/chain/genesis.ts'
import { type KeyPair, testKey } from '../../src/chain/keys.ts'
import { UNITS_PER_TOKEN } from '../../src/chain/params.ts'
import { ChainReader } from '../../src/chain/reader.ts'
import { decodeTx, type Msg } from '../../src/chain/tx.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { Mempool } from '../../src/consensus/mempool.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { InvalidArgumentError } from '../../src/runtime/errors.ts'
import { MAX_PENDING_TXS_PER_SENDER } from '../../src/runtime/limits.ts'
import { createLogger } from '../../src/runtime/logger.ts'

const validators = [testKey('tx-sender-val-0')]
const alice = testKey('tx-sender-alice')
const bob = testKey('tx-sender-bob')
const BALANCE = 1_000_000n * UNITS_PER_TOKEN
const MAX_TX_BYTES = 64 * 1024

/** One chain application with one mempool in front of it; `deliver` decides what the network does with a submitted tx. */
class OneValidatorChain {
  readonly app = new ChainApp(localTestnetGenesis({ validators, funded: [alice], balance: BALANCE }))
  /** As a validator's: admission is the chain's check, its code and log the reason of a refusal. */
  readonly mempool = new Mempool({
    checkTx: (tx) => {
      if (this.refused.has(txIdOf(tx))) return { ok: false, reason: 'ERR_WRONG_STAGE: no longer open' }
      const r = this.app.checkTx(tx)
      return r.ok ? { ok: true } : { ok: false, reason: `${r.code}: ${r.log}` }
    },
  })
  /** Transactions (by id) the chain refuses from now on, as one whose challenge moved on. */
  readonly refused = new Set<string>()
  readonly reader = new ChainReader(this.app.state)
  /** Every submission, in order (resends included). */
  readonly submitted: Uint8Array[] = []
  readonly #listeners = new Set<(b: ExecutedBlock) => void>()
  /** What the network does with a submitted tx: hand it on at once (true), lose it (false). */
  deliver: (tx: Uint8Array) => boolean = () => true

  get height(): number {
    return this.app.height
  }

  checkTx(tx: Uint8Array, pendingNonce?: ReadonlyMap<string, number>) {
    if (this.refused.has(txIdOf(tx))) return { ok: false as const, code: 'ERR_WRONG_STAGE', log: 'no longer open' }
    return this.app.checkTx(tx, pendingNonce === undefined ? { record: false } : { record: false, pendingNonce })
  }

  async submit(tx: Uint8Array): Promise<void> {
    this.submitted.push(tx)
    if (this.deliver(tx)) this.admit(tx)
  }

  /** A tx reaching the mempool (refusals are the mempool's business, as for a gossiped one). */
  admit(tx: Uint8Array): void {
    try {
      this.mempool.add(tx)
    } catch {
      // refused or duplicate: not kept
    }
  }

  onBlock(listener: (b: ExecutedBlock) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Decide a block of what the mempool holds (or `txs`), then let the sender react. */
  async block(txs: readonly Uint8Array[] = this.mempool.reap(1 << 20)): Promise<ExecutedBlock> {
    const height = this.app.height + 1
    const block = {
      height,
      timeMs: height * 1000,
      proposer: (validators[0] as KeyPair).address,
      hash: sha256(`block ${height}`),
      beacon: sha256(`beacon ${height}`),
      txs,
      evidence: [],
    }
    const outcome = this.app.executeBlock(block)
    this.mempool.update(txs)
    const executed = { block, outcome, txIds: txs.map((tx) => txIdOf(tx)) }
    for (const l of this.#listeners) l(executed)
    await settle()
    return executed
  }

  nonces(txs: readonly Uint8Array[] = this.submitted): number[] {
    return txs.map((tx) => decodeTx(tx, MAX_TX_BYTES).body.nonce)
  }
}

/** Let queued microtasks (the sender's reaction to a block) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

function sender(
  chain: OneValidatorChain,
  options: { maxInFlight?: number; resendAfterBlocks?: number; giveUpAfterBlocks?: number } = {},
) {
  const clock = new SimulatedClock()
  return new TxSender({ chain, key: alice, logger: createLogger({ name: 'tx', level: 'silent', clock }), ...options })
}

const pay = (amount: bigint): Msg => ({ type: 'transfer', to: bob.address, amount })

/** Collect results as they come, so a test sees which have settled (and that each settles once). */
function track(promises: readonly Promise<TxResultInfo>[]): (TxResultInfo | undefined)[] {
  const results: (TxResultInfo | undefined)[] = promises.map(() => undefined)
  promises.forEach((p, i) => {
    void p.then((r) => {
      assert.equal(results[i], undefined, `transaction ${i} settled twice`)
      results[i] = r
    })
  })
  return results
}

describe('TxSender: several transactions in flight per account', () => {
  it('signs transactions sent together with consecutive nonces, and all land in one block', async () => {
    const chain = new OneValidatorChain()
    const tx = sender(chain)
    const results = track([1n, 2n, 3n, 4n, 5n].map((a) => tx.send(pay(a))))
    assert.deepEqual(chain.nonces(), [0, 1, 2, 3, 4], 'signed ahead of the chain, in order')
    assert.equal(chain.mempool.size, 5, 'the mempool admits the consecutive nonces')
    const b = await chain.block()
    assert.equal(b.block.txs.length, 5)
    assert.deepEqual(
      results.map((r) => r?.code),
      ['OK', 'OK', 'OK', 'OK', 'OK'],
    )
    assert.ok(results.every((r) => r?.height === 1))
    assert.equal(chain.reader.account(alice.address).nonce, 5)
    assert.equal(chain.reader.account(bob.address).balance, 15n)
    assert.equal(tx.pending, 0)
    tx.close()
  })

  it('never has more than maxInFlight in flight: the rest wait and go as blocks take the first', async () => {
    const chain = new OneValidatorChain()
    const tx = sender(chain, { maxInFlight: 3 })
    const results = track(Array.from({ length: 7 }, (_, i) => tx.send(pay(BigInt(i + 1)))))
    const seen: number[] = [tx.inFlight]
    assert.deepEqual(chain.nonces(), [0, 1, 2])
    for (let i = 0; i < 3; i++) {
      await chain.block()
      seen.push(tx.inFlight)
    }
    assert.deepEqual(seen, [3, 3, 1, 0])
    assert.deepEqual(chain.nonces(), [0, 1, 2, 3, 4, 5, 6])
    assert.deepEqual(
      results.map((r) => r?.height),
      [1, 1, 1, 2, 2, 2, 3],
    )
    assert.ok(results.every((r) => r?.code === 'OK'))
    tx.close()
  })

  it('a transaction rejected in the middle: the ones after it are signed again from the chain nonce, and each caller gets its own result once', async () => {
    const chain = new OneValidatorChain()
    const tx = sender(chain)
    // Each of the first two passes the check alone (the dry run sees the committed balance);
    // together they overdraw, so the second is rejected at execution and takes no nonce.
    const big = (BALANCE * 6n) / 10n
    const results = track([tx.send(pay(big)), tx.send(pay(big)), tx.send(pay(1n)), tx.send(pay(2n))])
    assert.deepEqual(chain.nonces(), [0, 1, 2, 3])
    const first = await chain.block()
    assert.deepEqual(
      first.outcome.results.map((r) => r.code),
      ['OK', 'ERR_INSUFFICIENT_FUNDS', 'ERR_WRONG_NONCE', 'ERR_WRONG_NONCE'],
    )
    assert.equal(results[0]?.code, 'OK')
    assert.equal(results[1]?.code, 'ERR_INSUFFICIENT_FUNDS')
    assert.equal(results[2], undefined, 'refused for its nonce only: not settled')
    assert.equal(results[3], undefined)
    assert.deepEqual(chain.nonces(chain.submitted.slice(4)), [1, 2], 'the last two signed again from nonce 1')
    await chain.block()
    assert.deepEqual(
      results.map((r) => [r?.code, r?.height]),
      [
        ['OK', 1],
        ['ERR_INSUFFICIENT_FUNDS', 1],
        ['OK', 2],
        ['OK', 2],
      ],
    )
    assert.equal(chain.reader.account(alice.address).nonce, 3)
    assert.equal(chain.reader.account(bob.address).balance, big + 3n)
    tx.close()
  })

  it('a transaction lost for good is given up and the ones after it go on: the queue does not wedge', async () => {
    const chain = new OneValidatorChain()
    const tx = sender(chain, { resendAfterBlocks: 2, giveUpAfterBlocks: 5 })
    // Gossip loses the first transaction, each time it is sent.
    let lostId: string | undefined
    chain.deliver = (bytes) => {
      lostId ??= txIdOf(bytes)
      return txIdOf(bytes) !== lostId
    }
    const results = track([tx.send(pay(1n)), tx.send(pay(2n)), tx.send(pay(3n))])
    // The mempool never saw nonce 0, so it refuses 1 and 2 (a gap) and the blocks stay empty.
    for (let h = 1; h <= 4; h++) assert.equal((await chain.block()).block.txs.length, 0)
    assert.ok(chain.submitted.filter((b) => txIdOf(b) === lostId).length >= 2, 'sent again after resendAfterBlocks')
    assert.equal(results.filter((r) => r !== undefined).length, 0, 'nothing settled yet')
    await chain.block() // height 5: the first in line is given up, the rest signed again from nonce 0
    assert.equal(results[0]?.code, 'DROPPED')
    assert.equal(results[1], undefined)
    const last = await chain.block()
    assert.equal(last.block.txs.length, 2)
    assert.deepEqual(
      results.slice(1).map((r) => [r?.code, r?.height]),
      [
        ['OK', 6],
        ['OK', 6],
      ],
    )
    assert.equal(chain.reader.account(bob.address).balance, 5n)
    tx.close()
  })

  it('the first in line, refused by the chain after a block, is given up at once: those behind it do not wait for its resend', async () => {
    const chain = new OneValidatorChain()
    const tx = sender(chain, { resendAfterBlocks: 4, giveUpAfterBlocks: 20 })
    const results = track([tx.send(pay(1n)), tx.send(pay(2n))])
    // The state moves on before a block takes the first: no mempool keeps it any more.
    const first = chain.submitted[0] as Uint8Array
    chain.refused.add(txIdOf(first))
    chain.mempool.update([])
    assert.equal((await chain.block()).block.txs.length, 0, 'the second waits on the first (a nonce gap)')
    assert.deepEqual([results[0]?.code, results[0]?.height], ['ERR_WRONG_STAGE', 1], 'given up after the block')
    const next = await chain.block()
    assert.equal(next.block.txs.length, 1, 'the second, signed again from nonce 0, lands at the next block')
    assert.deepEqual([results[1]?.code, results[1]?.height], ['OK', 2])
    tx.close()
  })

  it('signs an answer the chain penalizes for lateness first, also when those in flight are signed again', async () => {
    const chain = new OneValidatorChain()
    // The answer's challenge is not on this chain: the check lets it through, as a node's would
    // for an open challenge; only the order of signing is under test.
    const check = chain.checkTx.bind(chain)
    chain.checkTx = (bytes, pending) =>
      decodeTx(bytes, MAX_TX_BYTES).body.msg.type === 'verifierResponse' ? { ok: true as const } : check(bytes, pending)
    const tx = sender(chain, { maxInFlight: 2 })
    const answer: Msg = {
      type: 'verifierResponse',
      challengeId: 'ch-0',
      verdict: 'unavailable',
      proof: '00'.repeat(80),
    }
    track([tx.send(pay(1n)), tx.send(pay(2n)), tx.send(pay(3n)), tx.send(answer)])
    const typeOf = (bytes: Uint8Array) => decodeTx(bytes, MAX_TX_BYTES).body.msg.type
    assert.deepEqual(chain.submitted.map(typeOf), ['transfer', 'transfer'], 'two in flight, the answer waits')
    // The first in flight is refused after a block: the rest are signed again from nonce 0.
    chain.refused.add(txIdOf(chain.submitted[0] as Uint8Array))
    chain.mempool.update([])
    chain.mempool.update(chain.mempool.reap(1 << 20))
    await chain.block([])
    const again = chain.submitted.slice(2)
    assert.deepEqual(
      again.map(typeOf),
      ['verifierResponse', 'transfer'],
      'the answer first, ahead of the transfers waiting',
    )
    assert.deepEqual(chain.nonces(again), [0, 1])
    tx.close()
  })

  it('one that reached the mempool ahead of its predecessor (refused for its nonce) is sent again as soon as the predecessor lands', async () => {
    const chain = new OneValidatorChain()
    const tx = sender(chain, { resendAfterBlocks: 4 })
    // Gossip does not keep order: nonce 0 arrives after nonce 1, which the mempool refuses.
    const held: Uint8Array[] = []
    chain.deliver = (bytes) => {
      if (decodeTx(bytes, MAX_TX_BYTES).body.nonce !== 0) return true
      held.push(bytes)
      return false
    }
    const results = track([tx.send(pay(1n)), tx.send(pay(2n))])
    chain.deliver = () => true
    for (const b of held) chain.admit(b)
    assert.equal(chain.mempool.size, 1, 'nonce 1 was refused for arriving first')
    await chain.block()
    assert.equal(results[0]?.code, 'OK')
    assert.equal(chain.mempool.size, 1, 'nonce 1 was sent again at once')
    await chain.block()
    assert.deepEqual(
      results.map((r) => [r?.code, r?.height]),
      [
        ['OK', 1],
        ['OK', 2],
      ],
    )
    tx.close()
  })

  it('one the check refuses while others are in flight waits for them (it may depend on them), then goes', async () => {
    const chain = new OneValidatorChain()
    const tx = sender(chain)
    const stake = 6_000n * UNITS_PER_TOKEN
    const results = track([
      tx.send({ type: 'stake', amount: stake }),
      tx.send({ type: 'register', roles: ['verifier'], subnet: null }),
    ])
    assert.equal(chain.submitted.length, 1, 'registering needs the stake, which is not in a block yet')
    assert.equal(results[1], undefined)
    await chain.block()
    assert.equal(results[0]?.code, 'OK')
    await chain.block()
    assert.deepEqual(
      results.map((r) => [r?.code, r?.height]),
      [
        ['OK', 1],
        ['OK', 2],
      ],
    )
    // With nothing ahead of it, a refusal is the answer at once.
    const again = await tx.send({ type: 'unstake', amount: 10n * stake })
    assert.equal(again.code, 'ERR_INVALID_FIELD')
    tx.close()
  })

  it('close settles everything still waiting as DROPPED', async () => {
    const chain = new OneValidatorChain()
    const tx = sender(chain, { maxInFlight: 2 })
    const results = track([tx.send(pay(1n)), tx.send(pay(2n)), tx.send(pay(3n))])
    tx.close()
    await settle()
    assert.deepEqual(
      results.map((r) => r?.code),
      ['DROPPED', 'DROPPED', 'DROPPED'],
    )
  })

  it('refuses a maxInFlight validators would not admit, naming it', () => {
    const chain = new OneValidatorChain()
    for (const maxInFlight of [0, 1.5, MAX_PENDING_TXS_PER_SENDER + 1])
      assert.throws(
        () => sender(chain, { maxInFlight }),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.message.includes(`maxInFlight must be an integer from 1 to ${MAX_PENDING_TXS_PER_SENDER}`),
      )
  })
})
