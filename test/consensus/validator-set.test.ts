import assert from 'node:assert/strict'
import { ValidatorSet } from '../../src/consensus/validator-set.ts'
import { makeChain } from './helpers/fixtures.ts'

const text = (s: string) => new TextEncoder().encode(s)

describe('ValidatorSet', () => {
  it("matches CometBFT's TestProposerSelection1 sequence (foo 1000, bar 300, baz 330)", () => {
    const pk = new Uint8Array(32)
    let vset = ValidatorSet.fromValidators([
      { address: text('foo'), publicKey: pk, power: 1000, priority: 0 },
      { address: text('bar'), publicKey: pk, power: 300, priority: 0 },
      { address: text('baz'), publicKey: pk, power: 330, priority: 0 },
    ]).incrementProposerPriority(1)
    const got: string[] = []
    for (let i = 0; i < 99; i++) {
      got.push(new TextDecoder().decode(vset.proposer.address))
      vset = vset.incrementProposerPriority(1)
    }
    const expected =
      'foo baz foo bar foo foo baz foo bar foo foo baz foo foo bar foo baz foo foo bar foo foo baz foo bar foo foo baz foo bar foo foo baz foo foo bar foo baz foo foo bar foo baz foo foo bar foo baz foo foo bar foo baz foo foo foo baz bar foo foo foo baz foo bar foo foo baz foo bar foo foo baz foo bar foo foo baz foo bar foo foo baz foo foo bar foo baz foo foo bar foo baz foo foo bar foo baz foo foo'
    assert.equal(got.join(' '), expected)
  })

  it('proposes in proportion to stake, and forRound(r) equals r increments', () => {
    const chain = makeChain(3, [1, 2, 7])
    let v = chain.validators
    const counts = new Map<number, number>()
    for (let i = 0; i < 1000; i++) {
      const p = v.proposer.power
      counts.set(p, (counts.get(p) ?? 0) + 1)
      v = v.incrementProposerPriority(1)
    }
    assert.deepEqual([counts.get(1), counts.get(2), counts.get(7)], [100, 200, 700])
    const three = chain.validators
      .incrementProposerPriority(1)
      .incrementProposerPriority(1)
      .incrementProposerPriority(1)
    assert.deepEqual(chain.validators.forRound(3).proposer.address, three.proposer.address)
  })

  it('thresholds are strict: more than 2/3 and more than 1/3 of the power', () => {
    const v = makeChain(3, [10, 10, 10]).validators
    assert.ok(!v.hasTwoThirds(20))
    assert.ok(v.hasTwoThirds(21))
    assert.ok(!v.hasOneThird(10))
    assert.ok(v.hasOneThird(11))
  })

  it('refuses empty sets, non-positive power and duplicates', () => {
    assert.throws(() => ValidatorSet.create([]), /must not be empty/)
    assert.throws(() => ValidatorSet.create([{ publicKey: new Uint8Array(32), power: 0 }]), /positive integer/)
    const pk = new Uint8Array(32).fill(1)
    assert.throws(
      () =>
        ValidatorSet.create([
          { publicKey: pk, power: 1 },
          { publicKey: pk, power: 2 },
        ]),
      /duplicate/,
    )
  })
})
