/**
 * The simulator's shared blocks (src/sim/shared-blocks.ts): block stores hold one object per
 * block hash, keep telling different blocks of one height apart, and forget heights below
 * their bound.
 */
import assert from 'node:assert/strict'
import { makeBlock } from '../../src/consensus/block.ts'
import type { Block, Commit } from '../../src/consensus/types.ts'
import { SharedBlocks } from '../../src/sim/shared-blocks.ts'

const blockAt = (height: number, tx = 'tx'): Block =>
  makeBlock({
    chainId: 'c',
    height,
    timeMs: height * 1000,
    previousBlockHash: new Uint8Array(32),
    appHash: new Uint8Array(32),
    proposer: new Uint8Array(20),
    vrfProof: new Uint8Array(80),
    beacon: new Uint8Array(32),
    txs: [new TextEncoder().encode(`${tx}/${height}`)],
    evidence: [],
    lastCommit: null,
  })
const commitOf = (height: number): Commit => ({ height, round: 0, blockHash: new Uint8Array(32), signatures: [] })

describe('sim: shared blocks', () => {
  it('stores of different validators hold one object per block, each with its own commit', () => {
    const shared = new SharedBlocks(10)
    const [a, b] = [shared.store(), shared.store()]
    const commitA = commitOf(1)
    const commitB = commitOf(1)
    a.save({ block: blockAt(1), commit: commitA })
    b.save({ block: blockAt(1), commit: commitB })
    assert.notEqual(blockAt(1), blockAt(1), 'decoded copies are distinct objects')
    assert.equal(a.load(1)?.block, b.load(1)?.block)
    assert.equal(a.load(1)?.commit, commitA)
    assert.equal(b.load(1)?.commit, commitB)
    assert.equal(b.height(), 1)
  })

  it('keeps apart two blocks of one height, and forgets heights below its bound', () => {
    const shared = new SharedBlocks(2)
    const one = shared.intern(blockAt(1))
    const other = shared.intern(blockAt(1, 'another tx'))
    assert.notEqual(one, other)
    assert.equal(shared.intern(blockAt(1)), one)
    shared.intern(blockAt(2))
    shared.intern(blockAt(3))
    // Height 1 is now two below the newest: a copy of it is handed back as it is.
    const late = blockAt(1)
    assert.equal(shared.intern(late), late)
    assert.notEqual(late, one)
  })
})
