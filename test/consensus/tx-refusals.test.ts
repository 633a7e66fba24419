/**
 * Which refused gossiped txs count against the peer that relayed them: an invalid one counts
 * whole, one refused only for now (a nonce ahead of its sender's next) a tenth, so an honest
 * relay that passes a sender's txs on out of order is not cut off, and a flood still is.
 */
import assert from 'node:assert/strict'
import type { Application, CheckTxResult } from '../../src/consensus/application.ts'
import { Mempool } from '../../src/consensus/mempool.ts'
import { NodeIo } from '../../src/consensus/node-io.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { MAX_REFUSED_TXS_PER_PEER, NOT_YET_TXS_PER_REFUSAL } from '../../src/runtime/limits.ts'
import { makeChain, memoryComponents } from './helpers/fixtures.ts'

/** A node whose application refuses every tx, as `refusal` says. */
function refusingNode(refusal: CheckTxResult): NodeIo {
  const clock = new SimulatedClock()
  const { components, app } = memoryComponents(makeChain(4), 0, clock, { broadcast: () => {}, send: () => {} })
  const refusing: Application = {
    checkTx: () => refusal,
    executeBlock: (block) => app.executeBlock(block),
    info: () => app.info(),
    query: (key) => app.query(key),
  }
  return new NodeIo({ ...components, app: refusing, mempool: new Mempool(refusing) })
}

const distinctTxs = (n: number, from = 0): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => new TextEncoder().encode(`tx-${from + i}`))

describe('consensus: refused gossiped txs per relaying peer', () => {
  it('cuts off a peer past MAX_REFUSED_TXS_PER_PEER invalid txs', async () => {
    const io = refusingNode({ ok: false, reason: 'bad signature' })
    assert.equal(await io.addGossipedTxs(distinctTxs(MAX_REFUSED_TXS_PER_PEER), 'relay'), true)
    assert.equal(await io.addGossipedTxs(distinctTxs(1, 10_000), 'relay'), false)
    assert.equal(await io.addGossipedTxs(distinctTxs(1, 20_000), 'another'), true, 'counted per peer')
  })

  it('counts a tx refused for now (a nonce ahead) a tenth: ten times as many before a cut-off', async () => {
    const io = refusingNode({ ok: false, reason: 'ERR_WRONG_NONCE: nonce is 7, the account expects 5', notYet: true })
    const allowed = MAX_REFUSED_TXS_PER_PEER * NOT_YET_TXS_PER_REFUSAL
    assert.equal(await io.addGossipedTxs(distinctTxs(allowed), 'relay'), true)
    assert.equal(await io.addGossipedTxs(distinctTxs(NOT_YET_TXS_PER_REFUSAL, allowed), 'relay'), false)
  })

  it('a tx refused for now and offered again before the next block still counts a tenth', async () => {
    const io = refusingNode({ ok: false, reason: 'ERR_WRONG_NONCE', notYet: true })
    const txs = distinctTxs(100)
    for (let i = 0; i < MAX_REFUSED_TXS_PER_PEER * NOT_YET_TXS_PER_REFUSAL; i += txs.length)
      assert.equal(await io.addGossipedTxs(txs, 'relay'), true, `after ${i} copies`)
  })
})
