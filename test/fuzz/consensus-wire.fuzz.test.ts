/**
 * Fuzzing the consensus decoders that take bytes from a peer (decodeMessage), from the block
 * store (decodeCommittedBlock) and from the WAL (decodeInput): hostile bytes only ever raise
 * InvalidConsensusDataError, and valid values survive encode → decode unchanged.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { encode } from '../../src/consensus/codec.ts'
import { InvalidConsensusDataError } from '../../src/consensus/errors.ts'
import { decodeInput, encodeInput } from '../../src/consensus/input-codec.ts'
import { decodeMessage, encodeMessage } from '../../src/consensus/messages.ts'
import { decodeCommittedBlock, encodeCommittedBlock } from '../../src/consensus/wire.ts'
import { fuzzParams, hostileBytes, onlyTyped } from './helpers/bytes.ts'
import { committedBlock, input, message } from './helpers/consensus-arbitraries.ts'

describe('fuzz: consensus wire decoders', () => {
  describe('decodeMessage (consensus channel)', () => {
    it('raises only InvalidConsensusDataError on hostile bytes', () => {
      fc.assert(
        fc.property(hostileBytes(message.map(encodeMessage)), (bytes) => {
          onlyTyped(() => decodeMessage(bytes), InvalidConsensusDataError)
        }),
        fuzzParams(),
      )
    })

    it('decodes every valid message to itself', () => {
      fc.assert(
        fc.property(message, (m) => {
          assert.deepStrictEqual(decodeMessage(encodeMessage(m)), m)
        }),
        fuzzParams(),
      )
    })
  })

  describe('decodeCommittedBlock (block store, catch-up)', () => {
    it('raises only InvalidConsensusDataError on hostile bytes', () => {
      fc.assert(
        fc.property(hostileBytes(committedBlock.map(encodeCommittedBlock)), (bytes) => {
          onlyTyped(() => decodeCommittedBlock(bytes), InvalidConsensusDataError)
        }),
        fuzzParams(),
      )
    })

    it('decodes every valid committed block to itself', () => {
      fc.assert(
        fc.property(committedBlock, (cb) => {
          assert.deepStrictEqual(decodeCommittedBlock(encodeCommittedBlock(cb)), cb)
        }),
        fuzzParams(),
      )
    })
  })

  describe('decodeInput (WAL records)', () => {
    it('raises only InvalidConsensusDataError on hostile bytes', () => {
      fc.assert(
        fc.property(hostileBytes(input.map(encodeInput)), (bytes) => {
          onlyTyped(() => decodeInput(bytes), InvalidConsensusDataError)
        }),
        fuzzParams(),
      )
    })

    it('decodes every valid input to itself', () => {
      fc.assert(
        fc.property(input, (i) => {
          assert.deepStrictEqual(decodeInput(encodeInput(i)), i)
        }),
        fuzzParams(),
      )
    })
  })

  it('refuses WAL inputs with heights, rounds, times or powers out of range, and short app hashes', () => {
    // Found by the fuzzer: decodeInput took any safe integer, so a damaged record replayed a
    // timeout of height -5 or a validator update of power -7 into the core.
    const key = new Uint8Array(32)
    const bad: unknown[][] = [
      ['timeout', 'propose', -5, 0],
      ['timeout', 'propose', 0, 0],
      ['timeout', 'prevote', 1, -1],
      ['proposalContent', -1, 0, 0, [], []],
      ['proposalContent', 1, -1, 0, [], []],
      ['proposalContent', 1, 0, -1, [], []],
      ['blockApplied', -1, new Uint8Array(32), []],
      ['blockApplied', 1, new Uint8Array(3), []],
      ['blockApplied', 1, new Uint8Array(32), [[key, -7]]],
    ]
    for (const record of bad)
      assert.throws(() => decodeInput(encode(record)), InvalidConsensusDataError, JSON.stringify(record))
  })

  it('refuses msgpack nested deeper than any message before it exhausts the stack', () => {
    // 100k nested arrays: a recursive decoder or validator would overflow the stack.
    const deep = new Uint8Array(100_001).fill(0x91)
    deep[deep.length - 1] = 0xc0
    for (const decode of [decodeMessage, decodeCommittedBlock, decodeInput])
      assert.throws(() => decode(deep), InvalidConsensusDataError)
    assert.throws(() => decodeMessage(encode(['vote', [1, 1, 0, null, 0]])), InvalidConsensusDataError)
  })
})
