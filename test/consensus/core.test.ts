import assert from 'node:assert/strict'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { beaconAlpha, genesisBeacon } from '../../src/consensus/beacon.ts'
import { hashBlock, makeBlock } from '../../src/consensus/block.ts'
import { initialState, step } from '../../src/consensus/core.ts'
import type { ConsensusEffect, ConsensusInput, ConsensusState } from '../../src/consensus/core-types.ts'
import { genesisTip } from '../../src/consensus/genesis.ts'
import type { Signer } from '../../src/consensus/keys.ts'
import { proposalSignBytes, voteSignBytes } from '../../src/consensus/signing.ts'
import type { Block, Vote, VoteType } from '../../src/consensus/types.ts'
import { beaconFields, FAST_TIMEOUTS, makeChain, makeConfig } from './helpers/fixtures.ts'

const chain = makeChain(4)
const chainId = chain.genesis.chainId
const vals = chain.validators
const signer = (i: number) => chain.signerByIndex[i] as Signer
const proposerIndex = (round: number) => vals.indexOf(vals.forRound(round).proposer.address)

function vote(i: number, type: VoteType, round: number, blockHash: Uint8Array | null, height = 1): Vote {
  const unsigned = { type, height, round, blockHash, validatorIndex: i }
  return { ...unsigned, signature: signer(i).sign(voteSignBytes(chainId, unsigned)) }
}

function block(round: number, txs: string[] = []): Block {
  return makeBlock({
    chainId,
    height: 1,
    timeMs: chain.genesis.genesisTimeMs + 1000 + round,
    previousBlockHash: new Uint8Array(32),
    appHash: sha256(),
    proposer: vals.at(proposerIndex(round))?.address as Uint8Array,
    ...beaconFields(chain, vals.at(proposerIndex(round))?.address as Uint8Array),
    txs: txs.map((t) => new TextEncoder().encode(t)),
    evidence: [],
    lastCommit: null,
  })
}

function proposal(round: number, b: Block, polRound = -1): ConsensusInput {
  const unsigned = { height: 1, round, polRound, blockHash: hashBlock(b) }
  const p = { ...unsigned, signature: signer(proposerIndex(round)).sign(proposalSignBytes(chainId, unsigned)) }
  return { type: 'proposal', proposal: p, block: b }
}

/** A node that is never the proposer of rounds 0-2, so the tests feed it proposals. */
const me = [0, 1, 2, 3].find((i) => ![0, 1, 2].map(proposerIndex).includes(i)) ?? 0

function fresh(index = me): ConsensusState {
  return initialState(makeConfig(chain, index), genesisTip(chain.genesis, sha256()))
}

function run(
  state: ConsensusState,
  ...inputs: ConsensusInput[]
): { state: ConsensusState; effects: ConsensusEffect[] } {
  const effects: ConsensusEffect[] = []
  for (const input of inputs) {
    const r = step(state, input)
    state = r.state
    effects.push(...r.effects)
  }
  return { state, effects }
}

const signed = (effects: ConsensusEffect[]) =>
  effects.flatMap((e) =>
    e.type === 'signVote'
      ? [`${e.vote.type}:${e.vote.round}:${e.vote.blockHash === null ? 'nil' : toHex(e.vote.blockHash).slice(0, 8)}`]
      : [],
  )
const others = [0, 1, 2, 3].filter((i) => i !== me)

describe('consensus core (pure step)', () => {
  it('the proposer asks for content, then signs a proposal for a block built on the tip', () => {
    const p = proposerIndex(0)
    let r = run(fresh(p), { type: 'start' })
    assert.ok(r.effects.some((e) => e.type === 'requestProposalContent'))
    r = run(r.state, {
      type: 'proposalContent',
      height: 1,
      round: 0,
      timeMs: 5,
      txs: [new TextEncoder().encode('a=1')],
      evidence: [],
      vrfProof: signer(p).proveVrf(beaconAlpha(genesisBeacon(chain.genesis, sha256()))),
    })
    const sp = r.effects.find((e) => e.type === 'signProposal')
    assert.ok(sp !== undefined && sp.type === 'signProposal')
    assert.equal(sp.block.header.height, 1)
    assert.equal(sp.block.txs.length, 1)
    assert.ok(sp.block.header.timeMs > chain.genesis.genesisTimeMs, 'block time moves past the previous block')
  })

  it('prevotes a valid proposal, locks and precommits on a polka, commits on +2/3 precommits, then starts height 2', () => {
    const b = block(0, ['x=1'])
    const h = hashBlock(b)
    let r = run(fresh(), { type: 'start' }, proposal(0, b))
    assert.deepEqual(signed(r.effects), [`prevote:0:${toHex(h).slice(0, 8)}`])
    r = run(r.state, ...others.map((i) => ({ type: 'vote' as const, vote: vote(i, 'prevote', 0, h) })))
    assert.deepEqual(signed(r.effects), [`precommit:0:${toHex(h).slice(0, 8)}`])
    assert.equal(r.state.lockedRound, 0)
    r = run(r.state, ...others.slice(0, 2).map((i) => ({ type: 'vote' as const, vote: vote(i, 'precommit', 0, h) })))
    assert.ok(!r.effects.some((e) => e.type === 'commitBlock'), 'two precommits of four are not +2/3')
    r = run(r.state, { type: 'vote', vote: vote(me, 'precommit', 0, h) })
    const commit = r.effects.find((e) => e.type === 'commitBlock')
    assert.ok(commit !== undefined && commit.type === 'commitBlock')
    assert.equal(commit.commit.signatures.length, 3)
    assert.equal(r.state.step, 'commit')
    r = run(r.state, { type: 'blockApplied', height: 1, appHash: sha256(new Uint8Array([1])), validatorUpdates: [] })
    assert.equal(r.state.tip.height, 2)
    assert.equal(toHex(r.state.tip.lastBlockHash), toHex(h))
    assert.ok(r.effects.some((e) => e.type === 'newHeight'))
  })

  it('a node locked on a block prevotes nil for a different fresh proposal in a later round', () => {
    const b0 = block(0)
    const h0 = hashBlock(b0)
    let r = run(fresh(), { type: 'start' }, proposal(0, b0))
    r = run(r.state, ...others.map((i) => ({ type: 'vote' as const, vote: vote(i, 'prevote', 0, h0) })))
    assert.equal(r.state.lockedRound, 0)
    // Round 0 fails to commit: +2/3 precommits of mixed values, then the precommit timeout.
    r = run(r.state, ...others.map((i) => ({ type: 'vote' as const, vote: vote(i, 'precommit', 0, null) })))
    r = run(r.state, { type: 'timeout', kind: 'precommit', height: 1, round: 0 })
    assert.equal(r.state.round, 1)
    const b1 = block(1, ['other=1'])
    r = run(r.state, proposal(1, b1))
    assert.deepEqual(signed(r.effects), ['prevote:1:nil'])
    // A re-proposal of the locked block with its polka is prevoted.
    r = run(r.state, { type: 'timeout', kind: 'prevote', height: 1, round: 1 })
    const again = run(
      fresh(),
      { type: 'start' },
      proposal(0, b0),
      ...others.map((i) => ({ type: 'vote' as const, vote: vote(i, 'prevote', 0, h0) })),
    )
    const skip = run(
      again.state,
      ...others.slice(0, 2).map((i) => ({ type: 'vote' as const, vote: vote(i, 'prevote', 2, null) })),
    )
    assert.equal(skip.state.round, 2)
    const re = run(skip.state, proposal(2, b0, 0))
    assert.deepEqual(signed(re.effects), [`prevote:2:${toHex(h0).slice(0, 8)}`])
  })

  it('skips to a higher round on votes from more than 1/3 of the power, not on fewer', () => {
    let r = run(fresh(), { type: 'start' }, { type: 'vote', vote: vote(others[0] as number, 'prevote', 5, null) })
    assert.equal(r.state.round, 0, 'one validator of four is not more than 1/3')
    r = run(r.state, { type: 'vote', vote: vote(others[1] as number, 'precommit', 5, null) })
    assert.equal(r.state.round, 5)
    assert.equal(r.state.step, 'propose')
  })

  it('timeouts grow with the round, and a stale timeout does nothing', () => {
    const r0 = run(fresh(), { type: 'start' })
    const t0 = r0.effects.find((e) => e.type === 'scheduleTimeout')
    assert.ok(t0?.type === 'scheduleTimeout' && t0.durationMs === FAST_TIMEOUTS.proposeMs)
    const r3 = run(
      r0.state,
      ...others.slice(0, 2).map((i) => ({ type: 'vote' as const, vote: vote(i, 'prevote', 3, null) })),
    )
    const t3 = r3.effects.find((e) => e.type === 'scheduleTimeout' && e.kind === 'propose')
    assert.ok(
      t3?.type === 'scheduleTimeout' && t3.durationMs === FAST_TIMEOUTS.proposeMs + 3 * FAST_TIMEOUTS.proposeDeltaMs,
    )
    const stale = run(r3.state, { type: 'timeout', kind: 'propose', height: 1, round: 0 })
    assert.equal(stale.effects.length, 0)
    assert.equal(stale.state.step, 'propose')
  })

  it('ignores bad signatures and reports an equivocation once, as evidence', () => {
    const h = hashBlock(block(0))
    const bad = { ...vote(others[0] as number, 'prevote', 0, h), signature: new Uint8Array(64) }
    let r = run(fresh(), { type: 'start' }, { type: 'vote', vote: bad })
    assert.equal(r.state.prevotes.get(0), undefined)
    const v = others[1] as number
    r = run(
      r.state,
      { type: 'vote', vote: vote(v, 'prevote', 0, h) },
      { type: 'vote', vote: vote(v, 'prevote', 0, null) },
      { type: 'vote', vote: vote(v, 'prevote', 0, null) },
    )
    const ev = r.effects.filter((e) => e.type === 'evidence')
    assert.equal(ev.length, 1)
  })

  it('never mutates the state it is given', () => {
    const s = run(fresh(), { type: 'start' }).state
    const before = { round: s.round, step: s.step, prevotes: s.prevotes.size, proposals: s.proposals.size }
    step(s, proposal(0, block(0)))
    step(s, { type: 'vote', vote: vote(others[0] as number, 'prevote', 4, null) })
    assert.deepEqual({ round: s.round, step: s.step, prevotes: s.prevotes.size, proposals: s.proposals.size }, before)
  })
})
