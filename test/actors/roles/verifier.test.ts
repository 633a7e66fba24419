/**
 * The verifier role machine over a fake chain whose open L2 attempt the test moves block by
 * block: the seat is claimed at once, the claim re-executed by the one-at-a-time reexecutor,
 * and the answer goes out after the claim phase only when this node holds the seat. A
 * re-execution that throws is queued again at the next block; an attempt whose deadline
 * passes ends as expired with no answer.
 */
import { strict as assert } from 'node:assert'
import { createActor, fromPromise } from 'xstate'
import { ContentUnavailableError } from '../../../src/actors/roles/availability.ts'
import type { Recheck } from '../../../src/actors/roles/reexecute.ts'
import { enqueued, type ReexecutionRequest, reexecutorMachine } from '../../../src/actors/roles/reexecutor.ts'
import {
  attemptActorId,
  canAnswerInTime,
  type VerifierComponents,
  verifierMachine,
} from '../../../src/actors/roles/verifier.ts'
import { verifierAttemptMachine } from '../../../src/actors/roles/verifier-attempt.ts'
import { newNodeMetrics } from '../../../src/actors/services/metrics.ts'
import { testKey } from '../../../src/chain/keys.ts'
import type { VerifierDraw } from '../../../src/chain/reader.ts'
import type { Claim } from '../../../src/chain/state.ts'
import type { Msg } from '../../../src/chain/tx.ts'
import { SimulatedClock } from '../../../src/runtime/clock.ts'
import { MAX_REMEMBERED_VERIFICATIONS } from '../../../src/runtime/limits.ts'
import { settle, silentLogger, stateTrace } from './machine-trace.ts'

const key = testKey('verifier')
const ATTEMPT = attemptActorId('ch1/0')
const claim = { id: '1.0.0/r3mes1miner', kind: 'submission', owner: 'r3mes1miner' } as Claim

/** The attempt as the chain shows it: claims until 12, answers due by 20; all stake is this node's. */
function draw(seat: string | null): VerifierDraw {
  return {
    challengeId: 'ch1',
    claimId: claim.id,
    seed: 'ab',
    attempt: 0,
    claimUntil: 12,
    deadline: 20,
    totalStake: 100n,
    expectedCount: 1,
    stakes: { [key.address]: 100n },
    seat,
    claim,
    dispute: null,
  }
}

function harness(
  reexecute: (signal: AbortSignal) => Promise<Recheck>,
  fetchContent: () => Promise<Uint8Array> = async () => new Uint8Array([1]),
) {
  const chainView = { draws: [draw(null)] }
  const sent: Msg[] = []
  const metrics = newNodeMetrics()
  let reexecutions = 0
  const clock = new SimulatedClock()
  const components = {
    chain: { verifierDraws: () => chainView.draws, params: { blockTimeMs: 1000, l2DeadlineBlocks: 5 } },
    tx: {
      send: async (msg: Msg) => {
        sent.push(msg)
        return { code: 'OK', log: '', height: 0 }
      },
    },
    key,
    metrics,
    logger: silentLogger,
    misbehaviours: new Set(),
    clock,
  } as unknown as VerifierComponents
  const machine = verifierMachine.provide({
    actors: {
      attempt: verifierAttemptMachine.provide({ actors: { fetchContent: fromPromise(fetchContent) } }),
      reexecutor: reexecutorMachine.provide({
        actors: {
          reexecute: fromPromise(({ signal }) => {
            reexecutions++
            return reexecute(signal)
          }),
        },
      }),
    },
  })
  const trace = stateTrace()
  const actor = createActor(machine, { id: 'verifier', input: components, inspect: trace.inspect }).start()
  const block = async (height: number): Promise<void> => {
    actor.send({ type: 'block', height })
    await settle()
  }
  return { actor, chainView, sent, metrics, trace, block, clock, reexecutions: () => reexecutions }
}

const types = (sent: Msg[]) => sent.map((m) => m.type)

/** A re-execution that never ends by itself, and whether it was stopped. */
function hangingReexecution() {
  let aborted = false
  return {
    reexecute: (signal: AbortSignal) =>
      new Promise<Recheck>(() => {
        signal.addEventListener('abort', () => {
          aborted = true
        })
      }),
    aborted: () => aborted,
  }
}

describe('actors: verifier role machine', () => {
  it('claims the seat at once, re-executes, and answers once the claim phase is over', async () => {
    let release: (check: Recheck) => void = () => {}
    const h = harness(() => new Promise((resolve) => (release = resolve)))
    await h.block(10)
    assert.deepEqual(types(h.sent), ['verifierClaim'], 'the claim goes out before any verdict')
    h.chainView.draws = [draw(key.address)]
    release({ honest: false, reason: 'the gradient differs from re-execution' })
    await h.block(11)
    assert.deepEqual(types(h.sent), ['verifierClaim'], 'no answer inside the claim phase')
    await h.block(12)
    assert.deepEqual(h.trace.statesOf(ATTEMPT), [
      'claimingSeat',
      'reexecuting',
      'awaitingClaimPhaseEnd',
      'answering',
      'answered',
    ])
    const answer = h.sent[1]
    assert.equal(answer?.type, 'verifierResponse')
    assert.equal(answer.type === 'verifierResponse' && answer.verdict, 'challenger')
    assert.equal(h.metrics.verdicts, 1)
    assert.equal(h.actor.getSnapshot().context.finished.get('ch1/0'), 'answered')
    assert.equal(h.actor.getSnapshot().context.verdicts.get(claim.id)?.honest, false, 'the verdict is kept per claim')
    await h.block(13)
    assert.deepEqual(types(h.sent), ['verifierClaim', 'verifierResponse'], 'answered once')
    h.actor.stop()
  })

  it('ends as notSeated, without answering, when another verifier holds the seat after the claim phase', async () => {
    const h = harness(async () => ({ honest: true, reason: 'the gradient re-executes bit for bit' }))
    await h.block(10)
    h.chainView.draws = [draw('r3mes1othervalidator')]
    await h.block(12)
    assert.deepEqual(h.trace.statesOf(ATTEMPT), ['claimingSeat', 'reexecuting', 'awaitingClaimPhaseEnd', 'notSeated'])
    assert.deepEqual(types(h.sent), ['verifierClaim'])
    assert.equal(h.metrics.verdicts, 0)
  })

  it('queues a re-execution that threw again at the next block, then answers', async () => {
    let calls = 0
    const h = harness(async () => {
      calls++
      if (calls === 1) throw new Error('fetching the trace: deadline')
      return { honest: true, reason: 'the gradient re-executes bit for bit' }
    })
    h.chainView.draws = [draw(key.address)]
    await h.block(12)
    assert.equal(h.reexecutions(), 1)
    assert.deepEqual(types(h.sent), [], 'a failed re-execution answers nothing')
    // Seated already: nothing to claim.
    assert.deepEqual(h.trace.statesOf(ATTEMPT), ['reexecuting'])
    await h.block(13)
    assert.equal(h.reexecutions(), 2)
    const answer = h.sent.at(-1)
    assert.equal(answer?.type === 'verifierResponse' && answer.verdict, 'owner')
    // The verdict came after the claim phase: it passes awaitingClaimPhaseEnd within one step.
    assert.deepEqual(h.trace.statesOf(ATTEMPT), ['reexecuting', 'answering', 'answered'])
  })

  it('ends as expired, with no answer, when the deadline passes before a verdict', async () => {
    const h = harness(() => Promise.reject(new Error('the trace is nowhere to be had')))
    await h.block(10)
    h.chainView.draws = [draw(key.address)]
    for (let height = 11; height <= 20; height++) await h.block(height)
    assert.deepEqual(h.trace.statesOf(ATTEMPT).at(-1), 'expired')
    assert.deepEqual(types(h.sent), ['verifierClaim'])
    assert.equal(h.actor.getSnapshot().context.finished.get('ch1/0'), 'expired')
    assert.ok(h.reexecutions() >= 9, 'tried again at every block until the deadline')
  })

  it('does not enter attempts its ticket does not select', async () => {
    const h = harness(async () => ({ honest: true, reason: '' }))
    h.chainView.draws = [{ ...draw(null), stakes: { [key.address]: 0n } }]
    await h.block(10)
    assert.deepEqual(h.trace.actorsLike('attempt:'), [])
    assert.deepEqual(h.sent, [])
    assert.equal(h.reexecutions(), 0)
  })

  it('keeps the ticket of every open draw, past MAX_REMEMBERED_VERIFICATIONS, and drops those of closed ones', async () => {
    const h = harness(async () => ({ honest: true, reason: '' }))
    // Draws that select nobody (no stake here): each evaluated once and kept as null.
    const many = Array.from({ length: MAX_REMEMBERED_VERIFICATIONS + 44 }, (_, i) => ({
      ...draw(null),
      challengeId: `ch${i}`,
      stakes: { [key.address]: 0n },
    }))
    h.chainView.draws = many
    await h.block(10)
    const tickets = () => h.actor.getSnapshot().context.tickets
    assert.equal(tickets().size, many.length)
    const kept = tickets()
    await h.block(11)
    assert.equal(tickets(), kept, 'nothing opened or closed: the same tickets, none evaluated again')
    h.chainView.draws = many.slice(0, 10)
    await h.block(12)
    assert.deepEqual(
      [...tickets().keys()],
      many.slice(0, 10).map((d) => `${d.challengeId}/0`),
    )
  })

  it('content that never arrives: waits for it while a claim can still land, then claims and answers unavailable in time', async () => {
    let release: (check: Recheck) => void = () => {}
    const h = harness(
      () => new Promise((resolve) => (release = resolve)),
      () => new Promise(() => {}),
    )
    // A longer claim phase than the default's two blocks: claims until 16, answers due by 24.
    const long = (seat: string | null): VerifierDraw => ({ ...draw(seat), claimUntil: 16, deadline: 24 })
    h.chainView.draws = [long(null)]
    await h.block(10)
    assert.equal(h.sent.length, 0, 'no seat before the content is here, while a claim can wait')
    await h.block(13)
    assert.deepEqual(types(h.sent), ['verifierClaim'], 'claims all the same, three blocks before the phase ends')
    h.chainView.draws = [long(key.address)]
    await h.block(16)
    assert.deepEqual(types(h.sent), ['verifierClaim'], 'the fetch still has time')
    await h.block(21)
    const answer = h.sent.at(-1)
    assert.equal(answer?.type === 'verifierResponse' && answer.verdict, 'unavailable', 'sent to land by the deadline')
    assert.equal(h.actor.getSnapshot().context.finished.get('ch1/0'), 'answered')
    release({ honest: true, reason: 'too late' })
  })

  it('a fetch that times out claims at once and answers unavailable after the claim phase', async () => {
    const h = harness(
      () => new Promise(() => {}),
      () => Promise.reject(new ContentUnavailableError('bafy', [claim.owner])),
    )
    await h.block(10)
    assert.deepEqual(types(h.sent), ['verifierClaim'])
    h.chainView.draws = [draw(key.address)]
    await h.block(12)
    assert.deepEqual(
      h.sent.map((m) => (m.type === 'verifierResponse' ? m.verdict : m.type)),
      ['verifierClaim', 'unavailable'],
    )
  })

  it('a re-execution that fails for want of content makes the seated verifier answer unavailable', async () => {
    const h = harness(() => Promise.reject(new ContentUnavailableError('bafy-trace', [claim.owner])))
    await h.block(10)
    h.chainView.draws = [draw(key.address)]
    await h.block(12)
    const answer = h.sent.at(-1)
    assert.equal(answer?.type === 'verifierResponse' && answer.verdict, 'unavailable')
  })

  it('stops the re-execution of a seat it lost: the seats it holds must not wait behind it', async () => {
    const hanging = hangingReexecution()
    const h = harness(hanging.reexecute)
    await h.block(10)
    assert.equal(h.reexecutions(), 1, 'the re-execution starts as soon as the content is here')
    h.chainView.draws = [draw('r3mes1othervalidator')]
    await h.block(12)
    assert.equal(h.actor.getSnapshot().context.finished.get('ch1/0'), 'notSeated')
    assert.ok(hanging.aborted(), 'no open attempt of this node needs the verdict: the re-execution is stopped')
    h.actor.stop()
  })

  it('gives a seat up as soon as its own claim has settled and a better ticket holds it, inside the claim phase', async () => {
    const hanging = hangingReexecution()
    const h = harness(hanging.reexecute)
    await h.block(10)
    assert.deepEqual(types(h.sent), ['verifierClaim'])
    h.chainView.draws = [draw('r3mes1othervalidator')]
    await h.block(11) // the claim phase lasts until 12
    assert.equal(h.actor.getSnapshot().context.finished.get('ch1/0'), 'notSeated')
    assert.ok(hanging.aborted(), 'its re-execution stopped a block early, for the seats it holds')
    h.actor.stop()
  })

  it('claims no more seats than it can answer in time, from how long its re-executions take', async () => {
    // Before any re-execution: a block for each.
    assert.equal(canAnswerInTime(null, 8, 10, 20, 1000), true, '9 blocks for 9')
    assert.equal(canAnswerInTime(null, 9, 10, 20, 1000), false)
    // The verdict is due a block before the deadline: 20 − 1 − 10 = 9 blocks of 1 s.
    assert.equal(canAnswerInTime(2000, 3, 10, 20, 1000), true, '4 re-executions of 2 s fit in 9 s')
    assert.equal(canAnswerInTime(2000, 4, 10, 20, 1000), false, '5 do not')
    assert.equal(canAnswerInTime(100, 0, 19, 20, 1000), false, 'too late for any answer')
  })
})

describe('actors: reexecutor queue', () => {
  const request = (id: string, deadline: number, seated?: boolean): ReexecutionRequest => ({
    claim: { ...claim, id } as Claim,
    deadline,
    ...(seated === undefined ? {} : { seated }),
  })
  const ids = (q: readonly ReexecutionRequest[]) => q.map((r) => r.claim.id)

  it('runs the seats it holds first, then by deadline; a claim asked again takes its newer seat and deadline', () => {
    let q = enqueued([], null, request('a', 15))
    q = enqueued(q, null, request('b', 12))
    q = enqueued(q, null, request('c', 20, true))
    assert.deepEqual(ids(q), ['c', 'b', 'a'])
    q = enqueued(q, null, request('a', 15, true))
    assert.deepEqual(ids(q), ['a', 'c', 'b'], 'a is seated now: before c (later deadline), b after both')
    assert.deepEqual(ids(enqueued(q, request('d', 1), request('d', 1, true))), ['a', 'c', 'b'], 'd is running already')
  })
})
