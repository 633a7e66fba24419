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
  seatActorId,
} from '../../../src/actors/roles/arbiter.ts'
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
const duty: ArbiterDuty = { challengeId: 'ch1', claimId: claim.id, round: 1, deadline: 40, claim, dispute: null }

function harness(reexecute: () => Promise<Recheck>) {
  const chainView = { duties: [duty] }
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
    actors: { seat: arbiterSeatMachine.provide({ actors: { reexecute: fromPromise(reexecute) } }) },
  })
  const trace = stateTrace()
  const actor = createActor(machine, { id: 'arbiter', input: components, inspect: trace.inspect }).start()
  const block = async (height: number): Promise<void> => {
    actor.send({ type: 'block', height })
    await settle()
  }
  return { actor, chainView, sent, metrics, trace, block }
}

describe('actors: arbiter role machine', () => {
  it('retries a re-execution that threw at the next block, then votes once with the seat proof', async () => {
    let calls = 0
    const h = harness(async () => {
      calls++
      if (calls === 1) throw new Error('fetching the trace: deadline')
      return { honest: false, reason: 'the stage output differs' }
    })
    await h.block(30)
    assert.deepEqual(h.trace.statesOf(seatActorId('ch1/1')), ['reexecuting', 'retrying'])
    assert.deepEqual(h.sent, [], 'no vote on a failed re-execution')
    await h.block(31)
    assert.deepEqual(h.trace.statesOf(seatActorId('ch1/1')), [
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
})
