/**
 * Shared execution (src/sim/shared-execution.ts): views over one shared ChainApp answer
 * exactly as private ChainApps would (outcomes, app hashes, checks, reads at a lagging
 * height), a view that leaves the lineage is refused by name, and a read at an older height
 * leaves the shared state as it was.
 */
import assert from 'node:assert/strict'
import { ChainApp, type Block as ChainBlock } from '../../src/chain/app.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { SharedExecution, SharedExecutionError } from '../../src/sim/shared-execution.ts'
import { Harness, keys, R3 } from '../chain/harness.ts'

describe('sim: shared execution', () => {
  const validators = keys('val', 4)
  const [alice, bob] = keys('user', 2) as [(typeof validators)[0], (typeof validators)[0]]
  const cast = () => new Harness({ validators, funded: [alice, bob] })
  const blockOf = (height: number, txs: Uint8Array[], label = 'block'): ChainBlock => ({
    height,
    timeMs: height * 1000,
    proposer: (validators[0] as (typeof validators)[0]).address,
    hash: sha256(`${label}/${height}`),
    beacon: sha256(`beacon/${height}`),
    txs,
    evidence: [],
  })
  const send = (h: Harness, nonce: number, amount: bigint) =>
    h.tx(alice, { type: 'transfer', to: bob.address, amount }, { nonce })

  it('executes a block once for every view and gives what a private app gives', () => {
    const h = cast()
    const shared = new SharedExecution({ genesis: h.genesis, keepHeights: 10 })
    const [a, b] = [shared.view(), shared.view()]
    const own = new ChainApp(h.genesis)
    assert.equal(toHex(a.appHash()), toHex(own.appHash()))
    for (let height = 1; height <= 3; height++) {
      const block = blockOf(height, [send(h, height - 1, R3)])
      const expected = own.executeBlock(block)
      const first = a.executeBlock(block)
      const second = b.executeBlock(block)
      assert.equal(toHex(first.appHash), toHex(expected.appHash))
      assert.equal(toHex(second.appHash), toHex(expected.appHash))
      assert.deepEqual(second.results, expected.results)
    }
    assert.deepEqual({ executed: shared.stats.executed, reused: shared.stats.reused }, { executed: 3, reused: 3 })
  })

  it('refuses a view that would execute another block at a height the lineage has', () => {
    const h = cast()
    const shared = new SharedExecution({ genesis: h.genesis, keepHeights: 10 })
    const [a, b] = [shared.view(), shared.view()]
    a.executeBlock(blockOf(1, []))
    assert.throws(
      () => b.executeBlock(blockOf(1, [], 'fork')),
      (e: unknown) =>
        e instanceof SharedExecutionError && /block 1 is [0-9a-f]{64}, the shared lineage executed/.test(e.message),
    )
    assert.throws(() => b.executeBlock(blockOf(2, [])), /block 2 does not follow height 0/)
  })

  it('refuses a view further behind than the lineage keeps', () => {
    const h = cast()
    const shared = new SharedExecution({ genesis: h.genesis, keepHeights: 2 })
    const [a, b] = [shared.view(), shared.view()]
    for (let height = 1; height <= 4; height++) a.executeBlock(blockOf(height, []))
    assert.throws(
      () => b.executeBlock(blockOf(1, [])),
      (e: unknown) => e instanceof SharedExecutionError && /height 1 is not on the shared lineage/.test(e.message),
    )
  })

  it('a lagging view reads and checks against the state of its own height, and the shared state is left as it was', () => {
    const h = cast()
    const shared = new SharedExecution({ genesis: h.genesis, keepHeights: 10 })
    const [ahead, behind] = [shared.view(), shared.view()]
    const own = new ChainApp(h.genesis)
    const genesisBalance = own.state.account(bob.address).balance
    ahead.executeBlock(blockOf(1, [send(h, 0, 5n * R3)]))
    ahead.executeBlock(blockOf(2, [send(h, 1, 5n * R3)]))
    const hashAhead = toHex(shared.chain.state.hash())
    // `behind` is still at genesis: it sees bob's balance and alice's nonce as they were.
    assert.equal(
      behind.read((s) => s.account(bob.address).balance),
      genesisBalance,
    )
    assert.equal(
      behind.read((s) => s.globals.height),
      0,
    )
    assert.equal(
      ahead.read((s) => s.account(bob.address).balance),
      genesisBalance + 10n * R3,
    )
    // A transaction with nonce 0 is valid at genesis, stale at height 2; with nonce 2 the reverse.
    for (const [tx, label] of [
      [send(h, 0, 1n), 'nonce 0'],
      [send(h, 2, 1n), 'nonce 2'],
    ] as const) {
      assert.deepEqual(behind.checkTx(tx, { record: false }), own.checkTx(tx, { record: false }), `${label} at genesis`)
    }
    assert.equal(behind.checkTx(send(h, 0, 1n), { record: false }).ok, true)
    assert.equal(ahead.checkTx(send(h, 0, 1n), { record: false }).ok, false)
    assert.equal(ahead.checkTx(send(h, 2, 1n), { record: false }).ok, true)
    assert.equal(toHex(shared.chain.state.hash()), hashAhead, 'the shared state is unchanged by the reads')
    // And it catches up from the lineage.
    behind.executeBlock(blockOf(1, [send(h, 0, 5n * R3)]))
    behind.executeBlock(blockOf(2, [send(h, 1, 5n * R3)]))
    assert.equal(toHex(behind.appHash()), toHex(ahead.appHash()))
  })

  it('reads at one older height share one parking of the state, and the newest block shows again for anything else', () => {
    const h = cast()
    const shared = new SharedExecution({ genesis: h.genesis, keepHeights: 10 })
    const [ahead, behind] = [shared.view(), shared.view()]
    const own = new ChainApp(h.genesis)
    ahead.executeBlock(blockOf(1, [send(h, 0, 5n * R3)]))
    const hashAhead = toHex(shared.chain.state.hash())
    for (let nonce = 0; nonce < 5; nonce++)
      assert.deepEqual(
        behind.checkTx(send(h, nonce, 1n), { record: false }),
        own.checkTx(send(h, nonce, 1n), { record: false }),
      )
    assert.equal(shared.stats.parked, 1, 'five reads at genesis parked the state once')
    assert.equal(shared.stats.readsBehind, 5)
    // A view's `state` is the newest block's, so reading it ends the parking.
    assert.equal(ahead.state.globals.height, 1)
    assert.equal(toHex(shared.chain.state.hash()), hashAhead)
    // Parked again, then a block executes: it runs on the newest state, as a private app's does.
    behind.read((s) => s.globals.height)
    own.executeBlock(blockOf(1, [send(h, 0, 5n * R3)]))
    const second = blockOf(2, [send(h, 1, 5n * R3)])
    assert.equal(toHex(ahead.executeBlock(second).appHash), toHex(own.executeBlock(second).appHash))
    // A read at another height inside a read is refused by name, and leaves nothing parked.
    assert.throws(
      () => ahead.read(() => behind.read((s) => s.globals.height)),
      (e: unknown) => e instanceof SharedExecutionError && /inside a read/.test(e.message),
    )
    assert.equal(toHex(shared.chain.state.hash()), toHex(own.state.hash()))
  })

  it('a view reserves nonces as a private mempool does, and a check memoized for one view answers another', () => {
    const h = cast()
    const shared = new SharedExecution({ genesis: h.genesis, keepHeights: 10 })
    const [a, b] = [shared.view(), shared.view()]
    const own = new ChainApp(h.genesis)
    const txs = [send(h, 0, 1n), send(h, 1, 1n), send(h, 3, 1n)]
    const expected = txs.map((t) => own.checkTx(t).ok)
    assert.deepEqual(expected, [true, true, false])
    assert.deepEqual(
      txs.map((t) => a.checkTx(t).ok),
      expected,
    )
    const before = shared.stats.checkHits
    assert.deepEqual(
      txs.map((t) => b.checkTx(t).ok),
      expected,
    )
    assert.equal(shared.stats.checkHits - before, 3, "b's checks were a's, memoized")
    // Without the reservation (record: false) the second nonce is early for a fresh view.
    const c = shared.view()
    assert.equal(c.checkTx(txs[1] as Uint8Array, { record: false }).ok, false)
  })
})
