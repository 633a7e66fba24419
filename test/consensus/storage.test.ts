import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha256 } from '../../src/codec/hash.ts'
import { hashBlock, makeBlock } from '../../src/consensus/block.ts'
import { encode } from '../../src/consensus/codec.ts'
import { DoubleSignRefusedError, StoreCorruptError } from '../../src/consensus/errors.ts'
import { genesisTip } from '../../src/consensus/genesis.ts'
import type { Signer } from '../../src/consensus/keys.ts'
import { type ConsensusMessage, decodeMessage, encodeMessage } from '../../src/consensus/messages.ts'
import { ConsensusNode } from '../../src/consensus/node.ts'
import { FileLastSignedStore, PrivValidator } from '../../src/consensus/privval.ts'
import { FileBlockStore, FileStateStore } from '../../src/consensus/stores.ts'
import type { Wal } from '../../src/consensus/wal.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { beaconFields, makeChain, memoryComponents } from './helpers/fixtures.ts'

const chain = makeChain(4)
const chainId = chain.genesis.chainId
const signer = chain.signerByIndex[0] as Signer

describe('privval, stores and messages', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-store-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('the privval re-signs identical votes, refuses conflicts and regressions, and remembers across restarts', () => {
    const path = join(dir, 'privval')
    const pv = new PrivValidator(signer, new FileLastSignedStore(path))
    const v = { type: 'prevote' as const, height: 5, round: 1, blockHash: sha256(), validatorIndex: 0 }
    const a = pv.signVote(chainId, v)
    assert.deepEqual(pv.signVote(chainId, v).signature, a.signature)
    assert.throws(() => pv.signVote(chainId, { ...v, blockHash: null }), DoubleSignRefusedError)
    pv.signVote(chainId, { ...v, type: 'precommit' })
    assert.throws(() => pv.signVote(chainId, v), /regression/)
    const reopened = new PrivValidator(signer, new FileLastSignedStore(path))
    assert.throws(
      () => reopened.signVote(chainId, { ...v, type: 'precommit', blockHash: null }),
      DoubleSignRefusedError,
    )
    assert.throws(
      () => reopened.signProposal(chainId, { height: 5, round: 0, polRound: -1, blockHash: sha256() }),
      /regression/,
    )
    assert.doesNotThrow(() =>
      reopened.signProposal(chainId, { height: 6, round: 0, polRound: -1, blockHash: sha256() }),
    )
  })

  it('a torn last-signed write leaves the previous record in force', () => {
    const path = join(dir, 'privval')
    let tear = false
    const store = new FileLastSignedStore(path, () => (tear ? 'tear' : 'proceed'))
    const pv = new PrivValidator(signer, store)
    const v = { type: 'prevote' as const, height: 3, round: 0, blockHash: sha256(), validatorIndex: 0 }
    pv.signVote(chainId, v)
    pv.signVote(chainId, { ...v, type: 'precommit' })
    tear = true
    assert.throws(() => pv.signVote(chainId, { ...v, height: 4 }), /injected fault/)
    const last = new FileLastSignedStore(path).load()
    assert.deepEqual(
      [last?.height, last?.round, last?.step],
      [3, 0, 2],
      'the precommit at height 3 is still the last signed',
    )
    writeFileSync(path, new Uint8Array(2 * 512).fill(7))
    assert.throws(() => new FileLastSignedStore(path).load(), StoreCorruptError)
  })

  it('the block and state stores round-trip and detect damage', () => {
    const block = makeBlock({
      chainId,
      height: 1,
      timeMs: 5,
      previousBlockHash: new Uint8Array(32),
      appHash: sha256(),
      proposer: chain.validators.proposer.address,
      ...beaconFields(chain, chain.validators.proposer.address),
      txs: [new TextEncoder().encode('a=1')],
      evidence: [],
      lastCommit: null,
    })
    const commit = { height: 1, round: 0, blockHash: hashBlock(block), signatures: [] }
    const blocks = new FileBlockStore(join(dir, 'blocks'))
    blocks.save({ block, commit })
    assert.equal(new FileBlockStore(join(dir, 'blocks')).height(), 1)
    assert.deepEqual(new FileBlockStore(join(dir, 'blocks')).load(1)?.block, block)
    const [file] = readdirSync(join(dir, 'blocks'))
    const bytes = readFileSync(join(dir, 'blocks', file as string))
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 1
    writeFileSync(join(dir, 'blocks', file as string), bytes)
    assert.throws(() => new FileBlockStore(join(dir, 'blocks')).load(1), StoreCorruptError)

    const tip = { ...genesisTip(chain.genesis, sha256()), validators: chain.validators.incrementProposerPriority(3) }
    const states = new FileStateStore(join(dir, 'state'))
    states.save(tip)
    const loaded = new FileStateStore(join(dir, 'state')).load()
    assert.ok(loaded !== undefined)
    assert.deepEqual(loaded.validators.proposer.address, tip.validators.proposer.address)
    assert.deepEqual(
      loaded.validators.validators.map((v) => v.priority),
      tip.validators.validators.map((v) => v.priority),
    )
  })

  it('an input that cannot be written to the WAL is never processed', () => {
    const clock = new SimulatedClock()
    const sent: ConsensusMessage[] = []
    const { components } = memoryComponents(chain, 0, clock, { broadcast: (m) => sent.push(m), send: () => {} })
    let failWrites = false
    const inner = components.wal
    const wal: Wal = {
      append: (input, sync) => {
        if (failWrites) throw new Error('disk full')
        inner.append(input, sync)
      },
      sync: () => inner.sync(),
      startHeight: (h) => inner.startHeight(h),
      readFrom: (h) => inner.readFrom(h),
      get segmentBytes() {
        return inner.segmentBytes
      },
      close: () => inner.close(),
    }
    const node = ConsensusNode.open({ ...components, wal })
    const before = node.state
    failWrites = true
    const unsigned = { type: 'prevote' as const, height: 1, round: 0, blockHash: null, validatorIndex: 1 }
    const other = chain.signerByIndex[1] as Signer
    node.receive(
      {
        kind: 'vote',
        vote: {
          ...unsigned,
          signature: new PrivValidator(other, { load: () => undefined, save: () => {} }).signVote(chainId, unsigned)
            .signature,
        },
      },
      'v1',
    )
    assert.equal(node.state, before, 'the core never saw the vote')
    assert.match(String(node.crashed), /disk full/)
  })

  it('every message kind survives the wire, and malformed or oversized bytes are refused', () => {
    const vote = new PrivValidator(signer, { load: () => undefined, save: () => {} }).signVote(chainId, {
      type: 'precommit',
      height: 2,
      round: 0,
      blockHash: sha256(),
      validatorIndex: 0,
    })
    const messages: ConsensusMessage[] = [
      { kind: 'vote', vote },
      { kind: 'evidence', evidence: { voteA: vote, voteB: { ...vote, blockHash: null } } },
      { kind: 'txs', txs: [new Uint8Array([1, 2, 3])] },
      { kind: 'status', height: 9 },
      { kind: 'status', height: 9, proposalRound: 2 },
    ]
    for (const m of messages) assert.deepEqual(decodeMessage(encodeMessage(m)), m)
    assert.throws(() => decodeMessage(new Uint8Array([0xc1])), /malformed/)
    assert.throws(() => decodeMessage(encodeMessage({ kind: 'status', height: 0 })), /malformed/)
    assert.throws(
      () => decodeMessage(encodeMessage({ kind: 'status', height: 9, proposalRound: -1 })),
      /malformed status message: its proposal round/,
    )
    assert.throws(() => decodeMessage(encode(['status', 9, 0, 'extra'])), /its proposal round/)
    assert.throws(() => decodeMessage(new Uint8Array(9 * 1024 * 1024)), /too large/)
  })
})
