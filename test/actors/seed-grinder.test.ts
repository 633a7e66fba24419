import assert from 'node:assert/strict'
import { seedGrinderTransport } from '../../src/actors/seed-grinder.ts'
import { ChainReader } from '../../src/chain/reader.ts'
import { aggregatorDraw } from '../../src/chain/windows.ts'
import { bytesEqual } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { beaconAlpha, beaconFault, beaconFromProof } from '../../src/consensus/beacon.ts'
import { hashBlock, makeBlock } from '../../src/consensus/block.ts'
import { addressOf, type Signer, signerFromSeed } from '../../src/consensus/keys.ts'
import type { ConsensusMessage } from '../../src/consensus/messages.ts'
import { proposalSignBytes } from '../../src/consensus/signing.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import { Harness, keys } from '../chain/harness.ts'

const validatorKeys = keys('validator', 4)
const grinderKey = validatorKeys[3] as (typeof validatorKeys)[0]
const grinder = signerFromSeed(grinderKey.secretKey)
const honestSigner = signerFromSeed((validatorKeys[0] as (typeof validatorKeys)[0]).secretKey)

/** A fresh proposal by `signer` at (height, round), its beacon the honest one over `previous`. */
function proposal(signer: Signer, height: number, round: number, previous: Uint8Array) {
  const vrfProof = signer.proveVrf(beaconAlpha(previous))
  const block = makeBlock({
    chainId: 'r3mes-local',
    height,
    timeMs: height * 1000,
    previousBlockHash: new Uint8Array(32),
    appHash: new Uint8Array(32),
    proposer: addressOf(signer.publicKey),
    vrfProof,
    beacon: beaconFromProof(previous, vrfProof) as Uint8Array,
    txs: [],
    evidence: [],
    lastCommit: null,
  })
  const unsigned = { height, round, polRound: -1, blockHash: hashBlock(block) }
  const message: ConsensusMessage = {
    kind: 'proposal',
    proposal: { ...unsigned, signature: signer.sign(proposalSignBytes('r3mes-local', unsigned)) },
    block,
  }
  return message as Extract<ConsensusMessage, { kind: 'proposal' }>
}

function setup() {
  const h = new Harness({ validators: validatorKeys })
  h.block() // window 0 opens at height 1
  const reader = new ChainReader(h.app.state)
  const sent: ConsensusMessage[] = []
  const transport = seedGrinderTransport({
    chainId: 'r3mes-local',
    signer: grinder,
    link: { broadcast: (m) => sent.push(m), send: (_, m) => sent.push(m) },
    chain: reader,
    logger: createLogger({ name: 'grinder-test', level: 'silent', clock: new SimulatedClock() }),
  })
  const drawsGrinder = (beacon: Uint8Array) =>
    aggregatorDraw(beacon, reader.withRole('validator')) === grinderKey.address
  /** A previous beacon over which the grinder's honest beacon does (or does not) draw it. */
  const previousWhere = (draws: boolean): Uint8Array => {
    for (let i = 0; ; i++) {
      const previous = sha256(new Uint8Array([i]))
      const p = proposal(grinder, 2, 0, previous)
      if (drawsGrinder(p.block.header.beacon) === draws) return previous
    }
  }
  const closeHeight = (reader.currentWindow() as { closeHeight: number }).closeHeight
  return { h, sent, transport, drawsGrinder, previousWhere, closeHeight }
}

describe('actors/seed-grinder: a proposer that tries to steer the beacon', () => {
  it('away from window openings it forges a beacon that draws it, with a proof honest validators refuse', () => {
    const { sent, transport, drawsGrinder } = setup()
    const previous = sha256(new Uint8Array([42]))
    const honest = proposal(grinder, 5, 0, previous)
    transport.broadcast(honest)
    const [out] = sent
    assert.ok(out?.kind === 'proposal')
    assert.ok(!bytesEqual(out.block.header.beacon, honest.block.header.beacon), 'the beacon was swapped')
    assert.ok(drawsGrinder(out.block.header.beacon), 'for one that would draw it as aggregator')
    const fault = beaconFault(grinder.publicKey, previous, out.block.header.vrfProof, out.block.header.beacon)
    assert.match(fault ?? '', /VRF proof does not verify/)
    assert.deepEqual(out.proposal.blockHash, hashBlock(out.block), 'signed for the forged block')
    assert.equal(transport.moves.get('forged'), 1)
  })

  it('at a window opening it proposes honestly when its own beacon draws it, else withholds, then forges', () => {
    const { sent, transport, previousWhere, closeHeight } = setup()
    const lucky = proposal(grinder, closeHeight, 0, previousWhere(true))
    transport.broadcast(lucky)
    assert.deepEqual(sent, [lucky], 'its honest block, untouched')
    const unlucky = previousWhere(false)
    transport.broadcast(proposal(grinder, closeHeight, 1, unlucky))
    assert.equal(sent.length, 1, 'withheld: nothing sent')
    transport.send('peer', proposal(grinder, closeHeight, 1, unlucky))
    assert.equal(sent.length, 1, 'a re-sent proposal of that round is withheld too')
    transport.broadcast(proposal(grinder, closeHeight, 2, unlucky))
    assert.equal(sent.length, 2)
    assert.ok(sent[1]?.kind === 'proposal' && !bytesEqual(sent[1].block.header.beacon, lucky.block.header.beacon))
    assert.deepEqual(Object.fromEntries(transport.moves), { honest: 1, withheld: 1, forged: 1 })
  })

  it('leaves other proposers’ blocks, re-proposals and votes alone', () => {
    const { sent, transport } = setup()
    const other = proposal(honestSigner, 5, 0, sha256(new Uint8Array([1])))
    const again = proposal(grinder, 5, 1, sha256(new Uint8Array([1])))
    const reproposal = { ...again, proposal: { ...again.proposal, polRound: 0 } }
    const vote: ConsensusMessage = {
      kind: 'vote',
      vote: { type: 'prevote', height: 5, round: 0, blockHash: null, validatorIndex: 3, signature: new Uint8Array(64) },
    }
    for (const m of [other, reproposal, vote]) transport.broadcast(m)
    assert.deepEqual(sent, [other, reproposal, vote])
    assert.equal(transport.moves.size, 0)
  })
})
