/**
 * The chaos invariants on convicted work: a served model holding a slashed aggregate, or a
 * slashed submission in it or under it, fails; a slashed aggregate not redone fails unless no
 * honest aggregator was drawn or the run ended within the redo's deadline.
 */
import assert from 'node:assert/strict'
import type { Aggregation, Claim } from '../../../src/chain/state.ts'
import { checkAggregatesRedone, checkServedModels, judgeCopier } from '../../../src/testnet/invariants.ts'

function submission(id: string, status: Claim['status']): Claim {
  return {
    id,
    kind: 'submission',
    owner: 'r3mes1miner',
    window: 0,
    subnet: 0,
    taskId: id.split('/')[0] ?? null,
    cid: `grad-${id}`,
    height: 5,
    status,
    flag: null,
    challengeUntil: 20,
    metadata: '',
    previousCid: null,
    claims: [],
  }
}

function aggregate(
  id: string,
  cid: string,
  previousCid: string | null,
  claims: string[],
  over: Partial<Claim> = {},
): Claim {
  const [, window, subnet] = id.split('/').map(Number) as [number, number, number]
  return {
    ...submission(id, 'accepted'),
    kind: 'aggregate',
    owner: 'r3mes1validator',
    window,
    subnet,
    taskId: null,
    cid,
    previousCid,
    claims,
    ...over,
  }
}

function record(over: Partial<Aggregation>): Aggregation {
  return {
    window: 0,
    subnet: 0,
    stage: 'spent',
    attempt: 2,
    aggregator: 'r3mes1c',
    tried: ['r3mes1a', 'r3mes1b'],
    dueHeight: 40,
    deadline: 45,
    claimId: null,
    finishedHeight: 45,
    ...over,
  }
}

describe('testnet invariants: convicted work never served, slashed aggregates redone', () => {
  it('served models: clean loads pass; a slashed aggregate, or a slashed claim under the loaded state, fails', () => {
    const claims = [
      submission('0.0.0/a', 'accepted'),
      submission('1.0.0/b', 'slashed'),
      aggregate('agg/0/0', 'state-0', null, ['0.0.0/a']),
      aggregate('agg/1/0', 'state-1', 'state-0', ['1.0.0/b']),
      aggregate('agg/2/0', 'state-2', 'state-1', []),
      aggregate('agg/3/0', 'state-bad', 'state-0', [], { status: 'slashed' }),
    ]
    const ok = checkServedModels([{ node: 'serving-0', height: 30, pointers: ['state-0', null] }], claims)
    assert.equal(ok.ok, true, ok.detail)
    const under = checkServedModels([{ node: 'serving-0', height: 60, pointers: ['state-2'] }], claims)
    assert.equal(under.ok, false)
    assert.match(under.detail, /agg\/1\/0 names slashed 1\.0\.0\/b/)
    const wrong = checkServedModels([{ node: 'serving-0', height: 70, pointers: ['state-bad'] }], claims)
    assert.equal(wrong.ok, false)
    assert.match(wrong.detail, /aggregate agg\/3\/0 was slashed/)
    const unknown = checkServedModels([{ node: 'serving-0', height: 70, pointers: ['state-nowhere'] }], claims)
    assert.match(unknown.detail, /no aggregate on chain names/)
    assert.equal(checkServedModels([], claims).ok, true, 'nothing loaded: nothing to check')
  })

  it('slashed aggregates: redone passes; an honest aggregator that let it lapse fails; all cheats or still in time pass', () => {
    const slashed = aggregate('agg/0/0', 'bad', null, [], { status: 'slashed', owner: 'r3mes1a' })
    const redo = aggregate('agg/0/0/1', 'good', null, [])
    const cheats = new Set(['r3mes1a', 'r3mes1b'])
    const none = new Map<string, Aggregation>()
    assert.equal(checkAggregatesRedone([slashed, redo], none, cheats, 100).ok, true)
    const lapsed = checkAggregatesRedone([slashed], new Map([['0/0', record({})]]), cheats, 100)
    assert.equal(lapsed.ok, false)
    assert.match(lapsed.detail, /honest drawn r3mes1c/)
    const allCheats = record({ attempt: 1, aggregator: 'r3mes1b', tried: ['r3mes1a'] })
    assert.equal(checkAggregatesRedone([slashed], new Map([['0/0', allCheats]]), cheats, 100).ok, true)
    const inTime = record({ stage: 'due', attempt: 1, tried: ['r3mes1a'], deadline: 105, finishedHeight: null })
    const open = checkAggregatesRedone([slashed], new Map([['0/0', inTime]]), cheats, 100)
    assert.equal(open.ok, true)
    assert.match(open.detail, /still open at the end of the run/)
    // Submitted after the claims were read: the record names the redo, still in its challenge period.
    const submitted = record({
      stage: 'submitted',
      attempt: 2,
      claimId: 'agg/0/0/2',
      deadline: 90,
      finishedHeight: null,
    })
    const late = checkAggregatesRedone([slashed], new Map([['0/0', submitted]]), cheats, 100)
    assert.equal(late.ok, true, late.detail)
    assert.match(late.detail, /attempt 2 submitted \(agg\/0\/0\/2\)/)
    assert.equal(checkAggregatesRedone([redo], none, cheats, 100).detail, 'no aggregate was slashed: nothing to redo')
  })

  it('a copier is caught when none of its claims is paid, and fails the check when it made none to judge', () => {
    const copy = { ...submission('0.0.0/c', 'flagged'), flag: 'copied' } as Claim
    assert.equal(judgeCopier('miner-1-1', [copy]).ok, true)
    assert.equal(judgeCopier('miner-1-1', [submission('1.0.0/c', 'accepted')]).ok, false)
    const none = judgeCopier('miner-1-1', [])
    assert.equal(none.ok, false)
    assert.match(none.detail, /made no claim, so nothing was tested/)
  })
})
