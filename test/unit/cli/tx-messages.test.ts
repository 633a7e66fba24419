/** The messages `r3mes tx` builds from its words: what each action sends, and the chain values it fills in. */
import assert from 'node:assert/strict'
import { labelCid } from '../../../src/chain/genesis.ts'
import { testKey } from '../../../src/chain/keys.ts'
import { localTestnetParams, paramsToJson } from '../../../src/chain/params.ts'
import { parseAmountArg, planTx } from '../../../src/cli/tx-messages.ts'

const params = paramsToJson(localTestnetParams)

describe('r3mes tx messages', () => {
  it('reads amounts in R3MES or in base units, exactly', () => {
    assert.equal(parseAmountArg('10', 'x'), 10_000_000n)
    assert.equal(parseAmountArg('0.000001', 'x'), 1n)
    assert.equal(parseAmountArg('2.25r3mes', 'x'), 2_250_000n)
    assert.equal(parseAmountArg('2.25 R3MES', 'x'), 2_250_000n)
    assert.equal(parseAmountArg('500ur3mes', 'x'), 500n)
    for (const bad of ['', '-1', '1e3', '0.0000001', '1.5ur3mes', '0', '0ur3mes', 'NaN'])
      assert.throws(() => parseAmountArg(bad, 'the amount'), /^InvalidArgumentError: the amount must be/, bad)
  })

  it('builds each action’s message, filling the least challenge bond from the chain', () => {
    const to = testKey('tx-messages-to').address
    assert.deepEqual(planTx('send', [to, '1.5'], {}).build(params), { type: 'transfer', to, amount: 1_500_000n })
    assert.deepEqual(planTx('unbond', ['3'], {}).build(params), { type: 'unstake', amount: 3_000_000n })
    assert.deepEqual(planTx('register', ['verifier,miner,miner'], { subnet: '1' }).build(params), {
      type: 'register',
      roles: ['miner', 'verifier'],
      subnet: 1,
    })
    const challenge = planTx('challenge', ['w1/t2/r3mes1x'], {}).build(params)
    assert.deepEqual(challenge, {
      type: 'challenge',
      claimId: 'w1/t2/r3mes1x',
      bond: localTestnetParams.baseReward * BigInt(localTestnetParams.bondMultiple),
    })
    assert.deepEqual(planTx('challenge', ['c'], { bond: '6000' }).build(params), {
      type: 'challenge',
      claimId: 'c',
      bond: 6_000_000_000n,
    })
    assert.deepEqual(planTx('appeal', ['ch-7'], {}).build(params), {
      type: 'appeal',
      challengeId: 'ch-7',
      bond: localTestnetParams.baseReward * BigInt(localTestnetParams.bondMultiple),
    })
    assert.deepEqual(planTx('appeal', ['ch-7'], { bond: '6000' }).build(params), {
      type: 'appeal',
      challengeId: 'ch-7',
      bond: 6_000_000_000n,
    })
    assert.deepEqual(planTx('propose', ['param', 'minFee', '20000', 'windowBlocks', '12'], {}).build(params), {
      type: 'propose',
      content: { kind: 'params', changes: { minFee: '20000', windowBlocks: 12 } },
    })
    const cid = labelCid('tx-messages dataset')
    assert.deepEqual(planTx('propose', ['dataset', cid, 'tiny', '8'], {}).build(params), {
      type: 'propose',
      content: { kind: 'dataset', cid, name: 'tiny', shardCount: 8 },
    })
    assert.deepEqual(planTx('vote', ['p-3', 'abstain'], {}).build(params), {
      type: 'vote',
      proposalId: 'p-3',
      option: 'abstain',
    })
  })

  it('refuses wrong arities and bad values before anything is sent', () => {
    assert.throws(() => planTx('send', ['x'], {}), /takes <to> <amount>; got 1 argument/)
    assert.throws(() => planTx('propose', ['param', 'minFee'], {}), /takes <name> <value> pairs/)
    assert.throws(
      () => planTx('propose', ['param', 'minFee', '0.5'], {}),
      /parameter minFee: .*\(in base units, ur3mes\)/,
    )
    assert.throws(() => planTx('propose', ['dataset', 'nocid', 'n', '1'], {}), /must be named by its CID/)
    assert.throws(() => planTx('propose', ['budget'], {}), /takes 'param <name> <value>…' or 'dataset/)
    assert.throws(() => planTx('challenge', ['c'], { trace: 'nocid' }), /--trace must be the CID/)
    assert.throws(() => planTx('appeal', [], {}), /r3mes tx appeal takes <challengeId>; got 0 argument/)
    assert.throws(() => planTx('appeal', ['x'.repeat(33)], {}), /the challenge id must be 1 to 32 characters/)
    assert.throws(() => planTx('register', ['miner'], { subnet: '1024' }), /--subnet must be an integer in \[0, 1023\]/)
  })
})
