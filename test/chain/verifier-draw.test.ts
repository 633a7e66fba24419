import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { drawOf } from '../../src/chain/game.ts'
import type { KeyPair } from '../../src/chain/keys.ts'
import type { Challenge } from '../../src/chain/state.ts'
import { commitmentOf } from '../../src/chain/tx.ts'
import {
  betterTicket,
  isSelected,
  isVerifierSelected,
  verifierAlpha,
  verifierTicket,
} from '../../src/chain/verifier-draw.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { vrfVerify } from '../../src/codec/vrf.ts'
import { cid, Harness, keys } from './harness.ts'

/** Deterministic stand-ins for VRF outputs: uniform 64-byte strings. */
const beta = (i: number): Uint8Array => new Uint8Array(createHash('sha512').update(`beta/${i}`).digest())

describe('chain/verifier-draw: stake-weighted VRF sortition of L2 verifiers', () => {
  it('a lone verifier, or one holding ≥ total / expected, is selected by every output', () => {
    for (let i = 0; i < 500; i++) {
      assert.ok(isSelected(beta(i), 7n, 7n, 1), 'lone verifier')
      assert.ok(isSelected(beta(i), 20n, 100n, 5), 'stake = total / expected')
      assert.ok(isSelected(beta(i), 50n, 100n, 2), 'two equal verifiers, expected 2')
    }
    assert.equal(isSelected(beta(0), 0n, 100n, 5), false, 'no stake, never')
  })

  it('a ticket selects exactly when its output alone says so (no proof made for the rest)', () => {
    const draw = { challengeId: 'ch-7', seed: toHex(sha256('seed')), attempt: 1 }
    let selected = 0
    for (const key of keys('draw-verifier', 60)) {
      const ticket = verifierTicket(key.secretKey, draw, 10n, 200n, { verifierExpectedCount: 3 })
      assert.equal(isVerifierSelected(key.secretKey, draw, 10n, 200n, { verifierExpectedCount: 3 }), ticket.selected)
      if (ticket.selected) selected++
    }
    assert.ok(selected > 0 && selected < 60, `${selected} of 60 selected: both answers were checked`)
  })

  it('selects `expected` verifiers on average, weighted by stake, and rarely nobody', () => {
    const n = 20
    const expected = 5
    const trials = 2000
    let total = 0
    let none = 0
    for (let t = 0; t < trials; t++) {
      let selected = 0
      for (let v = 0; v < n; v++) if (isSelected(beta(t * n + v), 10n, 10n * BigInt(n), expected)) selected++
      total += selected
      if (selected === 0) none++
    }
    const mean = total / trials
    assert.ok(Math.abs(mean - expected) < 0.2, `mean selected ${mean}, expected ${expected}`)
    // (1 − 5/20)^20 ≈ 0.32 %: about 6 of 2000; far above that would mean a broken threshold.
    assert.ok(none < 20, `nobody selected in ${none} of ${trials} attempts`)
    // Stake 3 against stake 1 (expected 1 of total 100): selected about 3× as often.
    let heavy = 0
    let light = 0
    for (let t = 0; t < 20_000; t++) {
      if (isSelected(beta(t), 3n, 100n, 1)) heavy++
      if (isSelected(beta(t + 1_000_000), 1n, 100n, 1)) light++
    }
    assert.ok(heavy / light > 2.4 && heavy / light < 3.6, `heavy ${heavy}, light ${light}`)
  })

  it('ranks tickets by u / stake exactly, ties to the lower address', () => {
    const low = new Uint8Array(64)
    low[0] = 0x10
    const high = new Uint8Array(64)
    high[0] = 0x30
    assert.ok(betterTicket({ beta: low, stake: 1n, address: 'b' }, { beta: high, stake: 1n, address: 'a' }))
    // 0x30 / 4 < 0x10 / 1: more stake can win with a higher output.
    assert.ok(betterTicket({ beta: high, stake: 4n, address: 'b' }, { beta: low, stake: 1n, address: 'a' }))
    assert.ok(betterTicket({ beta: low, stake: 1n, address: 'a' }, { beta: low, stake: 1n, address: 'b' }))
    assert.ok(!betterTicket({ beta: low, stake: 1n, address: 'b' }, { beta: low, stake: 1n, address: 'a' }))
  })

  it('a ticket carries an RFC 9381 proof the chain verifies over the attempt’s input', () => {
    const [v] = keys('verifier', 1) as [KeyPair]
    const draw = { challengeId: 'ch-3', seed: toHex(sha256('block')), attempt: 2 }
    const t = verifierTicket(v.secretKey, draw, 10n, 10n, { verifierExpectedCount: 1 })
    assert.equal(t.selected, true)
    const checked = vrfVerify(v.publicKey, verifierAlpha(draw), Buffer.from(t.proof, 'hex'))
    assert.equal(toHex(checked as Uint8Array), t.beta)
    const other = verifierTicket(v.secretKey, { ...draw, attempt: 3 }, 10n, 10n, { verifierExpectedCount: 1 })
    assert.notEqual(other.beta, t.beta, 'each attempt is a fresh draw')
  })
})

const validators = keys('val', 3)
const miners = [keys('miner0', 2), keys('miner1', 2)]
const arbiters = keys('arbiter', 4)
const [challenger] = keys('user', 1) as [KeyPair]
const [m0a, m0b] = miners[0] as [KeyPair, KeyPair]
const salt = (label: string): string => toHex(sha256(label)).slice(0, 32)

/** A network with `verifiers`, both subnet-0 miners revealing the same CID, and `ch-0` open on m0a's claim. */
function challenged(verifiers: KeyPair[], params: Record<string, unknown> = {}, label = 'block'): Harness {
  const h = new Harness({
    validators,
    miners,
    verifiers,
    arbiters,
    funded: [challenger],
    twin: true,
    params: { replication: 2, shardsPerWindow: 1, l2DeadlineBlocks: 5, verifierClaimBlocks: 2, ...params },
  })
  h.hashLabel = label
  h.block()
  const A = cid('grad-A')
  h.block(
    [m0a, m0b].map((m) =>
      h.tx(m, { type: 'commit', taskId: '0.0.0', commitment: commitmentOf(A, m.address, '0.0.0', salt(m.address)) }),
    ),
  )
  h.block(
    [m0a, m0b].map((m) => h.tx(m, { type: 'reveal', taskId: '0.0.0', cid: A, salt: salt(m.address), metadata: '' })),
  )
  const bond = h.params.baseReward * BigInt(h.params.bondMultiple)
  h.ok(challenger, { type: 'challenge', claimId: `0.0.0/${m0a.address}`, bond })
  return h
}

const chal = (h: Harness): Challenge => h.app.state.challenges.get('ch-0') as Challenge

function ticketOf(h: Harness, v: KeyPair) {
  const c = chal(h)
  return verifierTicket(v.secretKey, drawOf(c), c.eligible[v.address] ?? 0n, c.eligibleStake, h.params)
}

describe('chain/verifier-draw: claiming the seat and answering', () => {
  it('a local testnet with a single verifier can always answer a challenge', () => {
    const [solo] = keys('verifier', 1) as [KeyPair]
    for (const label of ['a', 'b', 'c']) {
      const h = challenged([solo], {}, label)
      const t = ticketOf(h, solo)
      assert.equal(t.selected, true, 'a lone verifier is always selected')
      h.ok(solo, { type: 'verifierClaim', challengeId: 'ch-0', proof: t.proof })
      h.runTo(chal(h).claimUntil)
      h.ok(solo, { type: 'verifierResponse', challengeId: 'ch-0', verdict: 'owner', proof: t.proof })
      h.runTo(chal(h).deadline)
      assert.equal(chal(h).outcome, 'owner')
    }
  })

  it('only selected, eligible verifiers with a valid proof take the seat; a better ticket takes it over', () => {
    const verifiers = keys('verifier', 8)
    // Expected 2 of 8 equal stakes: each is selected with probability 1/4. Take the first block
    // hashes that select at least two and leave one out (a fixed choice: the draws are deterministic).
    const selectedOf = (x: Harness) => verifiers.filter((v) => ticketOf(x, v).selected)
    let h = challenged(verifiers, { verifierExpectedCount: 2, verifierClaimBlocks: 4, l2DeadlineBlocks: 9 })
    for (let label = 0; selectedOf(h).length < 2 || selectedOf(h).length === verifiers.length; label++) {
      assert.ok(label < 20, 'twenty draws without two selected verifiers: the threshold is off')
      h = challenged(
        verifiers,
        { verifierExpectedCount: 2, verifierClaimBlocks: 4, l2DeadlineBlocks: 9 },
        `try-${label}`,
      )
    }
    const selected = selectedOf(h)
    const unselected = verifiers.find((v) => !ticketOf(h, v).selected)
    assert.ok(selected.length >= 1 && unselected !== undefined, `selected ${selected.length} of ${verifiers.length}`)
    const notVerifier = validators[0] as KeyPair
    const c0 = chal(h)
    const codes = h.block([
      h.tx(unselected, { type: 'verifierClaim', challengeId: 'ch-0', proof: ticketOf(h, unselected).proof }),
      h.tx(notVerifier, { type: 'verifierClaim', challengeId: 'ch-0', proof: ticketOf(h, unselected).proof }),
      h.tx(selected[0] as KeyPair, {
        type: 'verifierClaim',
        challengeId: 'ch-0',
        proof: ticketOf(h, unselected).proof,
      }),
    ])
    assert.deepEqual(
      codes.map((r) => r.code),
      ['ERR_NOT_SELECTED', 'ERR_NOT_SELECTED', 'ERR_BAD_VRF_PROOF'],
      codes.map((r) => r.log).join(' | '),
    )
    assert.match(codes[0]?.log ?? '', /does not select/)
    assert.match(codes[1]?.log ?? '', /not an eligible verifier/)
    assert.equal(chal(h).verifier, null, 'refused claims leave the seat empty')
    // Every selected verifier claims, worst ticket first: each better one takes the seat over.
    const ranked = [...selected].sort((a, b) => {
      const ta = {
        beta: Buffer.from(ticketOf(h, a).beta, 'hex'),
        stake: c0.eligible[a.address] as bigint,
        address: a.address,
      }
      const tb = {
        beta: Buffer.from(ticketOf(h, b).beta, 'hex'),
        stake: c0.eligible[b.address] as bigint,
        address: b.address,
      }
      return betterTicket(ta, tb) ? 1 : -1
    })
    const results = h.block(
      ranked.map((v) => h.tx(v, { type: 'verifierClaim', challengeId: 'ch-0', proof: ticketOf(h, v).proof })),
    )
    assert.deepEqual(
      results.map((r) => r.code),
      ranked.map(() => 'OK'),
    )
    const best = ranked[ranked.length - 1] as KeyPair
    assert.equal(chal(h).verifier, best.address, 'the best ticket holds the seat')
    // Answers wait for the claim phase to end; a worse ticket cannot take the seat back; claims after it are refused.
    const proof = ticketOf(h, best).proof
    assert.equal(
      h.one(best, { type: 'verifierResponse', challengeId: 'ch-0', verdict: 'owner', proof }).code,
      'ERR_WRONG_STAGE',
    )
    const worse = ranked[0] as KeyPair
    assert.equal(
      h.one(worse, { type: 'verifierClaim', challengeId: 'ch-0', proof: ticketOf(h, worse).proof }).code,
      worse === best ? 'ERR_DUPLICATE' : 'ERR_NOT_SELECTED',
    )
    h.runTo(c0.claimUntil)
    assert.equal(
      h.one(best, { type: 'verifierClaim', challengeId: 'ch-0', proof }).code,
      'ERR_DEADLINE_PASSED',
      'claim phase over',
    )
    const other = selected.find((v) => v.address !== best.address)
    if (other !== undefined)
      assert.equal(
        h.one(other, {
          type: 'verifierResponse',
          challengeId: 'ch-0',
          verdict: 'owner',
          proof: ticketOf(h, other).proof,
        }).code,
        'ERR_NOT_SELECTED',
        'only the seat answers',
      )
    const reward0 = h.balance(best.address)
    h.ok(best, { type: 'verifierResponse', challengeId: 'ch-0', verdict: 'owner', proof })
    assert.equal(h.balance(best.address) - reward0, h.params.verifierReward - h.params.minFee, 'the answer is paid')
  })

  it('the queries give a verifier node its draws and an arbiter its seats', () => {
    const verifiers = keys('verifier', 3)
    const h = challenged(verifiers, {})
    const draws = h.app.query(`verifier-draws/${verifiers[0]?.address}`) as {
      challengeId: string
      seed: string
      attempt: number
      claimUntil: number
      deadline: number
      totalStake: string
      stakes: Record<string, string>
      expectedCount: number
      seat: string | null
    }[]
    assert.equal(draws.length, 1)
    const d = draws[0] as (typeof draws)[0]
    const c = chal(h)
    assert.deepEqual(
      [d.challengeId, d.seed, d.attempt, d.claimUntil, d.deadline, d.seat],
      ['ch-0', c.seed, 0, c.claimUntil, c.deadline, null],
    )
    assert.equal(BigInt(d.totalStake), c.eligibleStake)
    assert.equal(d.expectedCount, h.params.verifierExpectedCount)
    // The node's own computation from the query alone matches what the chain will check.
    const v = verifiers[0] as KeyPair
    const t = verifierTicket(
      v.secretKey,
      { challengeId: d.challengeId, seed: d.seed, attempt: d.attempt },
      BigInt(d.stakes[v.address] as string),
      BigInt(d.totalStake),
      { verifierExpectedCount: d.expectedCount },
    )
    assert.equal(t.selected, true, '3 equal verifiers, expected 5: all selected')
    assert.deepEqual(h.app.query(`verifier-draws/${m0a.address}`), [], 'the owner is not eligible')
    h.ok(v, { type: 'verifierClaim', challengeId: 'ch-0', proof: t.proof })
    h.runTo(d.claimUntil)
    h.ok(v, { type: 'verifierResponse', challengeId: 'ch-0', verdict: 'challenger', proof: t.proof })
    const panel = chal(h).panel
    assert.equal(panel.length, 3)
    for (const a of arbiters) {
      const duties = h.app.query(`arbiter-duties/${a.address}`) as { challengeId: string; round: number }[]
      assert.deepEqual(
        duties.map((x) => [x.challengeId, x.round]),
        panel.includes(a.address) ? [['ch-0', 0]] : [],
      )
    }
    assert.deepEqual(h.app.query('verifier-draws'), [], 'no open L2 attempt left')
  })
})
