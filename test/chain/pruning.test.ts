import assert from 'node:assert/strict'
import { arbiterProof, drawOf } from '../../src/chain/game.ts'
import type { KeyPair } from '../../src/chain/keys.ts'
import type { Challenge, Claim, Window } from '../../src/chain/state.ts'
import { commitmentOf } from '../../src/chain/tx.ts'
import { verifierTicket } from '../../src/chain/verifier-draw.ts'
import { windowKey } from '../../src/chain/windows.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { cid, Harness, keys } from './harness.ts'

const validators = keys('val', 3)
const miners = [keys('miner0', 2), keys('miner1', 2)]
const verifiers = keys('verifier', 2)
const arbiters = keys('arbiter', 3)
const [challenger] = keys('user', 1) as [KeyPair]
const everyone = [...validators, ...miners.flat(), ...verifiers, ...arbiters]
const byAddress = new Map(everyone.map((k) => [k.address, k]))
const key = (address: string | null): KeyPair => byAddress.get(address as string) as KeyPair
const [m0a] = miners[0] as [KeyPair, KeyPair]
const salt = (label: string): string => toHex(sha256(label)).slice(0, 32)

const PARAMS = {
  windowBlocks: 6,
  replication: 2,
  shardsPerWindow: 1,
  challengePeriodBlocks: 4,
  aggregationDeadlineBlocks: 2,
  retentionBlocks: 3,
  l2DeadlineBlocks: 3,
  verifierClaimBlocks: 1,
  l3DeadlineBlocks: 8,
}

function net(params: Record<string, unknown> = {}): Harness {
  return new Harness({
    validators,
    miners,
    verifiers,
    arbiters,
    funded: [challenger],
    twin: true,
    params: { ...PARAMS, ...params },
  })
}

/** Every assigned miner of the current window commits, then reveals its task's CID; subnet 1's miners only commit. */
function trainWindow(h: Harness): void {
  const w = h.app.state.globals.currentWindow
  const tasks = h.app.query(`tasks/${w}`) as { id: string; subnet: number; miners: string[] }[]
  const jobs = tasks.flatMap((t) => t.miners.map((m) => ({ t, m: key(m), c: cid(`grad-${t.id}`) })))
  h.block(
    jobs.map(({ t, m, c }) =>
      h.tx(m, { type: 'commit', taskId: t.id, commitment: commitmentOf(c, m.address, t.id, salt(m.address)) }),
    ),
  )
  const reveals = jobs.filter(({ t }) => t.subnet === 0)
  const results = h.block(
    reveals.map(({ t, m, c }) =>
      h.tx(m, { type: 'reveal', taskId: t.id, cid: c, salt: salt(m.address), metadata: '' }),
    ),
  )
  assert.deepEqual(
    results.map((r) => r.log),
    reveals.map(() => ''),
  )
}

/**
 * Run until every aggregation of window `id` has finished; its height. Nobody aggregates in
 * these tests, so each one that has accepted work spends its attempts on missed deadlines.
 */
function aggregationsFinished(h: Harness, id: number): number {
  const open = () =>
    h.app.state.aggregations
      .entries()
      .filter(([, a]) => a.window === id)
      .map(([, a]) => a)
  while (open().length === 0 || open().some((a) => a.finishedHeight === null)) h.block()
  return Math.max(...open().map((a) => a.finishedHeight as number))
}

function windowOf(h: Harness, id: number): Window | undefined {
  return h.app.state.windows.get(windowKey(id))
}

/** Everything of window `id` still in the state, table by table. */
function leftovers(h: Harness, id: number): Record<string, number> {
  const s = h.app.state
  const ofWindow = (k: string) => k.startsWith(`${id}.`) || k.startsWith(`agg/${id}/`)
  return {
    windows: s.windows.has(windowKey(id)) ? 1 : 0,
    tasks: s.tasks.sortedKeys().filter(ofWindow).length,
    commits: s.commits.sortedKeys().filter(ofWindow).length,
    claims: s.claims.sortedKeys().filter(ofWindow).length,
    cidFirstSeen: s.cidFirstSeen.entries().filter(([, v]) => ofWindow(v.taskId)).length,
  }
}

function pruned(h: Harness, path: string): string {
  try {
    h.app.query(path)
  } catch (error) {
    assert.equal((error as { code?: string }).code, 'ERR_PRUNED', (error as Error).message)
    return (error as Error).message
  }
  return assert.fail(`query ${path} was answered`)
}

describe('chain/pruning: finished windows leave the state after the retention period', () => {
  it('prunes a window’s tasks, commitments, claims and CID records once settled plus retention; queries say so', () => {
    const h = net()
    h.block()
    trainWindow(h)
    const claimId = `0.0.0/${m0a.address}`
    const until = (h.app.state.claims.get(claimId) as Claim).challengeUntil
    const finished = aggregationsFinished(h, 0)
    assert.equal(
      finished,
      until + PARAMS.aggregationDeadlineBlocks * 3,
      'due once the submissions settled, then three attempts missed',
    )
    const settled = Math.max(finished, until)
    h.runTo(settled + PARAMS.retentionBlocks - 1)
    const before = leftovers(h, 0)
    assert.deepEqual(before, { windows: 1, tasks: 2, commits: 4, claims: 2, cidFirstSeen: 1 }, 'kept until then')
    assert.equal(h.app.state.credits.size, 0, 'rewards vested before pruning')
    h.block()
    assert.deepEqual(leftovers(h, 0), { windows: 0, tasks: 0, commits: 0, claims: 0, cidFirstSeen: 0 })
    // Window 1 trained nothing: it finished at its close and goes with window 0.
    assert.deepEqual(h.app.query('pruned'), { prunedWindows: 2, retentionBlocks: PARAMS.retentionBlocks })
    assert.match(pruned(h, 'window/0'), /window 0 was pruned: the state keeps windows from 2 on/)
    pruned(h, 'tasks/0')
    pruned(h, `tasks/0/${m0a.address}`)
    pruned(h, 'claims/0')
    pruned(h, `claim/${claimId}`)
    pruned(h, 'task/0.0.0')
    assert.equal((h.app.query('window/2') as Window).id, 2, 'later windows are answered')
    const late = h.one(challenger, { type: 'challenge', claimId, bond: h.params.baseReward * 10n })
    assert.equal(late.code, 'ERR_UNKNOWN_CLAIM')
    assert.match(late.log, /was pruned/)
    assert.equal(h.app.query('claim/9.9.9/nobody'), null, 'a claim that never existed is null, not pruned')
    assert.equal(h.app.query('window/99'), null)
  })

  it('keeps a window while a dispute on it is open, and prunes the settled challenge with it', () => {
    const h = net()
    h.block()
    trainWindow(h)
    const claimId = `0.0.0/${m0a.address}`
    const claim = h.app.state.claims.get(claimId) as Claim
    // Challenge at the last allowed height, escalate, and let the panel take its time.
    h.runTo(claim.challengeUntil - 1)
    h.ok(challenger, { type: 'challenge', claimId, bond: h.params.baseReward * BigInt(h.params.bondMultiple) })
    const c0 = h.app.state.challenges.get('ch-0') as Challenge
    const v = verifiers.find((x) => Object.hasOwn(c0.eligible, x.address)) as KeyPair
    const ticket = verifierTicket(v.secretKey, drawOf(c0), c0.eligible[v.address] as bigint, c0.eligibleStake, h.params)
    h.ok(v, { type: 'verifierClaim', challengeId: 'ch-0', proof: ticket.proof })
    h.ok(v, { type: 'verifierResponse', challengeId: 'ch-0', verdict: 'challenger', proof: ticket.proof })
    const panel = (h.app.state.challenges.get('ch-0') as Challenge).panel
    const w0 = windowOf(h, 0) as Window
    h.runTo(
      w0.closeHeight + PARAMS.aggregationDeadlineBlocks + PARAMS.challengePeriodBlocks + PARAMS.retentionBlocks + 2,
    )
    assert.equal(leftovers(h, 0).claims, 2, 'the disputed window stays')
    assert.equal(h.app.state.globals.prunedWindows, 0)
    assert.equal((h.app.query('challenges') as unknown[]).length, 1)
    for (const a of panel.slice(0, 2))
      h.ok(key(a), {
        type: 'arbiterVote',
        challengeId: 'ch-0',
        verdict: 'no_fault',
        proof: arbiterProof(key(a).secretKey, 'ch-0', 0),
      })
    const done = h.app.state.challenges.get('ch-0') as Challenge
    assert.equal(done.outcome, 'owner')
    assert.equal(done.settledHeight, h.height)
    // The miner's reward is revived by the verdict and vests at once (its period is over); the
    // dispute held the aggregation back, which now runs its attempts; then retention.
    const finished = aggregationsFinished(h, 0)
    assert.ok(finished > (done.settledHeight as number), 'the aggregation waited for the dispute')
    h.runTo(finished + PARAMS.retentionBlocks - 1)
    assert.equal(h.app.state.challenges.has('ch-0'), true, 'retention counts from the aggregation finishing')
    h.block()
    assert.equal(h.app.state.challenges.has('ch-0'), false)
    assert.deepEqual(leftovers(h, 0), { windows: 0, tasks: 0, commits: 0, claims: 0, cidFirstSeen: 0 })
    assert.match(pruned(h, 'challenge/ch-0'), /challenge ch-0 was pruned/)
    assert.equal(h.app.query('challenge/ch-1'), null, 'a challenge that never existed is null')
  })

  it('state stays bounded over many windows, and two instances keep the same app hash', () => {
    const h = net()
    h.block()
    const sizes: number[] = []
    for (let w = 0; w < 10; w++) {
      trainWindow(h)
      h.runTo((windowOf(h, h.app.state.globals.currentWindow) as Window).closeHeight)
      const s = h.app.state
      sizes.push(
        s.windows.size + s.aggregations.size + s.tasks.size + s.commits.size + s.claims.size + s.cidFirstSeen.size,
      )
    }
    // A window is pruned 4 + 3 × 2 + 3 blocks after it closes (challenge period, three missed
    // aggregation attempts, retention): with 6-block windows at most four are ever held.
    assert.ok(h.app.state.globals.prunedWindows >= 6, `pruned ${h.app.state.globals.prunedWindows} windows`)
    assert.ok(h.app.state.windows.size <= 4, `${h.app.state.windows.size} windows held`)
    assert.deepEqual(sizes.slice(4), sizes.slice(3, -1), `state size is flat once pruning runs: ${sizes.join(' ')}`)
  })
})
