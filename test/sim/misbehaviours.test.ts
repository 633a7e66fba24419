/**
 * The misbehaviours of a simulated run (src/sim/misbehaviours.ts, validator-misbehaviours.ts,
 * node-faults.ts): who the seed draws for each, a skewed clock, and a small run with every
 * misbehaviour, clock skew, slow disks, crashes, a partition and a lossy network at once, in
 * which every cheat is caught and nobody honest is slashed.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { testKey } from '../../src/chain/keys.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { type FaultFile, parseFaultFile } from '../../src/sim/faults.ts'
import { byzantineBudget, castMisbehaviours, challengerCount } from '../../src/sim/misbehaviours.ts'
import { skewedClock } from '../../src/sim/node-faults.ts'
import { runSimulation } from '../../src/sim/simulation.ts'

const addresses = (role: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => testKey(`cast/${role}/${i}`).address)

/**
 * Every fault and every misbehaviour at a rate that draws at least one of each at 4 validators
 * and 10 miners (`npx r3mes sim --faults topology/sim/every-fault.json`).
 */
const EVERYTHING: FaultFile = parseFaultFile(
  JSON.parse(readFileSync('topology/sim/every-fault.json', 'utf8')),
  'every-fault.json',
)

describe('sim: misbehaviours drawn from the seed', function () {
  this.timeout(60_000)

  it('draws disjoint misbehaving miners, a share of verifiers and validators, and keeps Byzantine validators within ⌊(n − 1) / 3⌋', () => {
    const init = {
      rates: {
        copiedCid: 0.1,
        withholdingMiner: 0.2,
        lazyVerifier: 0.5,
        wrongAggregate: 0.3,
        griefingChallenger: 0.2,
        withholdAndChallenge: 1,
        equivocatingValidator: 1,
        byzantineValidator: 0.5,
        seedGrinder: 1,
      },
      miners: addresses('miner', 50),
      verifiers: addresses('verifier', 6),
      validators: addresses('validator', 10),
      challengerKey: (kind: string, i: number) => testKey(`cast/${kind}/${i}`),
    }
    const cast = castMisbehaviours(init, new SeededRandom(5))
    assert.deepEqual(castMisbehaviours(init, new SeededRandom(5)), cast)
    assert.equal(cast.copiers.size, 5)
    assert.equal(cast.withholders.size, 10)
    assert.ok([...cast.copiers].every((a) => !cast.withholders.has(a)))
    assert.equal(cast.lazyVerifiers.size, 3)
    assert.equal(cast.wrongAggregators.size, 3)
    assert.equal(cast.griefers.length, 1)
    assert.equal(cast.accomplices.length, 2)
    assert.equal(byzantineBudget(10), 3)
    assert.deepEqual([cast.grinders.size, cast.equivocators.size, cast.byzantine.size], [3, 3, 2])
    assert.equal(new Set([...cast.grinders, ...cast.equivocators, ...cast.byzantine]).size, 3)
    assert.equal(challengerCount(0), 0)
    assert.equal(challengerCount(0.01), 1)
    const none = castMisbehaviours({ ...init, rates: {} }, new SeededRandom(5))
    assert.equal(none.copiers.size + none.equivocators.size + none.griefers.length, 0)
  })

  it('skews a validator’s wall clock by its offset and drift, and runs its timers at the drifted rate', () => {
    const clock = new SimulatedClock()
    const skewed = skewedClock(clock, { offsetMs: -1500, driftPpm: 1000 })
    const fired: number[] = []
    skewed.setTimer(1001, () => fired.push(clock.monotonicMs()))
    clock.advance(999)
    assert.deepEqual(fired, [], 'a fast clock’s 1001 ms are 1000 true ms')
    clock.advance(2)
    assert.deepEqual(fired.map(Math.round), [1000])
    assert.equal(skewed.nowMs() - clock.nowMs(), -1500 + 1)
    clock.advance(999_000)
    assert.equal(skewed.nowMs() - clock.nowMs(), -1500 + 1000)
  })

  it('a small network with every misbehaviour and fault at once catches every cheat and slashes nobody honest', async () => {
    // Seed 1 (before the aggregate named its unavailable claims by bitmap) found a withholding
    // miner's claim the chain took for a copy (its commit landed after its replica's reveal):
    // never credited nor aggregated, so never disputed either; it counts as caught, as a copy
    // does, instead of a cheat missed. Seed 4 draws every misbehaviour into play, an appeal of a
    // lazy verifier's 'owner' included (it was seed 5, then seed 7, until the run's trajectory
    // changed: a stuck node stopped re-sending proposals unasked, and the chain's state gained
    // the appeal; then seed 14, once the challengers were the nodes' machines; then seed 16,
    // once the miners were, and sent their transactions in one batch a moment; seed 4 again
    // once the state hash changed, and with it every beacon and draw).
    // Run to the end whatever breaks, to judge every misbehaviour's outcome.
    const opts = { validators: 4, miners: 10, subnets: 2, windows: 1, seed: 4, faults: EVERYTHING } as const
    const r = await runSimulation({ ...opts, until: { kind: 'height', height: 10_000 } })
    assert.equal(r.stoppedBy, 'end')
    // A lazy verifier seated on a wrong claim answers 'owner'; the challenger appeals it.
    assert.deepEqual(r.violations, [], JSON.stringify(r.violations))
    assert.equal(r.game.honestSlashed, 0)
    assert.equal(r.game.missed, 0)
    assert.equal(r.game.caught, r.game.cheats)
    const m = r.misbehaviours
    assert.ok(m !== undefined)
    assert.ok(m.copies > 0 && m.copiesPaid === 0, JSON.stringify(m))
    assert.ok(m.withheld > 0 && m.withheldCaught === m.withheld, JSON.stringify(m))
    assert.ok(m.wrongAggregates > 0 && m.wrongAggregatesSlashed === m.wrongAggregates, JSON.stringify(m))
    assert.ok(m.lazyAnswers > 0, JSON.stringify(m))
    assert.ok(r.game.appeals > 0 && r.game.overturnedVerifiers > 0, JSON.stringify(r.game))
    assert.deepEqual([m.equivocators, m.equivocatorsJailed, m.byzantineValidators, m.seedGrinders], [1, 1, 1, 1])
    assert.deepEqual([m.skewedClocks, m.slowDisks], [2, 1])
    // Replays byte for byte.
    assert.equal((await runSimulation({ ...opts, until: { kind: 'height', height: 10_000 } })).digest, r.digest)
  })

  it('every misbehaviour on the smallest network: withheld claims no longer hold the two honest challengers’ slots while wrong ones run out their periods', async () => {
    // Seeds 1, 3, 7, 24 and 31 each missed a wrong claim a griefer had challenged and a lazy
    // verifier cleared: both honest challengers sat on withheld claims, each check waiting out
    // the whole fetch deadline and starting over, until the claim's given-back period ended.
    for (const seed of [1, 3, 7, 24, 31]) {
      const r = await runSimulation({ validators: 4, miners: 10, subnets: 2, windows: 1, seed, faults: EVERYTHING })
      assert.equal(r.stoppedBy, 'end', `seed ${seed}: ${JSON.stringify(r.violations)}`)
      assert.deepEqual([r.game.missed, r.game.honestSlashed], [0, 0], `seed ${seed}`)
      assert.equal(r.game.caught, r.game.cheats, `seed ${seed}`)
    }
  })

  it('every misbehaviour, with the verifier machines hosted: the seeds that found their faults catch every cheat', async function () {
    this.timeout(120_000)
    // Found when the verifier and arbiter machines first ran here (7 validators, 40 miners, 5
    // windows, `topology/sim/all-faults.json`): seed 26's wrong aggregate and seeds 15 and 21's withheld claims
    // in mismatched tasks went unseated through all three L2 attempts, their challenge periods
    // ran out, and the cheats were missed. Verifiers declined every seat (a three-block margin
    // for the answer left them no time; one seat at a time before the first re-execution) and
    // all re-executed every claim, seats lost included, one at a time, withheld content holding
    // the queue to its fetch's deadline. verifier.ts, verifier-attempt.ts and reexecutor.ts
    // say what each does now.
    const file = 'topology/sim/all-faults.json'
    const faults = parseFaultFile(JSON.parse(readFileSync(file, 'utf8')), file)
    for (const seed of [15, 21, 26]) {
      const r = await runSimulation({ validators: 7, miners: 40, subnets: 2, windows: 5, seed, faults })
      assert.deepEqual(r.violations, [], `seed ${seed}: ${JSON.stringify(r.violations)}`)
      assert.equal(r.game.caught, r.game.cheats, `seed ${seed}`)
    }
  })

  it('every misbehaviour, with the challenger machines hosted: the seeds that found their faults catch every cheat', async function () {
    this.timeout(180_000)
    // Found when the challenger machines first ran here (7 validators, 40 miners, 5 windows,
    // `topology/sim/all-faults.json`), each seed the last to break before its fix:
    // - 2 and 11: a griefer's challenge of a wrong claim, 'owner' from a lazy verifier,
    //   unappealed, ran out the claim's period (given back now, game.ts), and the honest
    //   challengers, which had queued it, dropped it at the period it had when queued and never
    //   collected it again;
    // - 18: the simulation's outbox signed again what the block a step ahead had carried, and a
    //   seated verifier's 'unavailable' landed after its deadline;
    // - 19: a verifier's answer sent as a block landed, refused by the validators behind it and
    //   sent again only four blocks later (after one now, `TxSender`);
    // - 6: a challenge re-sent with the bytes of one the chain had refused, taken for a replay
    //   by every mempool (the mempool remembers only what was applied now).
    const file = 'topology/sim/all-faults.json'
    const faults = parseFaultFile(JSON.parse(readFileSync(file, 'utf8')), file)
    for (const seed of [2, 6, 11, 18, 19]) {
      const r = await runSimulation({ validators: 7, miners: 40, subnets: 2, windows: 5, seed, faults })
      assert.deepEqual(r.violations, [], `seed ${seed}: ${JSON.stringify(r.violations)}`)
      assert.equal(r.game.caught, r.game.cheats, `seed ${seed}`)
      assert.equal(r.game.honestSlashed, 0, `seed ${seed}`)
    }
  })

  it("a lazy verifier's 'owner' on a wrong claim is appealed and overturned: nothing escapes at L2", async () => {
    // Found with seed 3 at 7 validators, 40 miners, 2 windows and the example fault file: a
    // lazy verifier seated on ch-17 and ch-33 (ch-15 and ch-20 before a consensus change moved
    // the run) answered 'owner' on wrong submissions, which ended those games at L2, and the
    // cheats went unslashed. The challenger now appeals each to a panel, which convicts the
    // owner and slashes the verifier.
    const faults = parseFaultFile(JSON.parse(readFileSync('topology/sim/all-faults.json', 'utf8')), 'all-faults.json')
    const r = await runSimulation({ validators: 7, miners: 40, subnets: 2, windows: 2, seed: 3, faults })
    assert.deepEqual(r.violations, [], JSON.stringify(r.violations))
    assert.equal(r.stoppedBy, 'end')
    assert.equal(r.game.missed, 0)
    assert.equal(r.game.caught, r.game.cheats)
    assert.equal(r.game.honestSlashed, 0)
    assert.ok((r.misbehaviours?.lazyAnswers ?? 0) > 0, 'lazy verifiers answered')
    assert.ok(r.game.appeals > 0, 'the challengers appealed')
    assert.ok(r.game.overturnedVerifiers > 0, 'the panels overturned the lazy verifiers')
  })

  it('judges an honest verifier that answered late under a flood of griefing challenges by the duty penalty, not as slashed', async () => {
    // Found with the example fault file at 7 validators: four verifiers, some 25 challenges (a
    // third of them griefing), one seated verifier's answer missed its deadline and it paid the
    // chain's 1 % duty penalty, which the chaos harness counts as the rule working. (A cheat a
    // lazy verifier lets through is the game's own limit, reported and not judged here.)
    const faults = parseFaultFile(JSON.parse(readFileSync('topology/sim/all-faults.json', 'utf8')), 'all-faults.json')
    const r = await runSimulation({
      validators: 7,
      miners: 40,
      subnets: 2,
      windows: 1,
      seed: 2,
      faults,
      until: { kind: 'height', height: 10_000 },
    })
    assert.deepEqual(
      r.violations.filter((v) => v.invariant !== 'cheat-missed'),
      [],
      JSON.stringify(r.violations),
    )
    assert.equal(r.game.honestSlashed, 0)
  })
})
