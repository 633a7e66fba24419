/**
 * The claims each block wrote (chain/write-log.ts), as a challenger reads them instead of
 * three windows' claims: over random chains, every claim a block changed, added or removed is
 * listed by the log for that block (dry runs and undos may add claims that did not change,
 * never leave out one that did); the log answers only for blocks it holds, and nothing after
 * a snapshot is restored.
 */
import assert from 'node:assert/strict'
import { ChainReader } from '../../src/chain/reader.ts'
import type { Claim } from '../../src/chain/state.ts'
import { WriteLog } from '../../src/chain/write-log.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { randomHarness, randomTx, validators } from './random-chain.ts'

const claimsOf = (claims: Iterable<[string, Claim]>): Map<string, string> =>
  new Map([...claims].map(([id, c]) => [id, JSON.stringify(c, (_, v) => (typeof v === 'bigint' ? `${v}` : v))]))

describe('chain/write-log: the claims each block wrote', () => {
  it('answers for the blocks it holds, in order, and for no block outside them', () => {
    const log = new WriteLog(3)
    assert.equal(log.since(0, 1), undefined, 'nothing recorded yet')
    log.record(5, ['a'])
    log.record(6, ['b', 'c'])
    log.record(7, [])
    assert.deepEqual(log.since(4, 7), ['a', 'b', 'c'])
    assert.deepEqual(log.since(5, 6), ['b', 'c'])
    assert.deepEqual(log.since(7, 7), [])
    assert.equal(log.since(3, 7), undefined, 'block 4 is not held')
    assert.equal(log.since(5, 8), undefined, 'block 8 is not executed yet')
    log.record(8, ['d'])
    assert.equal(log.since(4, 8), undefined, 'past its 3 heights, block 5 is gone')
    assert.deepEqual(log.since(5, 8), ['b', 'c', 'd'])
    log.record(10, ['e'])
    assert.equal(log.since(8, 10), undefined, 'a gap: the log starts again at 10')
    assert.deepEqual(log.since(9, 10), ['e'])
    log.clear()
    assert.equal(log.since(9, 10), undefined)
  })

  it('lists every claim a block changed, added or removed, over random chains with dry runs rolled back', () => {
    let listed = 0
    for (let seed = 1; seed <= 40; seed++) {
      const rng = new SeededRandom(seed)
      const h = randomHarness(rng, 3, true)
      h.proposer = rng.pick(validators).address
      const picks = new Map<string, string>()
      for (let b = 0; b < 30; b++) {
        const before = claimsOf(h.app.state.claims.entries())
        const txs = Array.from({ length: rng.nextInt(10) }, () => randomTx(h, rng, picks))
        // A mempool's dry runs: written and rolled back, which may list a claim needlessly.
        for (const tx of txs) h.app.checkTx(tx)
        h.block(txs)
        const after = claimsOf(h.app.state.claims.entries())
        const written = new ChainReader(h.app.state).claimsWrittenSince(h.height - 1)
        assert.ok(written !== undefined, `seed ${seed}: the log holds block ${h.height}`)
        const writtenIds = new Set(h.app.state.claimWrites.since(h.height - 1, h.height))
        for (const id of new Set([...before.keys(), ...after.keys()])) {
          if (before.get(id) === after.get(id)) continue
          listed++
          assert.ok(writtenIds.has(id), `seed ${seed}, block ${h.height}: claim ${id} changed and is not listed`)
        }
        // The reader gives the claims as they are now, removed ones left out.
        for (const c of written) assert.equal(claimsOf([[c.id, c]]).get(c.id), after.get(c.id))
      }
    }
    assert.ok(listed > 30, `the random chains changed claims (${listed})`)
  })

  it('cannot tell what blocks before a restored snapshot wrote', () => {
    const rng = new SeededRandom(7)
    const h = randomHarness(rng, 3)
    const picks = new Map<string, string>()
    for (let b = 0; b < 12; b++) h.block(Array.from({ length: 4 }, () => randomTx(h, rng, picks)))
    const reader = new ChainReader(h.app.state)
    assert.ok(reader.claimsWrittenSince(h.height - 1) !== undefined)
    h.app.restore(h.app.snapshot(), h.app.appHash())
    assert.equal(reader.claimsWrittenSince(h.height - 1), undefined)
    assert.deepEqual(reader.claimsWrittenSince(h.height), [], 'nothing since the restored height')
  })
})
