/**
 * A peer must not be able to write to a node's WAL what the core cannot use (far-future
 * heights and rounds, junk signatures, votes of non-validators, duplicates), nor grow one
 * height's segment past its cap with inputs that look valid.
 */
import assert from 'node:assert/strict'
import type { Signer } from '../../src/consensus/keys.ts'
import { ConsensusNode } from '../../src/consensus/node.ts'
import { PrivValidator } from '../../src/consensus/privval.ts'
import type { UnsignedVote, Vote } from '../../src/consensus/types.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { MAX_CONSENSUS_ROUND } from '../../src/runtime/limits.ts'
import { makeChain, memoryComponents } from './helpers/fixtures.ts'

const chain = makeChain(4)
const { chainId } = chain.genesis

function sign(index: number, unsigned: UnsignedVote): Vote {
  const signer = chain.signerByIndex[index] as Signer
  // A fresh privval per vote: the attack needs signatures the double-sign guard would refuse.
  return new PrivValidator(signer, { load: () => undefined, save: () => {} }).signVote(chainId, unsigned)
}

function openNode(maxWalSegmentPeerBytes?: number): ConsensusNode {
  const clock = new SimulatedClock()
  const { components } = memoryComponents(chain, 0, clock, { broadcast: () => {}, send: () => {} })
  return ConsensusNode.open(
    maxWalSegmentPeerBytes === undefined ? components : { ...components, maxWalSegmentPeerBytes },
  )
}

describe('consensus: what a peer can put in the WAL', () => {
  it('logs none of far-future heights and rounds, junk signatures, unknown validators or duplicates', () => {
    const node = openNode()
    const wal = node.io.components.wal
    const logged = (): number => wal.readFrom(1).length
    const before = logged()
    const base = { type: 'prevote' as const, height: 1, round: 0, blockHash: null, validatorIndex: 1 }
    const junk = (v: Vote): Vote => ({ ...v, signature: new Uint8Array(64).fill(7) })
    const refused: Vote[] = [
      sign(1, { ...base, height: 1_000_000 }),
      sign(1, { ...base, height: 3 }),
      sign(1, { ...base, round: MAX_CONSENSUS_ROUND + 1 }),
      sign(1, { ...base, round: node.state.config.maxRoundsAhead + 1 }),
      junk(sign(1, base)),
      junk(sign(1, { ...base, height: 2 })),
      { ...sign(1, base), validatorIndex: 9 },
    ]
    for (const vote of refused) node.receive({ kind: 'vote', vote }, 'peer')
    assert.equal(logged(), before, 'nothing the core cannot use reached the WAL')

    const good = sign(1, base)
    node.receive({ kind: 'vote', vote: good }, 'peer')
    const afterOne = logged()
    assert.equal(afterOne, before + 1, 'a valid vote is logged')
    for (let i = 0; i < 100; i++) node.receive({ kind: 'vote', vote: good }, 'peer')
    assert.equal(logged(), afterOne, 'the same vote again is not logged again')
    assert.equal(node.crashed, undefined)
  })

  it('keeps a height segment under its cap against a flood of valid-looking votes, and still logs its own', () => {
    const capBytes = 64 * 1024
    const node = openNode(capBytes)
    const wal = node.io.components.wal
    // A Byzantine validator signs as many distinct votes as it likes: twins for random blocks.
    for (let i = 0; i < 2000; i++) {
      const blockHash = new Uint8Array(32)
      new DataView(blockHash.buffer).setUint32(0, i + 1)
      node.receive(
        { kind: 'vote', vote: sign(1, { type: 'prevote', height: 1, round: i % 50, blockHash, validatorIndex: 1 }) },
        'peer',
      )
    }
    // A signed prevote for a block is about 150 bytes logged: the cap holds a few hundred, not 2000.
    const logged = wal.readFrom(1).length
    assert.ok(logged < 600, `${logged} inputs logged from the flood`)
    const record = 300
    assert.ok(wal.segmentBytes <= capBytes + record, `segment at ${wal.segmentBytes} bytes, cap ${capBytes}`)
    assert.ok(node.io.droppedOverWalCap > 0, 'the flood reached the cap and was dropped past it')
    const own = wal.segmentBytes
    node.io.log({ type: 'timeout', kind: 'propose', height: 1, round: 0 })
    assert.ok(wal.segmentBytes > own, 'own inputs are logged past the cap')
    assert.equal(node.crashed, undefined)
  })
})
