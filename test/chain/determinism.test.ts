/**
 * Seeded random transaction sequences, each applied by two independent application instances
 * (the second also runs every transaction through checkTx first, as a mempool does, which
 * exercises the rollback journal). After every block: same app hash, same results, and token
 * supply = genesis + minted − slashed with every token accounted for. A failure names its seed.
 */
import assert from 'node:assert/strict'
import { encodeEvidence, signEvidenceVote } from '../../src/chain/evidence.ts'
import { arbiterProof, drawOf } from '../../src/chain/game.ts'
import type { KeyPair } from '../../src/chain/keys.ts'
import { ROLES, type Role } from '../../src/chain/params.ts'
import { commitmentOf, type Msg } from '../../src/chain/tx.ts'
import { verifierTicket } from '../../src/chain/verifier-draw.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { cid, Harness, keys } from './harness.ts'

const SEQUENCES = Number(process.env.R3MES_CHAIN_SEQUENCES ?? 2000)
const BLOCKS = 4
const LONG_SEQUENCES = Number(process.env.R3MES_CHAIN_LONG_SEQUENCES ?? 40)
const LONG_BLOCKS = 30
const validators = keys('val', 3)
const miners = [keys('miner0', 2), keys('miner1', 2)]
const verifiers = keys('verifier', 2)
const arbiters = keys('arbiter', 3)
const users = keys('user', 2)
const everyone = [...validators, ...miners.flat(), ...verifiers, ...arbiters, ...users]
const byAddress = new Map(everyone.map((k) => [k.address, k]))
const cids = ['a', 'b', 'c'].map((l) => cid(`grad-${l}`))
const salt = (m: string, t: string): string => toHex(sha256(`${m}/${t}`)).slice(0, 32)

/** A plausible (often valid, sometimes not) transaction for the current state. */
function randomTx(h: Harness, rng: SeededRandom, picks: Map<string, string>): Uint8Array {
  const s = h.app.state
  const who = rng.pick(everyone)
  const amount = (): bigint => BigInt(rng.nextInt(4)) * 10n ** BigInt(rng.nextInt(12))
  let signer = who
  let msg: Msg
  const live = s.challenges.entries().some(([, c]) => c.stage === 'l2' || c.stage === 'l3')
  const targets = s.claims
    .entries()
    .map(([, c]) => c)
    .filter((c) => (c.status === 'accepted' || c.status === 'flagged') && c.flag !== 'copied')
  const choice = live && rng.chance(0.5) ? 7 : targets.length > 0 && rng.chance(0.25) ? 6 : rng.nextInt(13)
  switch (choice) {
    case 0:
      msg = { type: 'transfer', to: rng.pick(everyone).address, amount: amount() }
      break
    case 1:
      msg = { type: 'stake', amount: amount() }
      break
    case 2:
      msg = { type: 'unstake', amount: amount() }
      break
    case 3: {
      const roles = ROLES.filter(() => rng.chance(0.4)) as Role[]
      msg = {
        type: 'register',
        roles: roles.length > 0 ? roles : ['verifier'],
        subnet: rng.chance(0.8) ? rng.nextInt(2) : null,
      }
      break
    }
    case 4:
    case 5: {
      const all = s.tasks.entries().map(([, t]) => t)
      const current = all.filter((t) => t.window === s.globals.currentWindow)
      const tasks = current.length > 0 && rng.chance(0.9) ? current : all
      if (tasks.length === 0) return h.tx(who, { type: 'transfer', to: who.address, amount: 1n })
      const t = rng.pick(tasks)
      signer = rng.chance(0.9) ? (byAddress.get(rng.pick(t.miners)) as KeyPair) : who
      const key = `${t.id}/${signer.address}`
      if (!picks.has(key)) {
        const c = rng.pick(cids)
        picks.set(key, c)
        msg = {
          type: 'commit',
          taskId: t.id,
          commitment: commitmentOf(c, signer.address, t.id, salt(signer.address, t.id)),
        }
      } else {
        const meta = rng.chance(0.05) ? 'x'.repeat(300) : '{"tokens":1}'
        msg = {
          type: 'reveal',
          taskId: t.id,
          cid: picks.get(key) as string,
          salt: salt(signer.address, t.id),
          metadata: meta,
        }
      }
      break
    }
    case 6: {
      const claims = (targets.length > 0 && rng.chance(0.8) ? targets : s.claims.entries().map(([, c]) => c)).map(
        (c) => c.id,
      )
      if (claims.length === 0) return h.tx(who, { type: 'stake', amount: 1n })
      const bond = h.params.baseReward * BigInt(h.params.bondMultiple) - (rng.chance(0.2) ? 1n : 0n)
      msg = { type: 'challenge', claimId: rng.pick(claims), bond }
      break
    }
    case 7:
    case 8: {
      const open = s.challenges
        .entries()
        .map(([, c]) => c)
        .filter((c) => c.stage === 'l2' || c.stage === 'l3')
      if (open.length === 0) return h.tx(who, { type: 'transfer', to: who.address, amount: 1n })
      const c = rng.pick(open)
      if (c.stage === 'l2') {
        // Some verifier (now and then an eligible one that is not selected) claims during the
        // claim phase; afterwards the seat (or anyone) answers.
        const claiming = s.globals.height + 1 <= c.claimUntil
        const seatTaken = c.verifier !== null && !claiming
        signer = seatTaken && rng.chance(0.9) ? (byAddress.get(c.verifier as string) as KeyPair) : rng.pick(verifiers)
        const ticket = verifierTicket(
          signer.secretKey,
          drawOf(c),
          c.eligible[signer.address] ?? 0n,
          c.eligibleStake,
          h.params,
        )
        msg =
          claiming && rng.chance(0.9)
            ? { type: 'verifierClaim', challengeId: c.id, proof: ticket.proof }
            : {
                type: 'verifierResponse',
                challengeId: c.id,
                verdict: rng.chance(0.5) ? 'owner' : 'challenger',
                proof: ticket.proof,
              }
      } else {
        signer = byAddress.get(rng.pick(c.panel)) as KeyPair
        const proof = arbiterProof(signer.secretKey, c.id, c.panelRound)
        msg = { type: 'arbiterVote', challengeId: c.id, verdict: rng.chance(0.5) ? 'fault' : 'no_fault', proof }
      }
      break
    }
    case 9: {
      // Mostly the aggregations due now, by their drawn aggregator; sometimes any, early or late.
      const records = s.aggregations
        .entries()
        .map(([, a]) => a)
        .filter((a) => a.aggregator !== null)
      if (records.length === 0) return h.tx(who, { type: 'stake', amount: 1n })
      const due = records.filter((a) => a.stage === 'due')
      const agg = rng.pick(due.length > 0 && rng.chance(0.8) ? due : records)
      signer = byAddress.get(agg.aggregator as string) as KeyPair
      const subnet = agg.subnet
      const claims = s.claims
        .entries()
        .map(([, c]) => c)
        .filter(
          (c) => c.kind === 'submission' && c.window === agg.window && c.subnet === subnet && c.status === 'accepted',
        )
        .map((c) => c.id)
      msg = {
        type: 'aggregate',
        window: agg.window,
        subnet,
        claims,
        adapterCid: cid(`adapter-${agg.window}-${rng.nextInt(2)}`),
      }
      break
    }
    case 10:
      msg = rng.chance(0.5)
        ? { type: 'propose', content: { kind: 'dataset', cid: cid(`ds-${rng.nextInt(3)}`), name: 'ds', shardCount: 4 } }
        : { type: 'propose', content: { kind: 'params', changes: { bountyMultiple: 10 + rng.nextInt(11) } } }
      break
    case 11: {
      const ps = s.proposals.entries().map(([id]) => id)
      msg = {
        type: 'vote',
        proposalId: ps.length > 0 ? rng.pick(ps) : 'p-0',
        option: rng.pick(['yes', 'no', 'abstain'] as const),
      }
      break
    }
    default:
      return h.tx(who, { type: 'transfer', to: who.address, amount: 1n }, { nonce: rng.nextInt(3) })
  }
  return h.tx(signer, msg)
}

interface Stats {
  total: number
  accepted: number
  codes: Set<string>
  games: { resolved: number; escalated: number; slashed: number; silentVerifiers: number }
  /** Blocks after which at least one window had been pruned. */
  prunedBlocks: number
}

/** Run `count` sequences of `blocks` blocks from seeds [first, first + count). */
function runSequences(first: number, count: number, blocks: number, maxTxs: number, windowBlocks: number): Stats {
  const stats: Stats = {
    total: 0,
    accepted: 0,
    codes: new Set(),
    games: { resolved: 0, escalated: 0, slashed: 0, silentVerifiers: 0 },
    prunedBlocks: 0,
  }
  for (let seed = first; seed < first + count; seed++) {
    const rng = new SeededRandom(seed)
    const h = new Harness({
      validators,
      miners,
      verifiers,
      arbiters,
      funded: users,
      twin: true,
      params: {
        windowBlocks,
        replication: 1 + rng.nextInt(2),
        shardsPerWindow: 1,
        l2DeadlineBlocks: 2 + rng.nextInt(2),
        verifierClaimBlocks: 1,
        verifierExpectedCount: 1 + rng.nextInt(2),
        l3DeadlineBlocks: 2,
        challengePeriodBlocks: 3,
        aggregationDeadlineBlocks: 2,
        votingPeriodBlocks: 2,
        unbondingBlocks: 2,
        quorumBps: 100,
        retentionBlocks: 1 + rng.nextInt(4),
      },
    })
    h.hashLabel = `seed-${seed}`
    h.proposer = rng.pick(validators).address
    const picks = new Map<string, string>()
    const resolved = new Set<string>()
    const escalated = new Set<string>()
    const silent = new Set<string>()
    try {
      for (let b = 0; b < blocks; b++) {
        const txs = Array.from({ length: rng.nextInt(maxTxs + 1) }, () => randomTx(h, rng, picks))
        const evidence: Uint8Array[] = []
        if (rng.chance(0.03) && h.height > 0) {
          const v = rng.pick(validators)
          evidence.push(
            encodeEvidence({
              validator: v.address,
              height: h.height,
              round: 0,
              voteA: signEvidenceVote(v, h.genesis.chainId, h.height, 0, {
                type: 'precommit',
                blockHash: toHex(sha256('a', String(h.height))),
              }),
              voteB: signEvidenceVote(v, h.genesis.chainId, h.height, 0, {
                type: 'precommit',
                blockHash: toHex(sha256(rng.chance(0.8) ? 'b' : 'a', String(h.height))),
              }),
            }),
          )
        }
        const results = h.block(txs, evidence)
        for (const [, c] of h.app.state.challenges.entries()) {
          if (c.stage === 'resolved') resolved.add(c.id)
          if (c.panelSeed !== null) escalated.add(c.id)
          if (c.tried.length > 0) silent.add(c.id)
        }
        if (h.app.state.globals.prunedWindows > 0) stats.prunedBlocks++
        for (const r of results) stats.codes.add(r.code)
        stats.accepted += results.filter((r) => r.code === 'OK').length
        stats.total += results.length
      }
    } catch (error) {
      assert.fail(`seed ${seed}: ${(error as Error).stack}`)
    }
    stats.games.resolved += resolved.size
    stats.games.escalated += escalated.size
    stats.games.silentVerifiers += silent.size
    if (h.app.state.globals.slashed > 0n) stats.games.slashed++
  }
  if (process.env.R3MES_CHAIN_STATS) process.stderr.write(`${JSON.stringify({ ...stats, codes: [...stats.codes] })}\n`)
  assert.ok(stats.accepted > stats.total / 5, `only ${stats.accepted} of ${stats.total} transactions accepted`)
  return stats
}

describe('chain/determinism: seeded random transaction sequences on two independent instances', function () {
  this.timeout(120_000)

  it(`${SEQUENCES} short sequences (${BLOCKS} blocks): same app hash and results at every height, supply conserved`, () => {
    const stats = runSequences(0, SEQUENCES, BLOCKS, 3, 2)
    for (const code of ['OK', 'ERR_WRONG_NONCE', 'ERR_METADATA_TOO_LARGE', 'ERR_WRONG_WINDOW', 'ERR_DUPLICATE'])
      assert.ok(stats.codes.has(code), `the sequences never produced ${code}: ${[...stats.codes].join(' ')}`)
  })

  it(`${LONG_SEQUENCES} long sequences (${LONG_BLOCKS} blocks) through whole verification games: same app hashes`, () => {
    const stats = runSequences(1_000_000, LONG_SEQUENCES, LONG_BLOCKS, 4, 4)
    const g = stats.games
    assert.ok(
      g.resolved > 0 && g.escalated > 0 && g.slashed > 0 && g.silentVerifiers > 0,
      `games: ${JSON.stringify(g)}`,
    )
    assert.ok(stats.prunedBlocks > 0, 'no sequence pruned a window')
    for (const code of ['ERR_BOND_TOO_SMALL', 'ERR_NOT_CHALLENGEABLE', 'ERR_CHALLENGE_CLOSED'])
      assert.ok(stats.codes.has(code), `the sequences never produced ${code}: ${[...stats.codes].join(' ')}`)
  })
})
