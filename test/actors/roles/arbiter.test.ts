/**
 * The arbiter role machine over a fake chain with one L3 panel seat: a re-execution that
 * throws waits for the next block and is tried again, then the vote goes out once, with the
 * VRF proof of the seat.
 */
import { strict as assert } from 'node:assert'
import { createActor, fromPromise } from 'xstate'
import {
  type ArbiterComponents,
  arbiterMachine,
  arbiterSeatMachine,
  availabilityFetchDeadlineMs,
  seatActorId,
} from '../../../src/actors/roles/arbiter.ts'
import { ContentUnavailableError } from '../../../src/actors/roles/availability.ts'
import type { Recheck } from '../../../src/actors/roles/reexecute.ts'
import { newNodeMetrics } from '../../../src/actors/services/metrics.ts'
import { arbiterProof } from '../../../src/chain/game.ts'
import { testKey } from '../../../src/chain/keys.ts'
import type { ArbiterDuty } from '../../../src/chain/reader.ts'
import type { Claim } from '../../../src/chain/state.ts'
import type { Msg } from '../../../src/chain/tx.ts'
import { settle, silentLogger, stateTrace } from './machine-trace.ts'

const key = testKey('arbiter')
const claim = { id: '1.0.0/r3mes1miner', kind: 'submission' } as Claim
const duty: ArbiterDuty = {
  challengeId: 'ch1',
  kind: 'fault',
  claimId: claim.id,
  round: 1,
  deadline: 40,
  claim,
  dispute: null,
}

function harness(
  reexecute: () => Promise<Recheck>,
  fetchContent: () => Promise<Uint8Array> = async () => new Uint8Array([1]),
  seatDuty: ArbiterDuty = duty,
) {
  const chainView = { duties: [seatDuty] }
  let reexecutions = 0
  const sent: Msg[] = []
  const metrics = newNodeMetrics()
  const components = {
    chain: { arbiterDuties: () => chainView.duties },
    tx: {
      send: async (msg: Msg) => {
        sent.push(msg)
        return { code: 'OK', log: '', height: 0 }
      },
    },
    key,
    metrics,
    logger: silentLogger,
  } as unknown as ArbiterComponents
  const machine = arbiterMachine.provide({
    actors: {
      seat: arbiterSeatMachine.provide({
        actors: {
          fetchContent: fromPromise(fetchContent),
          reexecute: fromPromise(() => {
            reexecutions++
            return reexecute()
          }),
        },
      }),
    },
  })
  const trace = stateTrace()
  const actor = createActor(machine, { id: 'arbiter', input: components, inspect: trace.inspect }).start()
  const block = async (height: number): Promise<void> => {
    actor.send({ type: 'block', height })
    await settle()
  }
  return { actor, chainView, sent, metrics, trace, block, reexecutions: () => reexecutions }
}

const never = (): Promise<Uint8Array> => new Promise(() => {})
const unavailable = (): Promise<never> => Promise.reject(new ContentUnavailableError('bafy', ['r3mes1miner']))
const voteFor = (verdict: string) => ({
  type: 'arbiterVote',
  challengeId: 'ch1',
  verdict,
  proof: arbiterProof(key.secretKey, 'ch1', 1),
})

describe('actors: arbiter role machine', () => {
  it('retries a re-execution that threw at the next block, then votes once with the seat proof', async () => {
    let calls = 0
    const h = harness(async () => {
      calls++
      if (calls === 1) throw new Error('fetching the trace: deadline')
      return { honest: false, reason: 'the stage output differs' }
    })
    await h.block(30)
    assert.deepEqual(h.trace.statesOf(seatActorId('ch1/1')), ['fetching', 'reexecuting', 'retrying'])
    assert.deepEqual(h.sent, [], 'no vote on a failed re-execution')
    await h.block(31)
    assert.deepEqual(h.trace.statesOf(seatActorId('ch1/1')), [
      'fetching',
      'reexecuting',
      'retrying',
      'reexecuting',
      'voting',
      'voted',
    ])
    assert.deepEqual(h.sent, [
      { type: 'arbiterVote', challengeId: 'ch1', verdict: 'fault', proof: arbiterProof(key.secretKey, 'ch1', 1) },
    ])
    assert.equal(h.metrics.verdicts, 1)
    assert.equal(h.actor.getSnapshot().context.finished.get('ch1/1'), 'voted')
    await h.block(32)
    assert.equal(h.sent.length, 1, 'a seat votes once, even while the chain still lists it')
  })

  it('gives a seat up, without voting, once its deadline has passed', async () => {
    const h = harness(() => Promise.reject(new Error('the trace is nowhere to be had')))
    await h.block(39)
    await h.block(40)
    await h.block(41)
    assert.equal(h.trace.statesOf(seatActorId('ch1/1')).at(-1), 'expired')
    assert.deepEqual(h.sent, [])
  })

  it('votes unavailable on the round’s last block when the claim’s content never arrives, never re-executing', async () => {
    const h = harness(async () => ({ honest: true, reason: 'not reached' }), never)
    await h.block(30)
    await h.block(36)
    assert.deepEqual(h.sent, [], 'still fetching while the round lasts')
    await h.block(37)
    assert.deepEqual(h.sent, [voteFor('unavailable')], 'sent three blocks before the deadline, so it lands by it')
    assert.equal(h.reexecutions(), 0)
    assert.equal(h.actor.getSnapshot().context.finished.get('ch1/1'), 'voted', 'never silent, so never penalized')
  })

  it('content not served within the fetch’s deadline is voted unavailable at once, never re-executed', async () => {
    const h = harness(async () => ({ honest: true, reason: 'not reached' }), unavailable)
    await h.block(30)
    assert.deepEqual(h.sent, [voteFor('unavailable')], 'decided mid-round, so a node’s several votes all land')
    assert.equal(h.reexecutions(), 0)
  })

  it('waits for the content half the round’s time before the vote is due', () => {
    assert.equal(availabilityFetchDeadlineMs({ l3DeadlineBlocks: 20, blockTimeMs: 1000 }), 8_000)
    assert.equal(availabilityFetchDeadlineMs({ l3DeadlineBlocks: 6, blockTimeMs: 1000 }), 1_000)
    assert.equal(availabilityFetchDeadlineMs({ l3DeadlineBlocks: 50, blockTimeMs: 5000 }), 60_000, 'at most a fetch')
  })

  it('a re-execution that keeps missing content votes unavailable on the last block instead of expiring', async () => {
    const h = harness(unavailable)
    await h.block(30)
    await h.block(31)
    assert.deepEqual(h.sent, [])
    await h.block(37)
    assert.deepEqual(h.sent, [voteFor('unavailable')])
  })

  it('an availability dispute only fetches: no_fault when the content comes, unavailable when it does not', async () => {
    const availability: ArbiterDuty = { ...duty, kind: 'availability' }
    const served = harness(async () => ({ honest: false, reason: 'must not run' }), undefined, availability)
    await served.block(30)
    assert.deepEqual(served.sent, [voteFor('no_fault')])
    assert.equal(served.reexecutions(), 0, 'nothing is re-executed in an availability dispute')
    const withheld = harness(async () => ({ honest: false, reason: 'must not run' }), never, availability)
    await withheld.block(30)
    await withheld.block(37)
    assert.deepEqual(withheld.sent, [voteFor('unavailable')])
    assert.equal(withheld.reexecutions(), 0)
  })
})
