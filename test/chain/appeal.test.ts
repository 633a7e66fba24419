import assert from 'node:assert/strict'
import { arbiterProof, bountyFor } from '../../src/chain/game.ts'
import type { KeyPair } from '../../src/chain/keys.ts'
import { ChainReader } from '../../src/chain/reader.ts'
import type { Challenge, Claim, L2Verdict, Verdict } from '../../src/chain/state.ts'
import { commitmentOf } from '../../src/chain/tx.ts'
import { cid, gameCast, type Harness, salt } from './harness.ts'

const cast = gameCast(2)
const { miners, key } = cast
const [challenger, bystander] = cast.funded as [KeyPair, KeyPair]
const [m0a, m0b] = miners[0] as [KeyPair, KeyPair]

const claim = (h: Harness, id: string): Claim => h.app.state.claims.get(id) as Claim
const chal = (h: Harness): Challenge => h.app.state.challenges.get('ch-0') as Challenge
const minBond = (h: Harness): bigint => h.params.baseReward * BigInt(h.params.bondMultiple)
const bps = (amount: bigint, bps: number): bigint => (amount * BigInt(bps)) / 10_000n

/**
 * Subnet 0's miners submit `m0a`'s gradient and `m0b`'s `cidB` (a forgery unless equal), the
 * challenger disputes m0b's claim, and the seated verifier answers `verdict`.
 */
function answered(verdict: L2Verdict, cidB = cid('grad-FORGED')) {
  const h = cast.net()
  h.block()
  const task = '0.0.0'
  const entries: [KeyPair, string][] = [
    [m0a, cid('grad-A')],
    [m0b, cidB],
  ]
  h.block(
    entries.map(([m, c]) =>
      h.tx(m, { type: 'commit', taskId: task, commitment: commitmentOf(c, m.address, task, salt(m.address)) }),
    ),
  )
  h.block(
    entries.map(([m, c]) => h.tx(m, { type: 'reveal', taskId: task, cid: c, salt: salt(m.address), metadata: '{}' })),
  )
  const target = `${task}/${m0b.address}`
  const balance0 = h.balance(challenger.address)
  h.ok(challenger, { type: 'challenge', claimId: target, bond: minBond(h) })
  const answer = cast.answer(h, 'ch-0', verdict)
  assert.equal(answer.code, 'OK')
  return { h, target, verifier: answer.verifier, balance0 }
}

const ownerAnswered = (cidB?: string) => answered('owner', cidB)

function appeal(h: Harness, who: KeyPair, bond = minBond(h)) {
  return h.one(who, { type: 'appeal', challengeId: 'ch-0', bond })
}

/** The seats of the panel vote `verdicts`, one each, in seat order. */
function panelVotes(h: Harness, verdicts: readonly Verdict[]): void {
  const c = chal(h)
  verdicts.forEach((verdict, i) => {
    const a = key(c.panel[i] as string)
    h.ok(a, { type: 'arbiterVote', challengeId: 'ch-0', verdict, proof: arbiterProof(a.secretKey, 'ch-0', 0) })
  })
}

describe("chain/appeal: the challenger appeals a verifier's 'owner' to an L3 panel", () => {
  it("'owner' does not settle: the challenge waits appealBlocks for an appeal, nothing moves", () => {
    const { h, target, verifier } = ownerAnswered()
    const c = chal(h)
    assert.equal(c.stage, 'appealable')
    assert.equal(c.verifierVerdict, 'owner')
    assert.equal(c.deadline, h.height + h.params.appealBlocks)
    assert.equal(claim(h, target).status, 'challenged')
    assert.deepEqual(
      new ChainReader(h.app.state).appealable(challenger.address).map((x) => x.id),
      ['ch-0'],
    )
    assert.deepEqual(new ChainReader(h.app.state).appealable(verifier.address), [])
    assert.ok(
      new ChainReader(h.app.state).openChallenges().some((x) => x.id === 'ch-0'),
      'still open',
    )
  })

  it('an appeal within the window escrows the second bond and opens a panel without the verifier', () => {
    const { h, target, verifier, balance0 } = ownerAnswered()
    const stake0 = h.stake(m0b.address)
    const vstake0 = h.stake(verifier.address)
    const r = appeal(h, challenger, minBond(h) + 7n)
    assert.equal(r.code, 'OK', r.log)
    const c = chal(h)
    assert.equal(c.stage, 'l3')
    assert.equal(c.appealBond, minBond(h) + 7n)
    assert.equal(c.panel.length, 3)
    assert.ok(!c.panel.includes(verifier.address), 'the verifier does not judge its own verdict')
    assert.equal(c.deadline, h.height + h.params.l3DeadlineBlocks)
    assert.equal(h.balance(challenger.address), balance0 - 2n * minBond(h) - 7n - 2n * h.params.minFee)
    assert.equal(h.stake(m0b.address), stake0, 'nothing slashed before the panel')
    assert.equal(h.stake(verifier.address), vstake0)
    assert.equal(claim(h, target).status, 'challenged')
    assert.equal(new ChainReader(h.app.state).arbiterDuties(c.panel[0] as string)[0]?.challengeId, 'ch-0')
  })

  it('the appeal in the window’s last block is taken', () => {
    const { h } = ownerAnswered()
    h.runTo(chal(h).deadline - 1)
    assert.equal(appeal(h, challenger).code, 'OK')
    assert.equal(chal(h).stage, 'l3')
  })

  it('an appeal by anyone but the challenger is refused, naming the challenger', () => {
    const { h, verifier } = ownerAnswered()
    for (const who of [bystander, m0b, verifier]) {
      const r = appeal(h, who)
      assert.equal(r.code, 'ERR_NOT_CHALLENGER')
      assert.match(r.log, new RegExp(`only the challenger of ch-0 \\(${challenger.address}\\)`))
    }
    assert.equal(chal(h).stage, 'appealable')
  })

  it('an appeal after the window is refused: the owner has won', () => {
    const { h } = ownerAnswered()
    h.runTo(chal(h).deadline)
    const r = appeal(h, challenger)
    assert.equal(r.code, 'ERR_WRONG_STAGE')
    assert.match(r.log, /ch-0 is at stage resolved/)
  })

  it('an appeal bond below the least challenge bond is refused, naming the least', () => {
    const { h } = ownerAnswered()
    const r = appeal(h, challenger, minBond(h) - 1n)
    assert.equal(r.code, 'ERR_BOND_TOO_SMALL')
    assert.match(r.log, new RegExp(`below ${minBond(h)}`))
    assert.equal(chal(h).stage, 'appealable')
    assert.equal(chal(h).appealBond, 0n)
  })

  it('no appeal: the owner wins when the window ends, the one bond split between owner and proposer', () => {
    const { h, target, verifier } = ownerAnswered(cid('grad-A'))
    const owner0 = h.balance(m0b.address)
    const vstake0 = h.stake(verifier.address)
    h.runTo(chal(h).deadline - 1)
    assert.equal(chal(h).stage, 'appealable')
    h.block()
    assert.equal(chal(h).outcome, 'owner')
    assert.equal(chal(h).settledHeight, h.height)
    assert.equal(claim(h, target).status, 'accepted')
    assert.equal(h.balance(m0b.address) - owner0, minBond(h) / 2n)
    assert.equal(h.stake(verifier.address), vstake0)
  })

  it("no appeal: the claim's challenge period gets back the blocks the challenge held it, and another challenger convicts it", () => {
    // A friendly challenge of a wrong claim, a verifier answering 'owner', no appeal by its challenger.
    const { h, target } = ownerAnswered()
    const until0 = claim(h, target).challengeUntil
    const opened = chal(h).openedHeight
    h.runTo(chal(h).deadline)
    assert.equal(chal(h).outcome, 'owner')
    const reopened = claim(h, target)
    assert.equal(reopened.status, 'accepted')
    assert.equal(reopened.challengeUntil, until0 + (h.height - opened))
    // Past the first period, inside the blocks given back.
    h.runTo(until0 + 1)
    assert.ok(h.height <= reopened.challengeUntil)
    assert.equal(claim(h, target).status, 'accepted')
    // Another node that re-executed it challenges it in the blocks given back, and its verifier convicts.
    const again = h.one(bystander, { type: 'challenge', claimId: target, bond: minBond(h) })
    assert.equal(again.code, 'OK', again.log)
    const answer = cast.answer(h, 'ch-1', 'challenger')
    assert.equal(answer.code, 'OK')
    const c1 = h.app.state.challenges.get('ch-1') as Challenge
    assert.equal(c1.stage, 'l3')
    for (const [i, a] of c1.panel.entries())
      if (i < 2)
        h.ok(key(a), {
          type: 'arbiterVote',
          challengeId: 'ch-1',
          verdict: 'fault',
          proof: arbiterProof(key(a).secretKey, 'ch-1', 0),
        })
    assert.equal(claim(h, target).status, 'slashed')
  })

  it("a panel's 'owner' is final: the period is not given back", () => {
    const { h, target } = ownerAnswered(cid('grad-A'))
    const until0 = claim(h, target).challengeUntil
    assert.equal(appeal(h, challenger).code, 'OK')
    panelVotes(h, ['no_fault', 'no_fault'])
    assert.equal(chal(h).outcome, 'owner')
    assert.equal(claim(h, target).challengeUntil, until0)
  })

  it('the panel convicts: owner slashed, the overturned verifier slashed, the challenger gets both bonds and the bounty', () => {
    const { h, target, verifier, balance0 } = ownerAnswered()
    const stake0 = h.stake(m0b.address)
    const vstake0 = h.stake(verifier.address)
    assert.equal(appeal(h, challenger).code, 'OK')
    const slashed0 = h.app.state.globals.slashed
    panelVotes(h, ['fault', 'fault'])
    assert.equal(chal(h).outcome, 'challenger')
    assert.equal(claim(h, target).status, 'slashed')
    const ownerLoss = bps(stake0, h.params.slashFractionBps)
    const verifierLoss = bps(vstake0, h.params.overturnedVerifierSlashBps)
    assert.ok(verifierLoss > 0n)
    assert.equal(h.stake(m0b.address), stake0 - ownerLoss)
    assert.equal(h.stake(verifier.address), vstake0 - verifierLoss, 'slashed by overturnedVerifierSlashBps')
    assert.equal(h.app.state.globals.slashed - slashed0, ownerLoss + verifierLoss, 'through slash: supply accounts')
    assert.equal(
      h.balance(challenger.address),
      balance0 + bountyFor(h.params, ownerLoss) - 2n * h.params.minFee,
      'both bonds back plus the bounty (less its two fees)',
    )
  })

  it('a panel finding the content unavailable convicts the owner but spares the verifier (it was served then)', () => {
    const { h, target, verifier } = ownerAnswered()
    const vstake0 = h.stake(verifier.address)
    assert.equal(appeal(h, challenger).code, 'OK')
    panelVotes(h, ['unavailable', 'unavailable'])
    assert.equal(chal(h).outcome, 'unavailable')
    assert.equal(claim(h, target).status, 'slashed')
    assert.equal(h.stake(verifier.address), vstake0)
  })

  it('the panel clears the owner: the challenger loses both bonds, split between owner and proposer', () => {
    const { h, target, verifier, balance0 } = ownerAnswered(cid('grad-A'))
    const owner0 = h.balance(m0b.address)
    const stake0 = h.stake(m0b.address)
    const vstake0 = h.stake(verifier.address)
    const appealBond = minBond(h) + 1n
    assert.equal(appeal(h, challenger, appealBond).code, 'OK')
    panelVotes(h, ['no_fault', 'no_fault'])
    assert.equal(chal(h).outcome, 'owner')
    assert.equal(claim(h, target).status, 'accepted')
    const bonds = minBond(h) + appealBond
    assert.equal(h.balance(m0b.address) - owner0, bonds / 2n, 'half of both bonds to the owner')
    assert.equal(h.balance(challenger.address), balance0 - bonds - 2n * h.params.minFee)
    assert.equal(h.stake(m0b.address), stake0)
    assert.equal(h.stake(verifier.address), vstake0, 'the verifier was right')
  })

  it('a panel that cannot decide lapses and returns both bonds', () => {
    const { h, target, verifier, balance0 } = ownerAnswered()
    const until0 = claim(h, target).challengeUntil
    const vstake0 = h.stake(verifier.address)
    assert.equal(appeal(h, challenger).code, 'OK')
    panelVotes(h, ['fault', 'no_fault', 'unavailable'])
    assert.equal(chal(h).outcome, 'lapsed')
    assert.equal(claim(h, target).status, 'flagged', 'back to what it was (L1 mismatch)')
    assert.equal(
      claim(h, target).challengeUntil - until0,
      h.height - chal(h).openedHeight,
      'and its period given the blocks the challenge held it',
    )
    assert.equal(h.balance(challenger.address), balance0 - 2n * h.params.minFee, 'both bonds back')
    assert.equal(h.stake(verifier.address), vstake0)
  })

  it("a 'challenger' answer escalates at once: there is nothing to appeal", () => {
    const { h } = answered('challenger')
    assert.equal(chal(h).stage, 'l3')
    assert.equal(chal(h).verifierVerdict, 'challenger')
    assert.equal(appeal(h, challenger).code, 'ERR_WRONG_STAGE')
    assert.equal(chal(h).appealBond, 0n)
  })
})
