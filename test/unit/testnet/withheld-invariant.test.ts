/**
 * The chaos invariant "no verifier or arbiter penalized for withheld content", on challenge
 * records as the chain keeps them.
 */
import { strict as assert } from 'node:assert'
import type { Challenge, Claim } from '../../../src/chain/state.ts'
import { checkWithheldPenalties } from '../../../src/testnet/invariants.ts'

const claims = [
  { id: 'w', owner: 'withholder' },
  { id: 'h', owner: 'honest-miner' },
] as Claim[]
const challenge = (id: string, claimId: string, tried: string[], penalized: string[]) =>
  ({ id, claimId, tried, penalized }) as unknown as Challenge
const honest = new Set(['verifier', 'arbiter', 'honest-miner'])
const names = new Map([['verifier', 'validator-0']])

describe('testnet invariant: withheld content', () => {
  it('passes trivially, and says so, when nobody withholds', () => {
    const r = checkWithheldPenalties([challenge('ch-0', 'w', ['verifier'], [])], claims, new Set(), honest, names)
    assert.equal(r.ok, true)
    assert.match(r.detail, /no withholding miner/)
  })

  it('fails, naming the node and the challenge, when an honest verifier or arbiter was penalized over a withheld claim', () => {
    const withholders = new Set(['withholder'])
    const r = checkWithheldPenalties(
      [challenge('ch-0', 'w', ['verifier'], []), challenge('ch-1', 'w', [], ['arbiter'])],
      claims,
      withholders,
      honest,
      names,
    )
    assert.equal(r.ok, false)
    assert.match(r.detail, /validator-0 in ch-0 \(w\).*arbiter in ch-1/)
  })

  it('ignores penalties in challenges of claims whose owner serves its content, and cheats penalized', () => {
    const r = checkWithheldPenalties(
      [challenge('ch-0', 'h', ['verifier'], ['arbiter']), challenge('ch-1', 'w', ['lazy'], [])],
      claims,
      new Set(['withholder']),
      honest,
      names,
    )
    assert.equal(r.ok, true)
    assert.match(r.detail, /1 challenges of withheld claims/)
  })

  it('fails, saying nothing was tested, when a withholder is planted but none of its claims was disputed', () => {
    const r = checkWithheldPenalties(
      [challenge('ch-0', 'h', ['verifier'], [])],
      claims,
      new Set(['withholder']),
      honest,
      names,
    )
    assert.equal(r.ok, false)
    assert.match(r.detail, /no challenge of a withheld claim/)
  })
})
