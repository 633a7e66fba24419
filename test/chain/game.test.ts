import assert from 'node:assert/strict'
import { claimListDigest } from '../../src/chain/claim-list.ts'
import { arbiterProof, bountyFor, drawOf } from '../../src/chain/game.ts'
import type { KeyPair } from '../../src/chain/keys.ts'
import { ChainReader } from '../../src/chain/reader.ts'
import type { Challenge, Claim } from '../../src/chain/state.ts'
import { commitmentOf } from '../../src/chain/tx.ts'
import { type VerifierTicket, verifierTicket } from '../../src/chain/verifier-draw.ts'
import { cid, gameCast, type Harness, R3, salt } from './harness.ts'

const cast = gameCast(2)
const { validators, miners, verifiers, arbiters, key } = cast
const [griefer, challenger] = cast.funded as [KeyPair, KeyPair]
const [m0a, m0b] = miners[0] as [KeyPair, KeyPair]

const net = (params: Record<string, unknown> = {}): Harness => cast.net(params)

/** Both miners of subnet 0 commit in one block and reveal in the next. */
function submit(h: Harness, entries: [KeyPair, string][]): void {
  const task = '0.0.0'
  const commits = entries.map(([m, c]) =>
    h.tx(m, { type: 'commit', taskId: task, commitment: commitmentOf(c, m.address, task, salt(m.address)) }),
  )
  assert.deepEqual(
    h.block(commits).map((r) => r.code),
    commits.map(() => 'OK'),
  )
  const reveals = entries.map(([m, c]) =>
    h.tx(m, { type: 'reveal', taskId: task, cid: c, salt: salt(m.address), metadata: '{"tokens":4096}' }),
  )
  assert.deepEqual(
    h.block(reveals).map((r) => r.log),
    reveals.map(() => ''),
  )
}

const claim = (h: Harness, id: string): Claim => h.app.state.claims.get(id) as Claim
const chal = (h: Harness, id: string): Challenge => h.app.state.challenges.get(id) as Challenge
const bond = (h: Harness): bigint => h.params.baseReward * BigInt(h.params.bondMultiple)

/** Every eligible verifier's ticket for the challenge's current attempt, as its node computes it. */
function tickets(h: Harness, id: string): { key: KeyPair; ticket: VerifierTicket }[] {
  const c = chal(h, id)
  return verifiers
    .filter((v) => Object.hasOwn(c.eligible, v.address))
    .map((v) => ({
      key: v,
      ticket: verifierTicket(v.secretKey, drawOf(c), c.eligible[v.address] as bigint, c.eligibleStake, h.params),
    }))
}

function claimMsg(id: string, proof: string) {
  return { type: 'verifierClaim' as const, challengeId: id, proof }
}

/** Every selected verifier claims the seat in one block; the claim phase then runs out. Returns the seated one. */
const seat = (h: Harness, id: string): KeyPair => cast.seat(h, id)

/** The seated verifier (seating one first if needed) answers. */
const respond = (h: Harness, id: string, verdict: 'owner' | 'challenger'): string => cast.answer(h, id, verdict).code

function voteAs(h: Harness, address: string, id: string, verdict: 'fault' | 'no_fault'): string {
  const a = key(address)
  const round = chal(h, id).panelRound
  return h.one(a, { type: 'arbiterVote', challengeId: id, verdict, proof: arbiterProof(a.secretKey, id, round) }).code
}

describe('chain/game: the three-layer verification game, scenario by scenario', () => {
  it('assigns tasks from the window seed and accepts equal replicated CIDs at L1 (credit, then payout)', () => {
    const h = net()
    h.block()
    const tasks = h.app.query('tasks/0') as { id: string; miners: string[] }[]
    assert.deepEqual(
      tasks.map((t) => t.id),
      ['0.0.0', '0.0.1'],
    )
    assert.deepEqual(tasks[0]?.miners, [m0a.address, m0b.address].sort())
    submit(h, [
      [m0a, cid('grad-A')],
      [m0b, cid('grad-A')],
    ])
    assert.equal(claim(h, `0.0.0/${m0a.address}`).status, 'accepted')
    assert.equal(h.app.state.credits.size, 2, 'credited as soon as accepted')
    const before = h.balance(m0a.address)
    const until = claim(h, `0.0.0/${m0a.address}`).challengeUntil
    h.runTo(until)
    assert.equal(h.balance(m0a.address), before, 'not before the aggregate: it may find the content unavailable')
    const accepted = [`0.0.0/${m0a.address}`, `0.0.0/${m0b.address}`].sort()
    const agg = key((h.app.query('aggregation/0/0') as { aggregator: string }).aggregator)
    h.ok(agg, {
      type: 'aggregate',
      window: 0,
      subnet: 0,
      claimsDigest: claimListDigest(accepted),
      unavailable: '00',
      adapterCid: cid('a'),
    })
    assert.equal(
      h.balance(m0a.address) - before,
      h.params.baseReward,
      'reward vests after the challenge period, once its work is aggregated',
    )
  })

  it('honest miner challenged: the verifier sides with the miner, the griefer loses its bond to miner and validator', () => {
    const h = net()
    h.block()
    submit(h, [
      [m0a, cid('grad-A')],
      [m0b, cid('grad-A')],
    ])
    const target = `0.0.0/${m0a.address}`
    const g0 = h.balance(griefer.address)
    const miner0 = h.balance(m0a.address)
    const val0 = h.balance(h.proposer)
    assert.equal(h.one(griefer, { type: 'challenge', claimId: target, bond: bond(h) }).code, 'OK')
    assert.equal(claim(h, target).status, 'challenged')
    const stakeBefore = h.stake(m0a.address)
    assert.equal(respond(h, 'ch-0', 'owner'), 'OK')
    assert.equal(chal(h, 'ch-0').stage, 'appealable', "'owner' waits for the challenger's appeal")
    assert.equal(h.stake(m0a.address), stakeBefore)
    h.runTo(chal(h, 'ch-0').deadline)
    assert.equal(chal(h, 'ch-0').outcome, 'owner', 'no appeal: the verdict stands')
    assert.equal(claim(h, target).status, 'accepted')
    assert.equal(h.stake(m0a.address), stakeBefore, 'no slashing')
    assert.equal(h.balance(griefer.address), g0 - bond(h) - h.params.minFee, 'griefer lost the bond (and its fee)')
    assert.equal(h.balance(m0a.address) - miner0, bond(h) / 2n, 'half the bond to the miner')
    assert.ok(h.balance(h.proposer) - val0 >= bond(h) / 2n, 'half the bond to the validator')
  })

  it('cheating miner challenged: slashed only after the L3 panel confirms, challenger gets bond and bounty', () => {
    const h = net()
    h.block()
    submit(h, [
      [m0a, cid('grad-A')],
      [m0b, cid('grad-FORGED')],
    ])
    const target = `0.0.0/${m0b.address}`
    assert.equal(claim(h, target).status, 'flagged', 'L1 mismatch flags')
    assert.equal(claim(h, target).flag, 'mismatch')
    const c0 = h.balance(challenger.address)
    const stake0 = h.stake(m0b.address)
    const trace = cid('challenger-steps')
    assert.equal(h.one(challenger, { type: 'challenge', claimId: target, bond: bond(h), trace }).code, 'OK')
    // The challenger's step trace is kept and shown to the verifier and then to the panel.
    assert.equal(chal(h, 'ch-0').challengerTrace, trace)
    assert.deepEqual(new ChainReader(h.app.state).verifierDraws()[0]?.dispute, {
      challenger: challenger.address,
      trace,
    })
    assert.equal(respond(h, 'ch-0', 'challenger'), 'OK')
    const c = chal(h, 'ch-0')
    assert.deepEqual(new ChainReader(h.app.state).arbiterDuties(c.panel[0] as string)[0]?.dispute, {
      challenger: challenger.address,
      trace,
    })
    assert.equal(c.stage, 'l3')
    assert.equal(c.panel.length, 3)
    assert.ok(!c.panel.includes(c.verifier as string))
    assert.equal(h.stake(m0b.address), stake0, 'nothing slashed at L2')
    assert.equal(voteAs(h, c.panel[0] as string, 'ch-0', 'fault'), 'OK')
    assert.equal(h.stake(m0b.address), stake0, 'nothing slashed with one vote')
    assert.equal(voteAs(h, c.panel[1] as string, 'ch-0', 'fault'), 'OK')
    assert.equal(chal(h, 'ch-0').outcome, 'challenger')
    assert.equal(
      h.stake(m0b.address),
      stake0 - (stake0 * BigInt(h.params.slashFractionBps)) / 10_000n,
      'slashed after L3',
    )
    assert.equal(claim(h, target).status, 'slashed')
    const lost = (stake0 * BigInt(h.params.slashFractionBps)) / 10_000n
    const bounty = bountyFor(h.params, lost)
    assert.equal(h.balance(challenger.address), c0 + bounty - h.params.minFee, 'bond back plus bounty')
    assert.ok(bounty > 0n && bounty <= lost / 2n, 'the bounty is at most half the slash: convicting oneself loses')
    assert.equal(voteAs(h, c.panel[2] as string, 'ch-0', 'fault'), 'ERR_WRONG_STAGE', 'decided: later votes refused')
    assert.equal(h.app.state.globals.slashed > 0n, true)
  })

  it('the bounty is the multiple of the base reward, capped at a share of the slash, so a pair convicting itself loses', () => {
    const p = { ...net().params, baseReward: 500n, bountyMultiple: 15, bountyShareBps: 5000 }
    assert.equal(bountyFor(p, 100_000n), 7_500n, 'a large slash pays the full multiple')
    assert.equal(bountyFor(p, 1_000n), 500n, 'a small slash pays half of it')
    assert.equal(bountyFor({ ...p, bountyShareBps: 0 }, 1_000_000n), 0n)
    for (const slashed of [0n, 1n, 999n, 15_000n, 15_001n, 10n ** 12n]) assert.ok(bountyFor(p, slashed) <= slashed / 2n)
  })

  it('a cheater that unstakes after the fault is still slashed at L3, from its unbonding tokens', () => {
    const h = net()
    h.block()
    submit(h, [
      [m0a, cid('grad-A')],
      [m0b, cid('grad-FORGED')],
    ])
    const target = `0.0.0/${m0b.address}`
    h.ok(challenger, { type: 'challenge', claimId: target, bond: bond(h) })
    const bonded = h.stake(m0b.address)
    h.ok(m0b, { type: 'unstake', amount: bonded })
    assert.equal(h.stake(m0b.address), 0n)
    assert.equal(respond(h, 'ch-0', 'challenger'), 'OK')
    const p = chal(h, 'ch-0').panel
    voteAs(h, p[0] as string, 'ch-0', 'fault')
    voteAs(h, p[1] as string, 'ch-0', 'fault')
    const [left] = h.app.query(`unbonding/${m0b.address}`) as { amount: string }[]
    assert.equal(BigInt(left?.amount ?? '0'), bonded - (bonded * BigInt(h.params.slashFractionBps)) / 10_000n)
  })

  it('verifier that does not answer: the seated one is penalized and excluded, the next attempt draws afresh', () => {
    const h = net({ l2DeadlineBlocks: 5, verifierClaimBlocks: 2 })
    h.block()
    submit(h, [
      [m0a, cid('grad-A')],
      [m0b, cid('grad-A')],
    ])
    h.ok(griefer, { type: 'challenge', claimId: `0.0.0/${m0a.address}`, bond: bond(h) })
    const silent = seat(h, 'ch-0')
    const first = chal(h, 'ch-0')
    const bonded = h.stake(silent.address)
    const slashed0 = h.app.state.globals.slashed
    h.runTo(first.deadline)
    const second = chal(h, 'ch-0')
    assert.equal(second.attempt, 1)
    assert.deepEqual(second.tried, [silent.address])
    assert.equal(second.verifier, null, 'the new attempt starts with an empty seat')
    assert.ok(!Object.hasOwn(second.eligible, silent.address), 'the silent verifier is not eligible again')
    const penalty = (bonded * BigInt(h.params.verifierPenaltyBps)) / 10_000n
    assert.ok(penalty > 0n)
    assert.equal(h.stake(silent.address), bonded - penalty, 'penalized by verifierPenaltyBps')
    assert.equal(h.app.state.globals.slashed - slashed0, penalty, 'through slash: supply accounts for it')
    // In the new attempt's claim phase: the silent one's late answer and claim, and a proof made for the old attempt.
    const stale = verifierTicket(silent.secretKey, drawOf(first), bonded, first.eligibleStake, h.params)
    const other = tickets(h, 'ch-0')[0] as { key: KeyPair }
    const old = verifierTicket(other.key.secretKey, drawOf(first), 1n, 1n, h.params)
    const codes = h.block([
      h.tx(silent, { type: 'verifierResponse', challengeId: 'ch-0', verdict: 'owner', proof: stale.proof }),
      // The refused answer uses no nonce, so the claim reuses it.
      h.tx(silent, claimMsg('ch-0', stale.proof), { nonce: h.app.state.account(silent.address).nonce }),
      h.tx(other.key, claimMsg('ch-0', old.proof)),
    ])
    assert.deepEqual(
      codes.map((r) => r.code),
      ['ERR_NOT_SELECTED', 'ERR_NOT_SELECTED', 'ERR_BAD_VRF_PROOF'],
      'late answer refused; excluded from new attempts; an old attempt’s proof does not verify',
    )
    assert.equal(respond(h, 'ch-0', 'owner'), 'OK')
    h.runTo(chal(h, 'ch-0').deadline)
    assert.equal(chal(h, 'ch-0').outcome, 'owner')
  })

  it('no verifier ever answers: the challenge lapses and the bond is returned', () => {
    const h = net()
    h.block()
    submit(h, [
      [m0a, cid('grad-A')],
      [m0b, cid('grad-A')],
    ])
    const g0 = h.balance(griefer.address)
    h.ok(griefer, { type: 'challenge', claimId: `0.0.0/${m0a.address}`, bond: bond(h) })
    const slashed0 = h.app.state.globals.slashed
    h.run(h.params.verifierClaimBlocks * h.params.maxVerifierAttempts)
    assert.equal(chal(h, 'ch-0').outcome, 'lapsed', 'attempts with no claim move on at the end of their claim phase')
    assert.equal(h.app.state.globals.slashed, slashed0, 'nobody claimed, so nobody is penalized')
    assert.equal(claim(h, `0.0.0/${m0a.address}`).status, 'accepted')
    assert.equal(h.balance(griefer.address), g0 - h.params.minFee)
  })

  it('arbiter panel split 2–1 decides by the two; a missing arbiter is penalized and replaced; its late vote is refused', () => {
    const h = net()
    h.block()
    submit(h, [
      [m0a, cid('grad-A')],
      [m0b, cid('grad-B')],
    ])
    // Split 2–1 for the miner.
    h.ok(challenger, { type: 'challenge', claimId: `0.0.0/${m0a.address}`, bond: bond(h) })
    assert.equal(respond(h, 'ch-0', 'challenger'), 'OK')
    const p = chal(h, 'ch-0').panel as [string, string, string]
    const paid0 = p.map((a) => h.balance(a)) as [bigint, bigint, bigint]
    assert.equal(voteAs(h, p[0], 'ch-0', 'no_fault'), 'OK')
    assert.equal(voteAs(h, p[1], 'ch-0', 'fault'), 'OK')
    assert.equal(chal(h, 'ch-0').stage, 'l3', '1–1 decides nothing')
    assert.equal(voteAs(h, p[2], 'ch-0', 'no_fault'), 'OK')
    assert.equal(chal(h, 'ch-0').outcome, 'owner', '2 of 3 decide')
    const fee = h.params.minFee
    assert.equal(h.balance(p[0]) - paid0[0], h.params.arbiterReward - fee, 'majority arbiter paid')
    assert.equal(h.balance(p[1]) - paid0[1], -fee, 'minority arbiter not paid')
    assert.equal(claim(h, `0.0.0/${m0a.address}`).status, 'accepted')

    // Missing arbiter on a second dispute.
    h.ok(challenger, { type: 'challenge', claimId: `0.0.0/${m0b.address}`, bond: bond(h) })
    assert.equal(respond(h, 'ch-1', 'challenger'), 'OK')
    const q = chal(h, 'ch-1').panel as [string, string, string]
    assert.equal(voteAs(h, q[0], 'ch-1', 'fault'), 'OK')
    assert.equal(voteAs(h, q[1], 'ch-1', 'no_fault'), 'OK')
    const absentStake = h.stake(q[2])
    h.runTo(chal(h, 'ch-1').deadline)
    const after = chal(h, 'ch-1')
    assert.deepEqual(after.penalized, [q[2]])
    assert.equal(after.panelRound, 1)
    assert.equal(after.panel.length, 3)
    assert.ok(!after.panel.includes(q[2]))
    assert.equal(h.stake(q[2]), absentStake - (absentStake * BigInt(h.params.arbiterPenaltyBps)) / 10_000n, 'penalized')
    assert.equal(voteAs(h, q[2], 'ch-1', 'fault'), 'ERR_NOT_SELECTED', 'late vote refused')
    const replacement = after.panel[2] as string
    const minerStake = h.stake(m0b.address)
    assert.equal(voteAs(h, replacement, 'ch-1', 'fault'), 'OK')
    assert.equal(chal(h, 'ch-1').outcome, 'challenger')
    assert.ok(h.stake(m0b.address) < minerStake)
  })

  it('a copied CID earns nothing: committing after the CID was public flags the copy', () => {
    const h = net()
    h.block()
    const task = '0.0.0'
    const A = cid('grad-A')
    h.ok(m0a, { type: 'commit', taskId: task, commitment: commitmentOf(A, m0a.address, task, salt('a')) })
    h.ok(m0a, { type: 'reveal', taskId: task, cid: A, salt: salt('a'), metadata: '' })
    // m0b saw A on chain and copies it.
    h.ok(m0b, { type: 'commit', taskId: task, commitment: commitmentOf(A, m0b.address, task, salt('b')) })
    h.ok(m0b, { type: 'reveal', taskId: task, cid: A, salt: salt('b'), metadata: '' })
    const copy = claim(h, `${task}/${m0b.address}`)
    assert.equal(copy.status, 'flagged')
    assert.equal(copy.flag, 'copied')
    assert.equal(h.app.state.credits.has(copy.id), false, 'no credit for a copy')
    assert.equal(claim(h, `${task}/${m0a.address}`).status, 'accepted', 'the original is accepted (only honest reveal)')
    assert.equal(
      h.one(challenger, { type: 'challenge', claimId: copy.id, bond: bond(h) }).code,
      'ERR_NOT_CHALLENGEABLE',
    )
  })

  it('a copied CID on a non-replicated task flags the later one, even when the same miner reuses it', () => {
    // Six tasks per subnet, three for each of its two miners.
    const h = net({ replication: 1, tasksPerMiner: 3, shardsPerWindow: 6 })
    h.block()
    const tasks = (h.app.query('tasks/0') as { id: string; miners: string[]; subnet: number }[]).filter(
      (t) => t.subnet === 0,
    )
    const t1 = tasks.find((t) => t.miners[0] === m0a.address)
    const t2 = tasks.find((t) => t.miners[0] === m0b.address)
    assert.ok(t1 !== undefined && t2 !== undefined, 'both miners have a task in this seed')
    const A = cid('grad-A')
    h.block([
      h.tx(m0a, { type: 'commit', taskId: t1.id, commitment: commitmentOf(A, m0a.address, t1.id, salt('a')) }),
      h.tx(m0b, { type: 'commit', taskId: t2.id, commitment: commitmentOf(A, m0b.address, t2.id, salt('b')) }),
    ])
    h.ok(m0a, { type: 'reveal', taskId: t1.id, cid: A, salt: salt('a'), metadata: '' })
    h.ok(m0b, { type: 'reveal', taskId: t2.id, cid: A, salt: salt('b'), metadata: '' })
    assert.equal(claim(h, `${t1.id}/${m0a.address}`).status, 'accepted')
    assert.equal(claim(h, `${t2.id}/${m0b.address}`).flag, 'copied')
    // The same miner reusing its own CID on a second task is a copy too (each miner has two more tasks).
    const spare = (m: KeyPair) => tasks.filter((t) => t.miners[0] === m.address && t.id !== t1.id && t.id !== t2.id)
    const owner = [m0a, m0b].find((m) => spare(m).length >= 2) as KeyPair
    const [x, y] = spare(owner) as [(typeof tasks)[0], (typeof tasks)[0]]
    const B = cid('grad-B')
    h.block([
      h.tx(owner, { type: 'commit', taskId: x.id, commitment: commitmentOf(B, owner.address, x.id, salt('x')) }),
      h.tx(owner, { type: 'commit', taskId: y.id, commitment: commitmentOf(B, owner.address, y.id, salt('y')) }),
    ])
    const results = h.block([
      h.tx(owner, { type: 'reveal', taskId: x.id, cid: B, salt: salt('x'), metadata: '' }),
      h.tx(owner, { type: 'reveal', taskId: y.id, cid: B, salt: salt('y'), metadata: '' }),
    ])
    assert.deepEqual(
      results.map((r) => r.code),
      ['OK', 'OK'],
    )
    assert.equal(claim(h, `${x.id}/${owner.address}`).status, 'accepted')
    assert.equal(claim(h, `${y.id}/${owner.address}`).flag, 'copied')
  })

  it('a replayed reveal is refused: same bytes (nonce), same task again (duplicate), another miner (commitment)', () => {
    const h = net()
    h.block()
    const task = '0.0.0'
    const A = cid('grad-A')
    h.ok(m0a, { type: 'commit', taskId: task, commitment: commitmentOf(A, m0a.address, task, salt('a')) })
    const reveal = h.tx(m0a, { type: 'reveal', taskId: task, cid: A, salt: salt('a'), metadata: '' })
    assert.equal(h.block([reveal])[0]?.code, 'OK')
    assert.equal(h.block([reveal])[0]?.code, 'ERR_WRONG_NONCE')
    assert.equal(
      h.one(m0a, { type: 'reveal', taskId: task, cid: A, salt: salt('a'), metadata: '' }).code,
      'ERR_DUPLICATE',
    )
    assert.equal(
      h.one(m0b, { type: 'reveal', taskId: task, cid: A, salt: salt('a'), metadata: '' }).code,
      'ERR_NO_COMMIT',
    )
    h.ok(m0b, { type: 'commit', taskId: task, commitment: commitmentOf(cid('grad-B'), m0b.address, task, salt('b')) })
    assert.equal(
      h.one(m0b, { type: 'reveal', taskId: task, cid: A, salt: salt('a'), metadata: '' }).code,
      'ERR_COMMIT_MISMATCH',
    )
  })

  it('a challenge after the challenge period is refused, whatever its bond', () => {
    const h = net()
    h.block()
    submit(h, [
      [m0a, cid('grad-A')],
      [m0b, cid('grad-A')],
    ])
    const target = claim(h, `0.0.0/${m0a.address}`)
    h.runTo(target.challengeUntil)
    assert.equal(h.one(griefer, { type: 'challenge', claimId: target.id, bond: bond(h) }).code, 'ERR_CHALLENGE_CLOSED')
    assert.equal(
      h.one(griefer, { type: 'challenge', claimId: target.id, bond: bond(h) - 1n }).code,
      'ERR_CHALLENGE_CLOSED',
    )
  })

  it('window close: the aggregator moves the model pointer; a faulty aggregate is disputed and the pointer restored', () => {
    const h = net()
    h.block()
    submit(h, [
      [m0a, cid('grad-A')],
      [m0b, cid('grad-A')],
    ])
    const w = h.app.query('window/0') as { closeHeight: number; aggregator: string }
    h.runTo(w.closeHeight)
    const agg = key(w.aggregator)
    const accepted = [`0.0.0/${m0a.address}`, `0.0.0/${m0b.address}`].sort()
    const other = validators.find((v) => v.address !== agg.address) as KeyPair
    const msg = {
      type: 'aggregate' as const,
      window: 0,
      subnet: 0,
      claimsDigest: claimListDigest(accepted),
      unavailable: '00',
      adapterCid: cid('adapter-0-w0'),
    }
    // The submissions are still challengeable: the aggregation waits for them to settle.
    assert.equal(h.one(agg, msg).code, 'ERR_NOT_DUE')
    h.runTo(claim(h, accepted[0] as string).challengeUntil)
    assert.equal(h.one(other, msg).code, 'ERR_NOT_AGGREGATOR')
    assert.equal(h.one(agg, { ...msg, claimsDigest: claimListDigest(accepted.slice(1)) }).code, 'ERR_BAD_AGGREGATE')
    assert.equal(h.one(agg, msg).code, 'OK')
    assert.equal((h.app.query('model') as { adapters: Record<string, string> }).adapters['0'], cid('adapter-0-w0'))
    assert.equal(h.one(agg, msg).code, 'ERR_DUPLICATE')
    h.ok(challenger, { type: 'challenge', claimId: 'agg/0/0', bond: bond(h) })
    assert.equal(respond(h, 'ch-0', 'challenger'), 'OK')
    const p = chal(h, 'ch-0').panel
    voteAs(h, p[0] as string, 'ch-0', 'fault')
    voteAs(h, p[1] as string, 'ch-0', 'fault')
    assert.equal(chal(h, 'ch-0').outcome, 'challenger')
    assert.equal(
      (h.app.query('model') as { adapters: Record<string, string> }).adapters['0'],
      undefined,
      'pointer restored',
    )
  })

  it('answers every query the CLI and the role actors use during a game', () => {
    const h = net()
    h.block()
    submit(h, [
      [m0a, cid('grad-A')],
      [m0b, cid('grad-A')],
    ])
    h.ok(griefer, { type: 'challenge', claimId: `0.0.0/${m0a.address}`, bond: bond(h) })
    h.ok(griefer, { type: 'propose', content: { kind: 'dataset', cid: cid('ds-q'), name: 'q', shardCount: 2 } })
    const q = (path: string) => h.app.query(path) as never
    assert.equal((q('window/0') as { id: number }).id, 0)
    assert.equal(q('window/99'), null)
    assert.equal((q(`tasks/0/${m0a.address}`) as unknown[]).length, 1)
    assert.equal((q(`claim/0.0.0/${m0a.address}`) as { status: string }).status, 'challenged')
    assert.equal((q('claims/0') as unknown[]).length, 2)
    assert.equal((q(`credits/${m0b.address}`) as { amount: string }[])[0]?.amount, `${h.params.baseReward}`)
    assert.equal((q('challenge/ch-0') as { stage: string }).stage, 'l2')
    assert.equal((q('challenges') as unknown[]).length, 1)
    assert.equal((q('proposal/p-0') as { status: string }).status, 'voting')
    assert.equal((q('proposals') as unknown[]).length, 1)
    assert.equal((q('datasets') as unknown[]).length, 1)
    assert.equal((q('stakers') as unknown[]).length, validators.length + 4 + verifiers.length + arbiters.length)
    assert.deepEqual((q(`staker/${m0a.address}`) as { roles: string[] }).roles, ['miner'])
    assert.equal(q(`account/${m0a.address}`) !== null, true)
    assert.deepEqual(q(`unbonding/${m0a.address}`), [])
    const supply = q('supply') as { supply: string; genesis: string; minted: string; slashed: string }
    assert.equal(BigInt(supply.supply), BigInt(supply.genesis) + BigInt(supply.minted) - BigInt(supply.slashed))
  })

  it('bonds below 10× the base reward are refused, and so are self-challenges', () => {
    const h = net()
    h.block()
    submit(h, [
      [m0a, cid('grad-A')],
      [m0b, cid('grad-A')],
    ])
    const id = `0.0.0/${m0a.address}`
    assert.equal(h.one(griefer, { type: 'challenge', claimId: id, bond: bond(h) - 1n }).code, 'ERR_BOND_TOO_SMALL')
    assert.equal(h.one(m0a, { type: 'challenge', claimId: id, bond: bond(h) }).code, 'ERR_SELF_CHALLENGE')
    assert.equal(h.one(griefer, { type: 'challenge', claimId: 'nope', bond: bond(h) }).code, 'ERR_UNKNOWN_CLAIM')
    assert.equal(bond(h), 5000n * R3, 'the seed’s 5,000 R3MES')
  })
})
