/**
 * When a node re-sends what it has (a gossip tick): only after a whole tick at the same height,
 * round and step, and never in the commit wait; and what a stuck node asks its peers for (its
 * height, a proposal it lacks), and how a peer answers. One real node over a transport that
 * records what it sends, on a SimulatedClock; the ticks are called by hand.
 */
import assert from 'node:assert/strict'
import type { ConsensusMessage } from '../../src/consensus/messages.ts'
import { ConsensusNode } from '../../src/consensus/node.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { FAST_TIMEOUTS, makeChain, memoryComponents } from './helpers/fixtures.ts'

function recordingNode(validators: number, index: number, options: { peers?: boolean } = {}) {
  const clock = new SimulatedClock()
  const sent: ConsensusMessage[] = []
  /** Each message with where it went: a peer's name, or '*' for a broadcast. */
  const log: { to: string; message: ConsensusMessage }[] = []
  const chain = makeChain(validators)
  const peers = Array.from({ length: validators }, (_, i) => `v${i}`).filter((_, i) => i !== index)
  const { components } = memoryComponents(chain, index, clock, {
    broadcast: (m) => {
      sent.push(m)
      log.push({ to: '*', message: m })
    },
    send: (peer, m) => {
      sent.push(m)
      log.push({ to: peer, message: m })
    },
    ...(options.peers === true ? { peers: () => peers } : {}),
  })
  const node = ConsensusNode.open(components)
  /** What one tick sends. */
  const tick = (): string[] => {
    const before = sent.length
    node.gossip()
    return sent.slice(before).map((m) => (m.kind === 'vote' ? `${m.vote.type}` : m.kind))
  }
  /** What one tick sends, with where each went. */
  const tickTo = (): string[] => {
    const before = log.length
    node.gossip()
    return log.slice(before).map(({ to, message: m }) => `${m.kind === 'vote' ? m.vote.type : m.kind}→${to}`)
  }
  return { clock, node, tick, tickTo, sent, log }
}

/** The validator proposing height 1, round 0 of a `validators`-validator test chain, and its proposal. */
function firstProposal(validators: number): {
  index: number
  proposal: Extract<ConsensusMessage, { kind: 'proposal' }>
} {
  for (let index = 0; index < validators; index++) {
    const { clock, sent } = recordingNode(validators, index)
    clock.advance(0)
    const proposal = sent.find((m) => m.kind === 'proposal')
    if (proposal !== undefined) return { index, proposal }
  }
  throw new Error('nobody proposed height 1')
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

  it('a stuck node that lacks the proposal asks two peers for it, two others each tick, and never re-sends a proposal', () => {
    const { clock, node, tickTo } = recordingNode(4, 3, { peers: true })
    clock.advance(FAST_TIMEOUTS.proposeMs)
    assert.equal(node.state.step, 'prevote')
    assert.deepEqual(tickTo(), [])
    const first = tickTo()
    assert.equal(first.filter((s) => s.startsWith('status→v')).length, 2, first.join(' '))
    assert.deepEqual(
      first.filter((s) => !s.startsWith('status')),
      ['prevote→*'],
    )
    const second = tickTo()
    assert.notDeepEqual(
      second.filter((s) => s.startsWith('status')),
      first.filter((s) => s.startsWith('status')),
      'the next tick asks another pair',
    )
  })

  it('asks for the round it lacks; a node holding the proposal re-sends it only when asked', () => {
    const { index, proposal } = firstProposal(4)
    const proposer = recordingNode(4, index, { peers: true })
    proposer.clock.advance(0)
    assert.equal(proposer.node.state.step, 'prevote', 'the proposer prevoted its own block')
    // Stuck in prevote (the others are silent): it asks for its height, it lacks nothing, and
    // re-sends its prevote, never the block.
    proposer.tickTo()
    const stuck = proposer.tickTo()
    assert.ok(stuck.length > 0)
    assert.ok(!stuck.some((s) => s.startsWith('proposal')), stuck.join(' '))
    assert.ok(
      proposer.log.slice(-stuck.length).every(({ message: m }) => m.kind !== 'status' || m.proposalRound === undefined),
    )

    const asker = recordingNode(4, (index + 1) % 4, { peers: true })
    asker.clock.advance(FAST_TIMEOUTS.proposeMs)
    asker.tickTo()
    asker.tickTo()
    const status = asker.log.findLast(({ message }) => message.kind === 'status')?.message
    assert.deepEqual(status, { kind: 'status', height: 1, proposalRound: 0 })
    assert.ok(status !== undefined)

    // The proposer answers the peer that asked, and only it; not again within a second.
    const before = proposer.log.length
    proposer.node.receive(status, 'v9')
    assert.deepEqual(
      proposer.log.slice(before).map(({ to, message }) => `${message.kind}→${to}`),
      ['proposal→v9'],
    )
    proposer.node.receive(status, 'v9')
    assert.equal(proposer.log.length, before + 1, 'no second copy within a second')
    proposer.clock.advance(1000)
    const later = proposer.log.length
    proposer.node.receive(status, 'v9')
    assert.ok(
      proposer.log.slice(later).some(({ to, message }) => message.kind === 'proposal' && to === 'v9'),
      'asked again a second later, it answers again',
    )
    // A node that does not hold the round's proposal sends nothing for it.
    const other = asker.log.length
    asker.node.receive(status, 'v8')
    assert.equal(asker.log.length, other)
    // And the asker takes what it was sent: it now holds the proposal.
    asker.node.receive(proposal, `v${index}`)
    assert.ok(asker.node.state.proposals.has(0))
  })

  it('a vote two heights ahead makes a node ask its sender for the decided block at once, once per height', () => {
    const { node, log } = recordingNode(4, 3, { peers: true })
    const vote = {
      type: 'prevote' as const,
      height: 3,
      round: 0,
      blockHash: null,
      validatorIndex: 0,
      signature: new Uint8Array(64),
    }
    node.receive({ kind: 'vote', vote }, 'v0')
    assert.deepEqual(
      log.map(({ to, message }) => ({ to, message })),
      [{ to: 'v0', message: { kind: 'status', height: 1 } }],
    )
    node.receive({ kind: 'vote', vote: { ...vote, validatorIndex: 1 } }, 'v1')
    assert.equal(log.length, 1, 'asked once for this height')
    // One height ahead proves nothing: the fastest peers move on while precommits still arrive.
    const fresh = recordingNode(4, 3, { peers: true })
    fresh.node.receive({ kind: 'vote', vote: { ...vote, height: 2 } }, 'v0')
    assert.equal(fresh.log.length, 0)
  })
})
