/** Fault files for `r3mes sim --faults`: checked field by field, planned from the seed. */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { InvalidArgumentError } from '../../src/runtime/errors.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { healedAtMs, parseFaultFile, planFaults, SIM_MISBEHAVIOURS } from '../../src/sim/faults.ts'
import { parseStopCondition } from '../../src/sim/report.ts'
import { MISBEHAVIOUR_ROLE } from '../../src/topology/checks.ts'

const refusedWith = (pattern: RegExp) => (e: unknown) => e instanceof InvalidArgumentError && pattern.test(e.message)

describe('sim: fault files and stop events', () => {
  it('refuses a bad fault file, naming the field', () => {
    assert.throws(() => parseFaultFile({ network: { loss: 2 } }, 'f.json'), refusedWith(/f\.json: network\.loss/))
    assert.throws(
      () => parseFaultFile({ crashes: [{ validator: 1, atS: 3 }] }, 'f.json'),
      refusedWith(/crashes\.0\.forS/),
    )
    assert.throws(() => parseFaultFile({ partition: [] }, 'f.json'), refusedWith(/f\.json/))
    assert.throws(() => parseFaultFile([], 'f.json'), refusedWith(/\(top level\)/))
  })

  it('plans the file’s faults plus random ones from the seed, all within the first half of the run', () => {
    const file = parseFaultFile(
      { crashes: [{ validator: 2, atS: 1, forS: 2 }], random: { partitions: 3, crashes: 4, maxS: 5 } },
      'f.json',
    )
    const plan = planFaults(file, 4, 100_000, new SeededRandom(9))
    assert.deepEqual(planFaults(file, 4, 100_000, new SeededRandom(9)), plan)
    assert.equal(plan.partitions.length, 3)
    assert.equal(plan.crashes.length, 5)
    assert.deepEqual(plan.crashes[0], { validator: 2, atMs: 1000, forMs: 2000 })
    for (const c of plan.crashes) assert.ok(c.validator < 4 && c.atMs < 50_000 && c.forMs <= 6000)
    assert.ok(healedAtMs(plan) <= 56_000)
    assert.throws(() => planFaults(file, 2, 100_000, new SeededRandom(9)), refusedWith(/crashes\[0\]\.validator: 2/))
  })

  it('refuses bad misbehaviour rates, clock skews and slow disks, naming the field', () => {
    assert.throws(
      () => parseFaultFile({ misbehaviours: { copiedCid: 1.5 } }, 'f.json'),
      refusedWith(/f\.json: misbehaviours\.copiedCid/),
    )
    assert.throws(
      () => parseFaultFile({ misbehaviours: { sybil: 0.1 } }, 'f.json'),
      refusedWith(/f\.json: misbehaviours/),
    )
    assert.throws(
      () => parseFaultFile({ clockSkew: { validators: 0.5, maxOffsetMs: -1 } }, 'f.json'),
      refusedWith(/clockSkew\.maxOffsetMs/),
    )
    assert.throws(
      () => parseFaultFile({ clockSkew: { maxOffsetMs: 10 } }, 'f.json'),
      refusedWith(/clockSkew\.validators/),
    )
    assert.throws(
      () => parseFaultFile({ slowDisks: { validators: 0.5, maxMs: 'slow' } }, 'f.json'),
      refusedWith(/slowDisks\.maxMs/),
    )
    const inverted = parseFaultFile({ slowDisks: { validators: 1, minMs: 50, maxMs: 10 } }, 'f.json')
    assert.throws(() => planFaults(inverted, 4, 100_000, new SeededRandom(1)), refusedWith(/slowDisks\.minMs: 50/))
  })

  it('draws skewed clocks and slow disks from the seed, within the file’s bounds; none when the file names none', () => {
    const file = parseFaultFile(
      {
        clockSkew: { validators: 0.5, maxOffsetMs: 3000, maxDriftPpm: 200 },
        slowDisks: { validators: 0.25, minMs: 5, maxMs: 80 },
      },
      'f.json',
    )
    const plan = planFaults(file, 8, 100_000, new SeededRandom(4))
    assert.deepEqual(planFaults(file, 8, 100_000, new SeededRandom(4)), plan)
    assert.equal(plan.clockSkews.length, 4)
    assert.equal(new Set(plan.clockSkews.map((c) => c.validator)).size, 4)
    for (const c of plan.clockSkews)
      assert.ok(Math.abs(c.offsetMs) <= 3000 && Math.abs(c.driftPpm) <= 200 && c.validator < 8, JSON.stringify(c))
    assert.equal(plan.slowDisks.length, 2)
    for (const d of plan.slowDisks) assert.ok(d.delayMs >= 5 && d.delayMs <= 80, JSON.stringify(d))
    const calm = planFaults(parseFaultFile({}, 'f.json'), 8, 100_000, new SeededRandom(4))
    assert.deepEqual([calm.clockSkews, calm.slowDisks], [[], []])
  })

  it('the example with everything on names every misbehaviour the topology format knows, and machine faults', () => {
    const file = parseFaultFile(
      JSON.parse(readFileSync('topology/sim/all-faults.json', 'utf8')),
      'topology/sim/all-faults.json',
    )
    assert.deepEqual(Object.keys(file.misbehaviours ?? {}).sort(), [...SIM_MISBEHAVIOURS].sort())
    assert.deepEqual(Object.keys(MISBEHAVIOUR_ROLE).sort(), [...SIM_MISBEHAVIOURS].sort())
    for (const [kind, rate] of Object.entries(file.misbehaviours ?? {})) assert.ok((rate ?? 0) > 0, kind)
    assert.ok(file.clockSkew !== undefined && file.slowDisks !== undefined)
  })

  it('reads --until events and refuses others, listing those it knows', () => {
    assert.deepEqual(parseStopCondition('height:40'), { kind: 'height', height: 40 })
    assert.deepEqual(parseStopCondition('window:3'), { kind: 'window', window: 3 })
    assert.deepEqual(parseStopCondition('cheat-caught'), { kind: 'cheat-caught' })
    assert.deepEqual(parseStopCondition('violation'), { kind: 'violation' })
    assert.throws(() => parseStopCondition('height:x'), refusedWith(/height needs a whole number/))
    assert.throws(() => parseStopCondition('sunset'), refusedWith(/height:N, window:N, cheat-caught and violation/))
  })
})
