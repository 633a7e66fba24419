/**
 * When a node re-sends what it has (a gossip tick): only after a whole tick at the same height,
 * round and step, and never in the commit wait. One real node over a transport that records
 * what it broadcasts, on a SimulatedClock; the ticks are called by hand.
 */
import assert from 'node:assert/strict'
import type { ConsensusMessage } from '../../src/consensus/messages.ts'
import { ConsensusNode } from '../../src/consensus/node.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { FAST_TIMEOUTS, makeChain, memoryComponents } from './helpers/fixtures.ts'

function recordingNode(validators: number, index: number) {
  const clock = new SimulatedClock()
  const sent: ConsensusMessage[] = []
  const chain = makeChain(validators)
  const { components } = memoryComponents(chain, index, clock, {
    broadcast: (m) => sent.push(m),
    send: (_peer, m) => sent.push(m),
  })
  const node = ConsensusNode.open(components)
  /** What one tick sends. */
  const tick = (): string[] => {
    const before = sent.length
    node.gossip()
    return sent.slice(before).map((m) => (m.kind === 'vote' ? `${m.vote.type}` : m.kind))
  }
  return { clock, node, tick }
}

describe('consensus: gossip ticks', () => {
  it('re-sends nothing on the tick after a step change in the same round, and its votes on the next', () => {
    // Four validators, the other three silent: node 3 (not round 0's proposer at height 1, or
    // it would prevote at once) waits out the propose timeout, prevotes nil, then waits for prevotes that never come.
    const { clock, node, tick } = recordingNode(4, 3)
    assert.equal(node.state.step, 'propose')
    assert.deepEqual(tick(), [])
    clock.advance(FAST_TIMEOUTS.proposeMs)
    assert.equal(node.state.step, 'prevote')
    assert.equal(node.state.round, 0)
    // Same height and round as the last tick, another step: its prevote went out moments ago.
    assert.deepEqual(tick(), [])
    // A whole tick in the same step: stuck, so it announces its height and re-sends its prevote.
    assert.deepEqual(tick(), ['status', 'prevote'])
    assert.deepEqual(tick(), ['status', 'prevote'])
  })

  it('re-sends nothing while it waits out the commit timeout, however many ticks fall in it', () => {
    // A single validator decides each height alone, then waits out the commit timeout.
    const { clock, node, tick } = recordingNode(1, 0)
    clock.advance(0)
    assert.equal(node.state.step, 'newHeight')
    const height = node.state.tip.height
    assert.ok(height >= 2, `decided height 1 at once (at ${height})`)
    assert.deepEqual(tick(), [])
    assert.deepEqual(tick(), [])
    assert.deepEqual(tick(), [])
    assert.equal(node.state.tip.height, height)
  })
})
