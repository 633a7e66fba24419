/**
 * When work reaches the model: an aggregate takes only settled submissions, on top of a final
 * pointer; a slashed aggregate or a missed deadline draws the next aggregator; spent attempts
 * finish the window; serving reads the final pointer. Over the real chain application.
 */
import assert from 'node:assert/strict'
import { claimListDigest } from '../../src/chain/claim-list.ts'
import { arbiterProof } from '../../src/chain/game.ts'
import type { KeyPair } from '../../src/chain/keys.ts'
import type { Aggregation, Challenge, Claim, Window } from '../../src/chain/state.ts'
import { commitmentOf, type Msg } from '../../src/chain/tx.ts'
import { unavailableBitmap } from '../../src/chain/unavailable-bitmap.ts'
import { tasksOf } from '../../src/chain/windows.ts'
import { cid, gameCast, Harness, keys, salt, submitPair } from './harness.ts'

const cast = gameCast(1)
const { miners, key } = cast
const [challenger] = cast.funded as [KeyPair]
const [m0a, m0b] = miners[0] as [KeyPair, KeyPair]

const net = (params: Record<string, unknown> = {}): Harness => cast.net(params, true)
const bond = (h: Harness): bigint => h.params.baseReward * BigInt(h.params.bondMultiple)
const claim = (h: Harness, id: string): Claim => h.app.state.claims.get(id) as Claim
const chal = (h: Harness, id: string): Challenge => h.app.state.challenges.get(id) as Challenge
const record = (h: Harness, window: number, subnet = 0): Aggregation =>
  h.app.query(`aggregation/${window}/${subnet}`) as Aggregation
const windowOf = (h: Harness, id: number): Window => h.app.query(`window/${id}`) as Window

/** Both miners of subnet 0 commit to the current window's task and reveal the same CID (both accepted at L1). */
const submit = (h: Harness): string[] => submitPair(h, [m0a, m0b])

/**
 * The aggregate of `window` taking `claims` (as their digest) and declaring `unavailable` (hex
 * bitmap over the accepted submissions; the default declares none of up to 8).
 */
function aggregateMsg(window: number, claims: readonly string[], label: string, unavailable = '00'): Msg {
  return {
    type: 'aggregate',
    window,
    subnet: 0,
    claimsDigest: claimListDigest(claims),
    unavailable,
    adapterCid: cid(label),
  }
}

/** Challenge `claimId`, have the verifier side with the challenger and the panel find a fault: the claim is slashed. */
function convict(h: Harness, claimId: string): void {
  h.ok(challenger, { type: 'challenge', claimId, bond: bond(h) })
  const id = `ch-${h.app.state.globals.nextChallenge - 1}`
  assert.equal(cast.answer(h, id, 'challenger').code, 'OK')
  for (const a of chal(h, id).panel.slice(0, 2))
    h.ok(key(a), {
      type: 'arbiterVote',
      challengeId: id,
      verdict: 'fault',
      proof: arbiterProof(key(a).secretKey, id, 0),
    })
  assert.equal(claim(h, claimId).status, 'slashed')
}

/**
 * One subnet of 100 miners, 2 tasks each, 2 replicas a task: 100 tasks, 200 accepted
 * submissions, run until window 0's aggregation is due.
 */
function crowdDue(): { big: Harness; accepted: string[]; aggregator: KeyPair } {
  const crowd = keys('crowd', 100)
  const big = new Harness({
    validators: cast.validators,
    miners: [crowd],
    verifiers: cast.verifiers,
    arbiters: cast.arbiters,
    funded: [],
    params: { replication: 2, tasksPerMiner: 2, shardsPerWindow: 100 },
    subnetLayers: [[0, 8]],
  })
  const byAddress = new Map(crowd.map((k) => [k.address, k]))
  big.block()
  const tasks = tasksOf(big.app.state, 0, 0)
  const work = tasks.flatMap((t) => t.miners.map((m) => ({ task: t.id, miner: byAddress.get(m) as KeyPair })))
  assert.equal(work.length, 200)
  big.block(
    work.map(({ task, miner }) =>
      big.tx(miner, {
        type: 'commit',
        taskId: task,
        commitment: commitmentOf(cid(`grad-${task}`), miner.address, task, salt(miner.address)),
      }),
    ),
  )
  const revealed = big.block(
    work.map(({ task, miner }) =>
      big.tx(miner, {
        type: 'reveal',
        taskId: task,
        cid: cid(`grad-${task}`),
        salt: salt(miner.address),
        metadata: '',
      }),
    ),
  )
  assert.ok(
    revealed.every((r) => r.code === 'OK'),
    revealed.find((r) => r.code !== 'OK')?.log,
  )
  const accepted = [...big.app.state.claims.entries()]
    .map(([, c]) => c)
    .filter((c) => c.kind === 'submission' && c.status === 'accepted')
    .map((c) => c.id)
    .sort()
  assert.equal(accepted.length, 200)
  big.runTo(Math.max(...accepted.map((id) => (big.app.state.claims.get(id) as Claim).challengeUntil)))
  const due = big.app.query('aggregation/0/0') as Aggregation
  assert.equal(due.stage, 'due')
  const aggregator = cast.key(due.aggregator)
  return { big, accepted, aggregator }
}

describe('chain/aggregation: only settled work, on a final pointer, redone when slashed or missed', () => {
  it('refuses the aggregate while a submission may still be challenged, takes it after, naming the accepted ones', () => {
    const h = net()
    h.block()
    const accepted = submit(h)
    const w0 = windowOf(h, 0)
    h.runTo(w0.closeHeight)
    const agg = key(w0.aggregator)
    const early = h.one(agg, aggregateMsg(0, accepted, 'a0'))
    assert.equal(early.code, 'ERR_NOT_DUE')
    assert.match(early.log, /may be challenged until height/)
    assert.equal(record(h, 0).stage, 'waiting')
    const until = claim(h, accepted[0] as string).challengeUntil
    h.runTo(until)
    const due = record(h, 0)
    assert.deepEqual(
      [due.stage, due.attempt, due.aggregator, due.dueHeight, due.deadline],
      ['due', 0, agg.address, until + 1, until + h.params.aggregationDeadlineBlocks],
      'due the block after the last challenge could land, with the full deadline from there',
    )
    assert.equal(h.one(agg, aggregateMsg(0, accepted.slice(1), 'a0')).code, 'ERR_BAD_AGGREGATE')
    h.ok(agg, aggregateMsg(0, accepted, 'a0'))
    assert.deepEqual(claim(h, 'agg/0/0').claims, accepted)
    assert.equal(record(h, 0).stage, 'submitted')
  })

  it('holds the aggregation back while a dispute is open, and leaves the convicted submission out', () => {
    const h = net()
    h.block()
    const [convicted, honest] = submit(h) as [string, string]
    convict(h, convicted)
    // A second dispute, opened at the last height allowed and still open after it, holds the aggregation.
    const until = claim(h, honest).challengeUntil
    h.runTo(until - 1)
    h.ok(challenger, { type: 'challenge', claimId: honest, bond: bond(h) })
    assert.equal(h.height, until)
    assert.equal(record(h, 0).stage, 'waiting')
    const agg = key(windowOf(h, 0).aggregator)
    const held = h.one(agg, aggregateMsg(0, [honest], 'a0'))
    assert.equal(held.code, 'ERR_NOT_DUE')
    assert.match(held.log, /is disputed/)
    // The dispute runs out (no verifier claims the seat), the claim returns to accepted.
    while (chal(h, 'ch-1').stage === 'l2') h.block()
    assert.equal(chal(h, 'ch-1').outcome, 'lapsed')
    h.block()
    const due = record(h, 0)
    assert.equal(due.stage, 'due')
    assert.equal(due.dueHeight, (chal(h, 'ch-1').settledHeight as number) + 1)
    assert.equal(h.one(agg, aggregateMsg(0, [convicted, honest].sort(), 'a0')).code, 'ERR_BAD_AGGREGATE')
    h.ok(agg, aggregateMsg(0, [honest], 'a0'))
    assert.deepEqual(claim(h, 'agg/0/0').claims, [honest], 'the slashed submission never enters the model')
  })

  it('builds only on a final pointer, and serving reads the final one meanwhile', () => {
    // An aggregate challenge period longer than a window, so window 1 settles while window 0's
    // aggregate is still challengeable.
    const h = net({ aggregateChallengeBlocks: 25 })
    h.block()
    const first = submit(h)
    h.runTo(windowOf(h, 0).closeHeight)
    const second = submit(h)
    h.runTo(claim(h, first[0] as string).challengeUntil)
    h.ok(key(windowOf(h, 0).aggregator), aggregateMsg(0, first, 'a0'))
    const pending = claim(h, 'agg/0/0')
    assert.equal(h.app.query('final-pointer/0'), null, 'the aggregate in its challenge period is not final')
    const model = h.app.query('model') as { adapters: Record<string, string>; finalAdapters: Record<string, unknown> }
    assert.deepEqual([model.adapters['0'], model.finalAdapters['0']], [cid('a0'), null])
    // Window 1's submissions settle first; its aggregate waits for the pointer.
    h.runTo(claim(h, second[0] as string).challengeUntil)
    assert.ok(h.height < pending.challengeUntil)
    const agg1 = key(windowOf(h, 1).aggregator)
    const early = h.one(agg1, aggregateMsg(1, second, 'a1'))
    assert.equal(early.code, 'ERR_NOT_DUE')
    assert.match(early.log, /pointer of subnet 0 is not final: aggregate agg\/0\/0/)
    h.runTo(pending.challengeUntil)
    assert.equal(h.app.query('final-pointer/0'), cid('a0'))
    assert.equal(record(h, 0).stage, 'done')
    assert.equal(record(h, 1).dueHeight, pending.challengeUntil + 1)
    h.ok(agg1, aggregateMsg(1, second, 'a1'))
    assert.equal(claim(h, 'agg/1/0').previousCid, cid('a0'))
  })

  it('a slashed aggregate restores the pointer and draws the next aggregator, none tried before, deadline from the slash', () => {
    const h = net()
    h.block()
    const accepted = submit(h)
    h.runTo(claim(h, accepted[0] as string).challengeUntil)
    const first = key(windowOf(h, 0).aggregator)
    h.ok(first, aggregateMsg(0, accepted, 'wrong'))
    convict(h, 'agg/0/0')
    const slashedAt = h.height
    assert.equal(h.app.state.adapters.get('0'), undefined, 'pointer restored')
    const next = record(h, 0)
    assert.deepEqual(
      [next.stage, next.attempt, next.tried, next.dueHeight, next.deadline],
      ['due', 1, [first.address], slashedAt + 1, slashedAt + h.params.aggregationDeadlineBlocks],
    )
    assert.ok(next.aggregator !== null && next.aggregator !== first.address)
    assert.equal(h.one(first, aggregateMsg(0, accepted, 'again')).code, 'ERR_NOT_AGGREGATOR')
    h.ok(key(next.aggregator), aggregateMsg(0, accepted, 'right'))
    const redo = claim(h, 'agg/0/0/1')
    assert.deepEqual([redo.owner, redo.cid, redo.previousCid], [next.aggregator, cid('right'), null])
    assert.equal(h.app.query('final-pointer/0'), null)
    h.runTo(redo.challengeUntil)
    assert.equal(h.app.query('final-pointer/0'), cid('right'))
    assert.equal(record(h, 0).stage, 'done')
  })

  it('a missed deadline draws the next attempt; spent attempts finish the window, which is then pruned', () => {
    const h = net({ maxAggregationAttempts: 2, retentionBlocks: 3 })
    h.block()
    const accepted = submit(h)
    h.runTo(claim(h, accepted[0] as string).challengeUntil)
    const a0 = record(h, 0)
    h.runTo(a0.deadline as number)
    const a1 = record(h, 0)
    assert.deepEqual(
      [a1.stage, a1.attempt, a1.tried, a1.dueHeight],
      ['due', 1, [a0.aggregator], (a0.deadline as number) + 1],
    )
    assert.notEqual(a1.aggregator, a0.aggregator)
    assert.equal(h.one(key(a0.aggregator), aggregateMsg(0, accepted, 'late')).code, 'ERR_NOT_AGGREGATOR')
    h.runTo(a1.deadline as number)
    const spent = record(h, 0)
    assert.deepEqual([spent.stage, spent.finishedHeight], ['spent', a1.deadline])
    const refused = h.one(key(a1.aggregator), aggregateMsg(0, accepted, 'later'))
    assert.equal(refused.code, 'ERR_WRONG_WINDOW')
    assert.match(refused.log, /all 2 aggregation attempts failed/)
    assert.equal(h.app.state.adapters.get('0'), undefined, 'the pointer never moved')
    h.runTo((spent.finishedHeight as number) + h.params.retentionBlocks)
    assert.ok(h.app.state.globals.prunedWindows >= 1, 'the window is finished and pruned')
    assert.equal(h.app.state.aggregations.has('0000000000/000000'), false)
  })

  it('names a fixed-size digest of its claims: an aggregate over 200 submissions fits maxTxBytes and is applied', () => {
    const { big, accepted, aggregator } = crowdDue()
    const tx = big.tx(aggregator, {
      type: 'aggregate',
      window: 0,
      subnet: 0,
      claimsDigest: claimListDigest(accepted),
      unavailable: unavailableBitmap(accepted, []),
      adapterCid: cid('a-crowd'),
    })
    assert.ok(tx.length < 300, `${tx.length} bytes, whatever the number of claims`)
    assert.ok(tx.length <= big.params.maxTxBytes)
    assert.equal((big.block([tx])[0] as { code: string }).code, 'OK')
    assert.deepEqual(
      (big.app.state.claims.get('agg/0/0') as Claim).claims,
      accepted,
      'the chain records the list it derived',
    )
  })

  it('declares 200 unavailable submissions in a 25-byte bitmap: the aggregate fits maxTxBytes and opens 200 availability disputes', () => {
    // As ids (about 55 bytes each) 200 would take some 11 KB: past 2,048 bytes from about 33 on,
    // so withholding that many miners kept every aggregate of their subnet off the chain.
    const { big, accepted, aggregator } = crowdDue()
    const next = big.app.state.globals.nextChallenge
    const bitmap = unavailableBitmap(accepted, accepted)
    assert.equal(bitmap, 'ff'.repeat(25))
    const tx = big.tx(aggregator, {
      type: 'aggregate',
      window: 0,
      subnet: 0,
      claimsDigest: claimListDigest([]),
      unavailable: bitmap,
      adapterCid: cid('a-none'),
    })
    assert.ok(tx.length <= 300, `${tx.length} bytes`)
    assert.ok(tx.length <= big.params.maxTxBytes)
    const [result] = big.block([tx]) as [{ code: string; log: string }]
    assert.equal(result.code, 'OK', result.log)
    assert.deepEqual((big.app.state.claims.get('agg/0/0') as Claim).claims, [], 'nothing aggregated')
    const disputes = Array.from({ length: 200 }, (_, i) => chal(big, `ch-${next + i}`))
    assert.deepEqual(
      disputes.map((c) => [c.claimId, c.kind, c.stage, c.challenger]),
      accepted.map((id) => [id, 'availability', 'l3', aggregator.address]),
      'one availability dispute per declared submission, in the chain’s order, at L3',
    )
    assert.ok(accepted.every((id) => (big.app.state.claims.get(id) as Claim).status === 'challenged'))
    assert.equal(big.app.state.challenges.has(`ch-${next + 200}`), false, 'and no more')
  })

  it('refuses a digest of any other list (one dropped, one extra, reordered, an unavailable one kept), naming both digests, and a bitmap of the wrong length or with a padding bit set', () => {
    const h = net()
    h.block()
    const accepted = submit(h)
    h.runTo(claim(h, accepted[0] as string).challengeUntil)
    const agg = key(record(h, 0).aggregator)
    const [a, b] = accepted as [string, string]
    // All in one block (the aggregation deadline is a few blocks), on one nonce: a refused
    // transaction does not use it up.
    const nonce = h.nonceOf(agg.address)
    const wrong = [[a], [a, b, `${b}x`], [b, a], []]
    const results = h.block(wrong.map((list) => h.tx(agg, aggregateMsg(0, list, 'a0'), { nonce })))
    results.forEach((r, i) => {
      const list = wrong[i] as string[]
      assert.equal(r.code, 'ERR_BAD_AGGREGATE', JSON.stringify(list))
      assert.ok(r.log.includes(claimListDigest(list)) && r.log.includes(claimListDigest(accepted)), r.log)
    })
    // Declaring b (bit 1) unavailable, the digest covers a alone: the full list is refused, [a]
    // taken; a bitmap of the wrong length, or with a padding bit set, is refused too.
    const declared = h.block(
      [
        aggregateMsg(0, [a, b], 'a0', '02'),
        aggregateMsg(0, [a], 'a0', '0200'),
        aggregateMsg(0, [a], 'a0', ''),
        aggregateMsg(0, [a], 'a0', '06'),
      ].map((m) => h.tx(agg, m, { nonce })),
    )
    assert.deepEqual(
      declared.map((r) => r.code),
      ['ERR_BAD_AGGREGATE', 'ERR_BAD_AGGREGATE', 'ERR_BAD_AGGREGATE', 'ERR_BAD_AGGREGATE'],
    )
    assert.match(declared[0]?.log ?? '', /digest .* the 1 accepted submissions not declared unavailable/)
    assert.match(
      declared[1]?.log ?? '',
      /'msg.unavailable' must be 1 byte, .* 2 accepted submissions .*; it is 2 bytes/,
    )
    assert.match(declared[2]?.log ?? '', /'msg.unavailable' must be 1 byte, .*; it is 0 bytes/)
    assert.match(declared[3]?.log ?? '', /'msg.unavailable' sets a padding bit past the 2 accepted submissions/)
    h.ok(agg, aggregateMsg(0, [a], 'a0', '02'))
    assert.deepEqual(claim(h, 'agg/0/0').claims, [a])
  })
})
