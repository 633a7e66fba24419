/**
 * The wrongAggregate part of the chaos invariant "cheats slashed": a scenario that plants
 * wrong aggregates fails unless one was challenged and convicted, whatever else held, so a
 * run in which the chain never drew a planted aggregator cannot pass having tested nothing.
 */
import assert from 'node:assert/strict'
import type { Aggregation, Challenge, Claim } from '../../../src/chain/state.ts'
import { type AggregateCheat, judgeWrongAggregates } from '../../../src/testnet/invariants.ts'

const HEIGHT = 100

function aggregate(id: string, owner: string, status: Claim['status'], challengeUntil = 60): Claim {
  const [, window, subnet] = id.split('/').map(Number) as [number, number, number]
  return {
    id,
    kind: 'aggregate',
    owner,
    window,
    subnet,
    taskId: null,
    cid: `state-${id}`,
    height: 30,
    status,
    flag: null,
    challengeUntil,
    metadata: '',
    previousCid: null,
    claims: [],
  }
}

const won = (claimId: string) => ({ id: `ch-${claimId}`, claimId, outcome: 'challenger' }) as unknown as Challenge

function drawn(window: number, subnet: number, aggregator: string, tried: string[] = []): Aggregation {
  return {
    window,
    subnet,
    stage: 'done',
    attempt: tried.length,
    aggregator,
    tried,
    dueHeight: 40,
    deadline: 45,
    claimId: null,
    finishedHeight: 70,
  }
}

const cheats: AggregateCheat[] = [
  { name: 'validator-0', address: 'r3mes1cheat0', lost: false, stake: 60000n },
  { name: 'validator-1', address: 'r3mes1cheat1', lost: false, stake: 60000n },
]
const names = new Map([
  ['r3mes1cheat0', 'validator-0'],
  ['r3mes1cheat1', 'validator-1'],
  ['r3mes1honest', 'validator-2'],
])

describe('testnet invariant: wrong aggregates challenged and convicted', () => {
  it('fails when no planted aggregator was ever drawn: every honest aggregate accepted, nothing judged', () => {
    const claims = [aggregate('agg/0/0', 'r3mes1honest', 'accepted'), aggregate('agg/1/0', 'r3mes1honest', 'accepted')]
    const draws = [drawn(0, 0, 'r3mes1honest'), drawn(1, 0, 'r3mes1honest')]
    const { caught, uncaught } = judgeWrongAggregates(cheats, claims, [], draws, HEIGHT, names)
    assert.equal(uncaught.length, 1, uncaught.join('\n'))
    assert.match(uncaught[0] as string, /no wrong aggregate was challenged and convicted/)
    assert.match(uncaught[0] as string, /0\/0 validator-2, 1\/0 validator-2/)
    assert.match(caught.join('\n'), /validator-0 wrongAggregate: drawn for no \(window, subnet\); 0 aggregates/)
  })

  it('fails when the wrong aggregate is still under challenge at the end: not judged is not convicted', () => {
    const claims = [aggregate('agg/0/0', 'r3mes1cheat0', 'challenged')]
    const { uncaught } = judgeWrongAggregates(cheats, claims, [], [drawn(0, 0, 'r3mes1cheat0')], HEIGHT, names)
    assert.equal(uncaught.length, 1)
    assert.match(uncaught[0] as string, /nothing was tested/)
  })

  it('passes with one wrong aggregate challenged, convicted and paid for, and names who was drawn', () => {
    const claims = [aggregate('agg/0/0', 'r3mes1cheat0', 'slashed'), aggregate('agg/0/0/1', 'r3mes1honest', 'accepted')]
    const paid = cheats.map((c, i) => (i === 0 ? { ...c, lost: true, stake: 54000n } : c))
    const draws = [drawn(0, 0, 'r3mes1honest', ['r3mes1cheat0'])]
    const { caught, uncaught } = judgeWrongAggregates(paid, claims, [won('agg/0/0')], draws, HEIGHT, names)
    assert.deepEqual(uncaught, [])
    assert.match(
      caught.join('\n'),
      /validator-0 wrongAggregate: drawn for 0\/0; 1 aggregates, 1 challenged and convicted/,
    )
    assert.match(caught.join('\n'), /0\/0 validator-0 → validator-2/)
  })

  it('fails a convicted aggregate that cost its aggregator nothing, and one accepted past its challenge period', () => {
    const slashed = aggregate('agg/0/0', 'r3mes1cheat0', 'slashed')
    const free = judgeWrongAggregates(cheats, [slashed], [won('agg/0/0')], [], HEIGHT, names)
    assert.match(free.uncaught.join('\n'), /validator-0 wrongAggregate: .*1 slashed, stake 60000/)
    const escaped = aggregate('agg/1/0', 'r3mes1cheat1', 'accepted', 80)
    const both = judgeWrongAggregates(
      cheats.map((c) => ({ ...c, lost: true })),
      [slashed, escaped],
      [won('agg/0/0')],
      [],
      HEIGHT,
      names,
    )
    assert.equal(both.uncaught.length, 1)
    assert.match(both.uncaught[0] as string, /validator-1 wrongAggregate: .*1 accepted past their challenge period/)
  })

  it('plants nothing, judges nothing', () => {
    assert.deepEqual(judgeWrongAggregates([], [], [], [drawn(0, 0, 'r3mes1honest')], HEIGHT, names), {
      caught: [],
      uncaught: [],
    })
  })
})
