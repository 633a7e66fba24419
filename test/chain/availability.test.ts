import assert from 'node:assert/strict'
import { claimListDigest } from '../../src/chain/claim-list.ts'
import { TxRejected } from '../../src/chain/errors.ts'
import { arbiterProof, bountyFor } from '../../src/chain/game.ts'
import type { KeyPair } from '../../src/chain/keys.ts'
import type { Challenge, Claim, Verdict } from '../../src/chain/state.ts'
import { commitmentOf, decodeTx, encodeTx, type Msg } from '../../src/chain/tx.ts'
import { unavailableBitmap } from '../../src/chain/unavailable-bitmap.ts'
import { cid, gameCast, type Harness, salt } from './harness.ts'

const cast = gameCast(1)
const { miners, verifiers, key } = cast
const [challenger] = cast.funded as [KeyPair]
const [m0a, m0b] = miners[0] as [KeyPair, KeyPair]
const claimA = `0.0.0/${m0a.address}`
const claimB = `0.0.0/${m0b.address}`

const net = (params: Record<string, unknown> = {}): Harness => cast.net(params)

/** Both miners of subnet 0 reveal the same gradient: both claims are accepted at L1. */
function submitBoth(h: Harness): void {
  h.block()
  const task = '0.0.0'
  const gradient = cid('grad-A')
  h.block(
    [m0a, m0b].map((m) =>
      h.tx(m, { type: 'commit', taskId: task, commitment: commitmentOf(gradient, m.address, task, salt(m.address)) }),
    ),
  )
  h.block(
    [m0a, m0b].map((m) =>
      h.tx(m, { type: 'reveal', taskId: task, cid: gradient, salt: salt(m.address), metadata: '{"tokens":4096}' }),
    ),
  )
  assert.equal(claim(h, claimA).status, 'accepted')
  assert.equal(claim(h, claimB).status, 'accepted')
}

const claim = (h: Harness, id: string): Claim => h.app.state.claims.get(id) as Claim
const chal = (h: Harness, id: string): Challenge => h.app.state.challenges.get(id) as Challenge
const bond = (h: Harness): bigint => h.params.baseReward * BigInt(h.params.bondMultiple)
const bps = (amount: bigint, points: number): bigint => (amount * BigInt(points)) / 10_000n

/** Every selected verifier claims the seat; the claim phase runs out; the seated one answers. */
function respond(h: Harness, id: string, verdict: 'owner' | 'challenger' | 'unavailable'): KeyPair {
  const { verifier, code } = cast.answer(h, id, verdict)
  assert.equal(code, 'OK')
  return verifier
}

function voteAs(h: Harness, address: string, id: string, verdict: Verdict): string {
  const a = key(address)
  const round = chal(h, id).panelRound
  return h.one(a, { type: 'arbiterVote', challengeId: id, verdict, proof: arbiterProof(a.secretKey, id, round) }).code
}

/**
 * Run until window 0's subnet 0 is due (its work settled) and return its aggregator and an
 * aggregate message taking `claims` and declaring `unavailable` (as the bitmap over the two
 * accepted submissions, in the chain's order: their ids sorted).
 */
function aggregateMsg(
  h: Harness,
  claims: string[],
  unavailable: string[],
): { agg: KeyPair; msg: Extract<Msg, { type: 'aggregate' }> } {
  h.runTo(claim(h, claimA).challengeUntil)
  const a = h.app.query('aggregation/0/0') as { stage: string; aggregator: string }
  assert.equal(a.stage, 'due')
  return {
    agg: key(a.aggregator),
    msg: {
      type: 'aggregate',
      window: 0,
      subnet: 0,
      claimsDigest: claimListDigest(claims),
      unavailable: unavailableBitmap([claimA, claimB].sort(), unavailable),
      adapterCid: cid('adapter-0-w0'),
    },
  }
}

describe('chain: data availability (unavailable verdicts, aggregates that leave work out, availability disputes)', () => {
  it('the tx schema takes the unavailable verdicts and the aggregate’s unavailable bitmap, and refuses others (the old id list by name)', () => {
    const v = verifiers[0] as KeyPair
    const body = (msg: Record<string, unknown>) => ({ chainId: 'c', nonce: 0, fee: 1n, msg: msg as unknown as Msg })
    const decode = (msg: Record<string, unknown>) => decodeTx(encodeTx(body(msg), v), 4096).body.msg
    const proof = 'ab'.repeat(80)
    assert.equal(
      (decode({ type: 'verifierResponse', challengeId: 'ch-0', verdict: 'unavailable', proof }) as { verdict: string })
        .verdict,
      'unavailable',
    )
    assert.equal(
      (decode({ type: 'arbiterVote', challengeId: 'ch-0', verdict: 'unavailable', proof }) as { verdict: string })
        .verdict,
      'unavailable',
    )
    assert.throws(
      () => decode({ type: 'arbiterVote', challengeId: 'ch-0', verdict: 'maybe', proof }),
      /'msg.verdict' must be one of fault, no_fault, unavailable/,
    )
    assert.throws(
      () => decode({ type: 'verifierResponse', challengeId: 'ch-0', verdict: 'fault', proof }),
      /'msg.verdict' must be one of owner, challenger, unavailable/,
    )
    const agg = { type: 'aggregate', window: 0, subnet: 0, claimsDigest: claimListDigest(['a']), adapterCid: cid('x') }
    assert.throws(() => decode(agg), /missing field 'unavailable'/)
    assert.equal((decode({ ...agg, unavailable: '05' }) as { unavailable: string }).unavailable, '05')
    assert.equal(
      (decode({ ...agg, unavailable: '' }) as { unavailable: string }).unavailable,
      '',
      'its length is the chain’s to check',
    )
    // A bitmap past the fullest window's (4,096 shards × 16 replicas = 65,536 bits) is refused
    // by the decoder itself, whatever maxTxBytes allows.
    const wide = (msg: Record<string, unknown>) => decodeTx(encodeTx(body(msg), v), 1 << 20).body.msg
    assert.equal(
      (wide({ ...agg, unavailable: '00'.repeat(8192) }) as { unavailable: string }).unavailable.length,
      16384,
    )
    assert.throws(
      () => wide({ ...agg, unavailable: '00'.repeat(8193) }),
      /'msg.unavailable' must be bytes, at most 8192/,
    )
    // The list of claim ids it replaced is refused naming it: as the field's value, and under
    // its old wire key.
    assert.throws(() => decode({ ...agg, unavailable: ['b'] }), /'msg.unavailable' must be bytes, at most 8192/)
    assert.throws(
      () => decode({ ...agg, u: ['b'] }),
      (e: Error) =>
        e instanceof TxRejected &&
        e.code === 'ERR_INVALID_FIELD' &&
        /'msg.u', the aggregate's list of unavailable claim ids, is no longer accepted/.test(e.message),
    )
    // The claims taken travel as their 32-byte digest, never as the list.
    assert.throws(
      () => decode({ ...agg, unavailable: '', claimsDigest: 'ab'.repeat(31) }),
      /'msg.claimsDigest' must be 32 bytes/,
    )
    const { claimsDigest: _, ...listed } = agg
    assert.throws(() => decode({ ...listed, claims: ['a'], unavailable: '' }), /unknown field 'msg.claims'/)
  })

  it('a verifier answering unavailable escalates; a panel quorum of unavailable slashes the withholder like a fault', () => {
    const h = net()
    submitBoth(h)
    const stake0 = h.stake(m0a.address)
    const c0 = h.balance(challenger.address)
    h.ok(challenger, { type: 'challenge', claimId: claimA, bond: bond(h) })
    const seated = respond(h, 'ch-0', 'unavailable')
    const verifierStake = h.stake(seated.address)
    const c = chal(h, 'ch-0')
    assert.equal(c.stage, 'l3', "'unavailable' escalates like 'challenger'")
    assert.equal(c.kind, 'fault')
    const [a0, a1, a2] = c.panel as [string, string, string]
    const paid0 = h.balance(a0)
    assert.equal(voteAs(h, a0, 'ch-0', 'unavailable'), 'OK')
    assert.equal(voteAs(h, a1, 'ch-0', 'unavailable'), 'OK')
    const done = chal(h, 'ch-0')
    assert.equal(done.outcome, 'unavailable')
    assert.equal(h.stake(m0a.address), stake0 - bps(stake0, h.params.slashFractionBps), 'slashed as for a fault')
    assert.equal(claim(h, claimA).status, 'slashed')
    assert.equal(claim(h, claimA).flag, 'unavailable')
    assert.equal(h.app.state.credits.has(claimA), false, 'pending reward revoked')
    const bounty = bountyFor(h.params, bps(stake0, h.params.slashFractionBps))
    assert.equal(h.balance(challenger.address), c0 + bounty - h.params.minFee, 'bond back plus bounty')
    assert.equal(h.balance(a0) - paid0, h.params.arbiterReward - h.params.minFee, 'an unavailable vote is paid')
    assert.equal(h.stake(seated.address), verifierStake, 'the verifier that could not fetch is not penalized')
    assert.equal(voteAs(h, a2, 'ch-0', 'unavailable'), 'ERR_WRONG_STAGE')
    h.runTo(claim(h, claimA).challengeUntil + 1)
    assert.equal(h.app.state.globals.slashed, stake0 - h.stake(m0a.address), 'nobody else lost stake')
  })

  it('a panel where every seat voted and no verdict has a quorum lapses: bond back, claim as before, nobody penalized', () => {
    const h = net()
    submitBoth(h)
    const c0 = h.balance(challenger.address)
    h.ok(challenger, { type: 'challenge', claimId: claimA, bond: bond(h) })
    respond(h, 'ch-0', 'unavailable')
    const [a0, a1, a2] = chal(h, 'ch-0').panel as [string, string, string]
    const slashed0 = h.app.state.globals.slashed
    assert.equal(voteAs(h, a0, 'ch-0', 'fault'), 'OK')
    assert.equal(voteAs(h, a1, 'ch-0', 'no_fault'), 'OK')
    assert.equal(chal(h, 'ch-0').stage, 'l3')
    assert.equal(voteAs(h, a2, 'ch-0', 'unavailable'), 'OK')
    assert.equal(chal(h, 'ch-0').outcome, 'lapsed')
    assert.equal(claim(h, claimA).status, 'accepted')
    assert.equal(h.balance(challenger.address), c0 - h.params.minFee, 'the bond came back')
    assert.equal(h.app.state.globals.slashed, slashed0, 'a split panel penalizes nobody')
  })

  it('an aggregate must split the accepted submissions exactly between claims and the bitmap, one canonical bitmap', () => {
    const h = net()
    submitBoth(h)
    const both = [claimA, claimB].sort()
    const { agg, msg } = aggregateMsg(h, both, [])
    const [first, second] = both as [string, string]
    // All in one block (the aggregation deadline is a few blocks), on one nonce: a refused
    // transaction does not use it up. Bit 0 is `first`, bit 1 `second`.
    const nonce = h.nonceOf(agg.address)
    const attempt = (claims: string[], unavailable: string) =>
      h.tx(agg, { ...msg, claimsDigest: claimListDigest(claims), unavailable }, { nonce })
    const results = h.block([
      attempt([first], '00'), // one dropped silently: the digest does not match
      attempt(both, '01'), // one both taken and declared: the digest does not match
      attempt([second], '02'), // the other one declared: the digest does not match
      attempt([second], '0100'), // two bytes for two submissions
      attempt([second], ''), // no bytes for two submissions
      attempt([second], '05'), // bit 2: a padding bit past the two submissions
      attempt([second], '81'), // bit 7, the last padding bit
      attempt([second], '01'),
    ])
    assert.deepEqual(
      results.map((r) => r.code),
      [...Array(7).fill('ERR_BAD_AGGREGATE'), 'OK'],
    )
    for (const r of results.slice(0, 3)) assert.match(r.log, /claim list digest [0-9a-f]{64} is not [0-9a-f]{64}/)
    assert.match(
      results[3]?.log ?? '',
      /'msg.unavailable' must be 1 byte, one bit for each of the 2 accepted submissions of window 0 subnet 0; it is 2 bytes/,
    )
    assert.match(results[4]?.log ?? '', /'msg.unavailable' must be 1 byte, .*; it is 0 bytes/)
    for (const r of results.slice(5, 7))
      assert.match(r.log, /'msg.unavailable' sets a padding bit past the 2 accepted submissions of window 0 subnet 0/)
    assert.deepEqual(claim(h, 'agg/0/0').claims, [second], 'the aggregate names only what it aggregated')
    assert.equal(chal(h, 'ch-0').claimId, first, 'the declared one is disputed')
    assert.equal(h.app.state.challenges.has('ch-1'), false, 'and nothing else')
  })

  it('an unavailable claim opens an availability dispute at L3; a quorum of unavailable excludes it, unpaid, owner slashed', () => {
    const h = net()
    submitBoth(h)
    const { agg, msg } = aggregateMsg(h, [claimB], [claimA])
    const aggBalance = h.balance(agg.address)
    const stake0 = h.stake(m0a.address)
    const minerBalance = h.balance(m0a.address)
    assert.equal(h.one(agg, msg).code, 'OK')
    const c = chal(h, 'ch-0')
    assert.equal(c.kind, 'availability')
    assert.equal(c.stage, 'l3', 'straight at L3')
    assert.equal(c.challenger, agg.address)
    assert.equal(c.bond, 0n)
    assert.equal(c.panel.length, 3)
    assert.ok(!c.panel.includes(m0a.address) && !c.panel.includes(agg.address))
    assert.equal(claim(h, claimA).status, 'challenged')
    const [a0, a1] = c.panel as [string, string]
    assert.equal(voteAs(h, a0, 'ch-0', 'fault'), 'ERR_INVALID_FIELD', 'an availability dispute rules on nothing else')
    assert.equal(voteAs(h, a0, 'ch-0', 'unavailable'), 'OK')
    assert.equal(voteAs(h, a1, 'ch-0', 'unavailable'), 'OK')
    assert.equal(chal(h, 'ch-0').outcome, 'unavailable')
    assert.equal(claim(h, claimA).status, 'slashed')
    assert.equal(claim(h, claimA).flag, 'unavailable')
    assert.equal(h.stake(m0a.address), stake0 - bps(stake0, h.params.slashFractionBps))
    const bounty = h.params.baseReward * BigInt(h.params.bountyMultiple)
    assert.ok(h.balance(agg.address) - aggBalance < bounty, 'no bounty for an availability dispute')
    h.runTo(claim(h, claimB).challengeUntil + 1)
    assert.equal(h.balance(m0a.address), minerBalance, 'the withheld claim is never paid')
    assert.equal(h.balance(m0b.address) > 0n, true)
  })

  it('a false exclusion: a quorum finds the content, the claim is paid and the aggregator penalized', () => {
    const h = net()
    submitBoth(h)
    const { agg, msg } = aggregateMsg(h, [claimB], [claimA])
    h.ok(agg, msg)
    const aggStake = h.stake(agg.address)
    const minerBalance = h.balance(m0a.address)
    const [a0, a1] = chal(h, 'ch-0').panel as [string, string]
    assert.equal(voteAs(h, a0, 'ch-0', 'no_fault'), 'OK')
    assert.equal(voteAs(h, a1, 'ch-0', 'no_fault'), 'OK')
    assert.equal(chal(h, 'ch-0').outcome, 'owner')
    assert.equal(claim(h, claimA).status, 'accepted')
    assert.equal(h.stake(agg.address), aggStake - bps(aggStake, h.params.verifierPenaltyBps), 'aggregator penalized')
    h.runTo(claim(h, claimA).challengeUntil + 1)
    assert.equal(h.balance(m0a.address) - minerBalance, h.params.baseReward, 'the excluded claim is paid as accepted')
  })

  it('an availability dispute nobody decides lapses and the claim is paid', () => {
    const h = net()
    submitBoth(h)
    const { agg, msg } = aggregateMsg(h, [], [claimA, claimB].sort())
    h.ok(agg, msg)
    assert.equal(chal(h, 'ch-1').kind, 'availability', 'one dispute per unavailable claim')
    const minerBalance = h.balance(m0a.address)
    h.run(h.params.l3DeadlineBlocks * h.params.maxPanelRounds)
    const id = chal(h, 'ch-0').claimId === claimA ? 'ch-0' : 'ch-1'
    assert.equal(chal(h, id).outcome, 'lapsed')
    h.runTo(claim(h, claimA).challengeUntil + 1)
    assert.equal(h.balance(m0a.address) - minerBalance, h.params.baseReward)
  })
})
