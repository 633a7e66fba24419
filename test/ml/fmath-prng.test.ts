import assert from 'node:assert/strict'
import { deriveKey, PhiloxStream, philox } from '../../src/codec/prng.ts'
import { cosf, expf, logf, roundHalfAway, rsqrtf, sinf } from '../../src/ml/fmath.ts'

const hex = (words: number[]): string => words.map((x) => x.toString(16).padStart(8, '0')).join(' ')

describe('ml/fmath: the project float32 transcendentals', () => {
  it('stays within a few ulp of the true functions over their working ranges', () => {
    let worstExp = 0
    let worstLog = 0
    let worstTrig = 0
    for (let i = 0; i < 20_000; i++) {
      const x = Math.fround(-87 + i * 0.0087)
      worstExp = Math.max(worstExp, Math.abs(expf(x) - Math.exp(x)) / Math.exp(x))
      const y = Math.fround(1e-38 * 1.005 ** i)
      if (Math.abs(Math.log(y)) > 1e-2)
        worstLog = Math.max(worstLog, Math.abs(logf(y) - Math.log(y)) / Math.abs(Math.log(y)))
      const a = Math.fround(i * 0.05)
      worstTrig = Math.max(worstTrig, Math.abs(sinf(a) - Math.sin(a)), Math.abs(cosf(a) - Math.cos(a)))
    }
    assert.ok(worstExp < 5e-7, `exp relative error ${worstExp}`)
    assert.ok(worstLog < 5e-7, `log relative error ${worstLog}`)
    assert.ok(worstTrig < 2e-6, `sin/cos absolute error ${worstTrig}`)
  })

  it('handles the edges: NaN, infinities, zero, subnormals, ties', () => {
    assert.ok(Number.isNaN(expf(Number.NaN)))
    assert.equal(expf(100), Number.POSITIVE_INFINITY)
    assert.equal(expf(-200), 0)
    assert.ok(expf(-100) > 0 && expf(-100) < 1.2e-38, 'subnormal result')
    assert.equal(expf(0), 1)
    assert.equal(logf(0), Number.NEGATIVE_INFINITY)
    assert.ok(Number.isNaN(logf(-1)))
    assert.equal(logf(1), 0)
    assert.ok(Math.abs(logf(1e-45) - Math.log(Math.fround(1e-45))) < 1e-4, 'log of a subnormal')
    assert.equal(rsqrtf(4), 0.5)
    assert.equal(roundHalfAway(2.5), 3)
    assert.equal(roundHalfAway(-2.5), -3)
    assert.equal(roundHalfAway(-0.4), -0)
  })
})

describe('ml/prng: Philox4x32-10', () => {
  it('matches the Random123 known-answer vectors', () => {
    assert.equal(hex(philox([0, 0], [0, 0, 0, 0])), '6627e8d5 e169c58d bc57ac4c 9b00dbd8')
    assert.equal(
      hex(philox([0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff])),
      '408f276d 41c83b0e a20bc7c6 6d5451fd',
    )
    assert.equal(
      hex(philox([0xa4093822, 0x299f31d0], [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344])),
      'd16cfe09 94fdcceb 5001e420 24126ea1',
    )
  })

  it('derives unrelated keys per purpose and replays a stream from its key alone', () => {
    const seed = new Uint8Array(32).fill(7)
    const a = deriveKey(seed, 'lora-init')
    const b = deriveKey(seed, 'data')
    assert.notDeepEqual(a, b)
    assert.deepEqual(deriveKey(seed, 'lora-init'), a)
    const s1 = new PhiloxStream(a, 3, 4)
    const s2 = new PhiloxStream(a, 3, 4)
    const first = Array.from({ length: 10 }, () => s1.nextU32())
    assert.deepEqual(
      Array.from({ length: 10 }, () => s2.nextU32()),
      first,
    )
    assert.notDeepEqual(
      Array.from({ length: 10 }, () => new PhiloxStream(a, 3, 5).nextU32()),
      first,
    )
    for (let i = 0; i < 1000; i++) {
      const u = s1.nextSignedUnit()
      assert.ok(u >= -1 && u < 1 && Math.fround(u) === u)
      const k = s1.nextInt(7)
      assert.ok(Number.isInteger(k) && k >= 0 && k < 7)
    }
  })
})
