import assert from 'node:assert/strict'
import { SeededRandom } from '../../../src/runtime/random.ts'

describe('SeededRandom', () => {
  it('repeats its sequence for one seed and differs between seeds', () => {
    const a = new SeededRandom(42)
    const b = new SeededRandom(42)
    const c = new SeededRandom(43)
    const seqA = Array.from({ length: 64 }, () => a.nextU32())
    assert.deepEqual(
      Array.from({ length: 64 }, () => b.nextU32()),
      seqA,
    )
    assert.notDeepEqual(
      Array.from({ length: 64 }, () => c.nextU32()),
      seqA,
    )
  })

  it('draws integers in range with roughly uniform frequencies', () => {
    const r = new SeededRandom(7)
    const counts = new Array<number>(10).fill(0)
    const draws = 100_000
    for (let i = 0; i < draws; i++) {
      const x = r.nextInt(10)
      assert.ok(x >= 0 && x < 10)
      counts[x] = (counts[x] as number) + 1
    }
    for (const count of counts) assert.ok(Math.abs(count - draws / 10) < draws / 100, `count ${count}`)
    for (let i = 0; i < 1000; i++) {
      const f = r.nextFloat()
      assert.ok(f >= 0 && f < 1)
    }
  })

  it('shuffles to a permutation and forks independent named streams', () => {
    const r = new SeededRandom(1)
    const items = Array.from({ length: 20 }, (_, i) => i)
    const shuffled = r.shuffle(items)
    assert.deepEqual(
      [...shuffled].sort((x, y) => x - y),
      items,
    )
    assert.notDeepEqual(shuffled, items)
    const f1 = new SeededRandom(5).fork('faults')
    const f2 = new SeededRandom(5).fork('faults')
    const g = new SeededRandom(5).fork('latency')
    assert.equal(f1.nextU32(), f2.nextU32())
    assert.notEqual(new SeededRandom(5).fork('faults').nextU32(), g.nextU32())
  })

  it('rejects seeds and bounds outside its domain', () => {
    assert.throws(() => new SeededRandom(-1), /uint32/)
    assert.throws(() => new SeededRandom(1.5), /uint32/)
    assert.throws(() => new SeededRandom(1).nextInt(0), /bound/)
    assert.throws(() => new SeededRandom(1).pick([]), /empty/)
  })
})
