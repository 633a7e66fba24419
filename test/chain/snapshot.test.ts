/**
 * Chain-state snapshots: over states reached by executing random blocks (windows, claims,
 * challenges, games, aggregations, proposals, pruning), a restored state hashes the same,
 * holds the same values (bigints stay bigints, nulls stay nulls, key order kept) and goes on
 * to execute the same next blocks to the same app hashes. A snapshot that does not match the
 * committed hash, is damaged or is of another chain is refused and changes nothing.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ChainApp } from '../../src/chain/app.ts'
import { decodeChainState, encodeChainState } from '../../src/chain/snapshot.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { CorruptDataError } from '../../src/runtime/errors.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import type { Harness } from './harness.ts'
import { randomHarness, randomTx } from './random-chain.ts'

/** Run `blocks` random blocks of up to 4 transactions on a fresh random chain. */
function randomChain(seed: number, blocks: number): { h: Harness; rng: SeededRandom; picks: Map<string, string> } {
  const rng = new SeededRandom(seed)
  const h = randomHarness(rng, 2 + rng.nextInt(3))
  h.hashLabel = `snap-${seed}`
  const picks = new Map<string, string>()
  for (let b = 0; b < blocks; b++) h.block(Array.from({ length: rng.nextInt(5) }, () => randomTx(h, rng, picks)))
  return { h, rng, picks }
}

function restoredCopy(h: Harness): ChainApp {
  const copy = new ChainApp(h.genesis)
  copy.restore(h.app.snapshot(), h.app.appHash())
  return copy
}

describe('chain/snapshot: the chain state as bytes and back', function () {
  this.timeout(120_000)

  it('decode(encode(s)) hashes to s.appHash and holds deep-equal tables, over random chains', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 40 }), (seed, blocks) => {
        const { h } = randomChain(seed, blocks)
        const copy = restoredCopy(h)
        assert.equal(toHex(copy.appHash()), toHex(h.app.appHash()))
        assert.equal(toHex(copy.state.hash()), toHex(h.app.state.hash()))
        for (const [i, t] of h.app.state.allTables().entries()) {
          const mine = copy.state.allTables()[i]
          assert.ok(mine !== undefined)
          // deepStrictEqual tells a bigint from a number and null from undefined; key order is checked below.
          assert.deepStrictEqual(mine.entries(), t.entries(), `table ${t.name}`)
          const theirs = t.entries()
          for (const [j, [, a]] of mine.entries().entries())
            if (a !== null && typeof a === 'object')
              assert.deepEqual(Object.keys(a), Object.keys(theirs[j]?.[1] as object), `key order in ${t.name}`)
        }
      }),
      { numRuns: 60 },
    )
  })

  it('a restored state executes the next random blocks to the same app hashes as the original', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 5, max: 30 }), (seed, blocks) => {
        const { h, rng, picks } = randomChain(seed, blocks)
        const copy = restoredCopy(h)
        for (let b = 0; b < 12; b++) {
          const txs = Array.from({ length: rng.nextInt(5) }, () => randomTx(h, rng, picks))
          const height = h.height + 1
          const block = {
            height,
            timeMs: height * 1000,
            proposer: h.proposer,
            hash: h.blockHash(height),
            beacon: h.beacon(height),
            txs,
            evidence: [],
          }
          const theirs = copy.executeBlock(block)
          const mine = h.block(txs)
          assert.deepEqual(theirs.results, mine)
          assert.equal(toHex(theirs.appHash), toHex(h.app.appHash()), `height ${height}`)
        }
      }),
      { numRuns: 25 },
    )
  })

  it('the random chains reach claims, challenges and pruned windows (the property covers them)', () => {
    let claims = 0
    let challenges = 0
    let pruned = 0
    for (let seed = 0; seed < 20; seed++)
      for (let blocks = 0; blocks <= 40; blocks += 8) {
        const { h } = randomChain(seed, blocks)
        claims += h.app.state.claims.size
        challenges += h.app.state.challenges.size
        if (h.app.state.globals.prunedWindows > 0) pruned++
      }
    assert.ok(claims > 0 && challenges > 0 && pruned > 0, JSON.stringify({ claims, challenges, pruned }))
  })

  it('a snapshot that does not hash to the committed app hash is refused and the state is untouched', () => {
    const { h } = randomChain(7, 12)
    const snapshot = h.app.snapshot()
    const other = new ChainApp(h.genesis)
    const before = toHex(other.appHash())
    assert.throws(
      () => other.restore(snapshot, sha256('some other state')),
      (e: unknown) => e instanceof CorruptDataError && /hashes to .* the chain committed/.test(e.message),
    )
    assert.equal(toHex(other.appHash()), before)
    assert.equal(toHex(other.state.hash()), before)
    assert.equal(other.height, 0)
  })

  it('damaged bytes are a CorruptDataError naming what is wrong', () => {
    const { h } = randomChain(3, 6)
    const names = h.app.state.allTables().map((t) => t.name)
    const good = h.app.snapshot()
    assert.throws(() => decodeChainState(good.subarray(0, good.length - 7), names), CorruptDataError)
    assert.throws(() => decodeChainState(new Uint8Array([0xc1]), names), CorruptDataError)
    assert.throws(
      () => decodeChainState(good, names.slice(1)),
      (e: unknown) => e instanceof CorruptDataError && /unknown table 'accounts'|unknown table/.test(e.message),
    )
    assert.throws(
      () => decodeChainState(good, [...names, 'extra']),
      (e: unknown) => e instanceof CorruptDataError && /lacks table 'extra'/.test(e.message),
    )
  })

  it('a snapshot of another chain is refused', () => {
    const { h } = randomChain(5, 3)
    const other = randomHarness(new SeededRandom(5), 3)
    const state = other.app.state
    state.setMeta({ chainId: 'another-chain' })
    state.journal.commit()
    const snapshot = encodeChainState(state)
    assert.throws(
      () => h.app.restore(snapshot, state.hash()),
      (e: unknown) => e instanceof CorruptDataError && /another-chain/.test(e.message),
    )
  })
})
