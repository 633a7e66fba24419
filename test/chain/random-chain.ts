/**
 * Random chains for property tests: a fixed cast (3 validators, 2 subnets of 2 miners, 2
 * verifiers, 3 arbiters, 2 users) and a plausible (often valid, sometimes not) transaction for
 * whatever state a chain is in, so seeded sequences reach windows, claims, challenges, games,
 * aggregations, proposals and pruning.
 */
import { claimListDigest } from '../../src/chain/claim-list.ts'
import { arbiterProof, drawOf } from '../../src/chain/game.ts'
import type { KeyPair } from '../../src/chain/keys.ts'
import { ROLES, type Role } from '../../src/chain/params.ts'
import { commitmentOf, type Msg } from '../../src/chain/tx.ts'
import { unavailableBitmap } from '../../src/chain/unavailable-bitmap.ts'
import { verifierTicket } from '../../src/chain/verifier-draw.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import type { SeededRandom } from '../../src/runtime/random.ts'
import { cid, Harness, keys } from './harness.ts'

export const validators = keys('val', 3)
export const miners = [keys('miner0', 2), keys('miner1', 2)]
export const verifiers = keys('verifier', 2)
export const arbiters = keys('arbiter', 3)
export const users = keys('user', 2)
export const everyone = [...validators, ...miners.flat(), ...verifiers, ...arbiters, ...users]
const byAddress = new Map(everyone.map((k) => [k.address, k]))
const cids = ['a', 'b', 'c'].map((l) => cid(`grad-${l}`))
const salt = (m: string, t: string): string => toHex(sha256(`${m}/${t}`)).slice(0, 32)

/** A plausible (often valid, sometimes not) transaction for the current state. */
export function randomTx(h: Harness, rng: SeededRandom, picks: Map<string, string>): Uint8Array {
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
                verdict: rng.pick(['owner', 'challenger', 'unavailable'] as const),
                proof: ticket.proof,
              }
      } else {
        signer = byAddress.get(rng.pick(c.panel)) as KeyPair
        const proof = arbiterProof(signer.secretKey, c.id, c.panelRound)
        msg = {
          type: 'arbiterVote',
          challengeId: c.id,
          verdict: rng.pick(['fault', 'no_fault', 'unavailable'] as const),
          proof,
        }
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
      // Some left out as unavailable: each opens an availability dispute.
      const out = new Set(claims.filter(() => rng.chance(0.2)))
      msg = {
        type: 'aggregate',
        window: agg.window,
        subnet,
        claimsDigest: claimListDigest(claims.filter((id) => !out.has(id))),
        unavailable: unavailableBitmap(claims, out),
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

/** A chain of the cast with short windows, games and retention, its parameters drawn from `rng`. */
export function randomHarness(rng: SeededRandom, windowBlocks: number, twin = false): Harness {
  return new Harness({
    validators,
    miners,
    verifiers,
    arbiters,
    funded: users,
    twin,
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
}
