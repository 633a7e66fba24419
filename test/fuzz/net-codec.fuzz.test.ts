/**
 * Fuzzing the network's message decoders: the gossip codec with each topic's shape check,
 * topic strings, activation stream headers, content-store root headers and block-exchange
 * requests. Hostile bytes only ever raise the network's typed errors; valid values survive
 * encode → decode unchanged.
 */
import assert from 'node:assert/strict'
import * as dagPb from '@ipld/dag-pb'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { cidOf } from '../../src/codec/cid.ts'
import { decodeHeader, type TensorHeader } from '../../src/net/activation-stream.ts'
import { decodeBlockRequest } from '../../src/net/block-exchange.ts'
import { decodeMessage, encodeMessage } from '../../src/net/codec.ts'
import { decodeRootBlock, parseHeader, type RootHeader } from '../../src/net/content-store.ts'
import { BadFrameError, MalformedMessageError, MessageTooLargeError, UnknownTopicError } from '../../src/net/errors.ts'
import {
  parseTopic,
  SUBNET_MEMBER_ROLES,
  type TopicKind,
  type TopicPayloads,
  topicSpecs,
  topicString,
} from '../../src/net/topics.ts'
import { fuzzParams, hostileBytes, onlyTyped, rec } from './helpers/bytes.ts'

const cid = fc.uint8Array({ maxLength: 64 }).map((b) => cidOf(b))
const cidString = cid.map((c) => c.toString())
const uint = fc.oneof(fc.nat({ max: 10_000 }), fc.constant(Number.MAX_SAFE_INTEGER))
const direction = fc.constantFrom('forward' as const, 'backward' as const)
/** A libp2p peer id as it is written (base58btc: `12D3KooW…` for ed25519 keys). */
const peerIdString = fc.stringMatching(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/)

const payloads: { [K in TopicKind]: fc.Arbitrary<TopicPayloads[K]> } = {
  tx: rec({ tx: fc.uint8Array({ maxLength: 512 }) }),
  presence: rec({
    peer: peerIdString,
    window: uint,
    roles: fc.subarray([...SUBNET_MEMBER_ROLES], { minLength: 1 }),
    range: fc.option(cidString, { nil: null }),
    adapter: fc.option(cidString, { nil: null }),
  }),
  holdings: rec({ peer: peerIdString, window: uint, cids: fc.array(cidString, { maxLength: 64 }) }),
}
const kinds = Object.keys(payloads) as TopicKind[]

const tensorHeader: fc.Arbitrary<TensorHeader> = rec({
  v: fc.constant(2 as const),
  direction,
  window: uint,
  step: uint,
  innerStep: uint,
  microBatch: uint,
  sizeBytes: uint,
  cid: cidString,
})

const rootHeader: fc.Arbitrary<RootHeader> = rec({
  v: fc.constant(1 as const),
  size: uint,
  chunkBytes: fc.integer({ min: 1, max: 1 << 20 }),
  content: cidString,
})

describe('fuzz: network message decoders', () => {
  describe('gossip codec and topic shapes', () => {
    for (const kind of kinds) {
      const spec = topicSpecs[kind]
      const valid = (payloads[kind] as fc.Arbitrary<unknown>).map((p) => encodeMessage(p, spec.maxBytes))

      it(`${kind}: raises only MalformedMessageError or MessageTooLargeError on hostile bytes`, () => {
        fc.assert(
          fc.property(hostileBytes(valid), (bytes) => {
            onlyTyped(
              () => spec.shape(decodeMessage(bytes, spec.maxBytes, kind), kind),
              MalformedMessageError,
              MessageTooLargeError,
            )
          }),
          fuzzParams(),
        )
      })

      it(`${kind}: decodes every valid payload to itself`, () => {
        fc.assert(
          fc.property(payloads[kind] as fc.Arbitrary<unknown>, (p) => {
            assert.deepStrictEqual(spec.shape(decodeMessage(encodeMessage(p, spec.maxBytes), spec.maxBytes), kind), p)
          }),
          fuzzParams(),
        )
      })
    }

    it('refuses msgpack nested as deep as the size cap allows with MalformedMessageError', () => {
      const maxBytes = topicSpecs.tx.maxBytes
      const deep = new Uint8Array(maxBytes).fill(0x91)
      deep[maxBytes - 1] = 0xc0
      assert.throws(() => decodeMessage(deep, maxBytes), MalformedMessageError)
    })
  })

  describe('topic strings', () => {
    const address = fc.oneof(
      rec({ kind: fc.constant('tx' as TopicKind), chainId: fc.constant('r3mes-fuzz') }),
      rec({
        kind: fc.constantFrom<TopicKind>('presence', 'holdings'),
        chainId: fc.constant('r3mes-fuzz'),
        subnet: fc.nat({ max: 999_999_999 }),
      }),
    )
    const topic = address.map(topicString)
    const hostileTopic = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc
        .tuple(topic, fc.nat(), fc.string({ maxLength: 12 }))
        .map(([t, at, s]) => t.slice(0, at % (t.length + 1)) + s + t.slice(at % (t.length + 1))),
    )

    it('parseTopic raises only UnknownTopicError on hostile strings', () => {
      fc.assert(
        fc.property(hostileTopic, (t) => {
          const parsed = onlyTyped(() => parseTopic(t, 'r3mes-fuzz'), UnknownTopicError)
          // Whatever parses names exactly one topic: printing it gives the same string back.
          if (parsed !== undefined) assert.equal(topicString(parsed), t)
        }),
        fuzzParams(),
      )
    })

    it('parses every topic string to its address', () => {
      fc.assert(
        fc.property(address, (a) => {
          assert.deepStrictEqual(parseTopic(topicString(a), a.chainId), a)
        }),
        fuzzParams(),
      )
    })
  })

  describe('activation stream header (decodeHeader)', () => {
    it('raises only BadFrameError on hostile bytes', () => {
      fc.assert(
        fc.property(hostileBytes(tensorHeader.map((h) => encodeMessage(h, 1024))), (bytes) => {
          onlyTyped(() => decodeHeader(bytes), BadFrameError)
        }),
        fuzzParams(),
      )
    })

    it('decodes every valid header to itself', () => {
      fc.assert(
        fc.property(tensorHeader, (h) => {
          assert.deepStrictEqual(decodeHeader(encodeMessage(h, 1024)), h)
        }),
        fuzzParams(),
      )
    })
  })

  describe('content-store root block (decodeRootBlock)', () => {
    it('raises only MalformedMessageError on hostile bytes, and decodes a real root block', () => {
      const header = encodeMessage({ v: 1, size: 3, chunkBytes: 3, content: 'x' }, 512)
      const chunk = cidOf(new Uint8Array([1, 2, 3]))
      const root = dagPb.encode(dagPb.prepare({ Data: header, Links: [{ Hash: chunk, Tsize: 3 }] }))
      assert.deepEqual(decodeRootBlock(root).Links[0]?.Hash.toString(), chunk.toString())
      fc.assert(
        fc.property(hostileBytes(fc.constant(root)), (bytes) => {
          onlyTyped(() => decodeRootBlock(bytes), MalformedMessageError)
        }),
        fuzzParams(),
      )
    })
  })

  describe('content-store root header (parseHeader)', () => {
    it('raises only MalformedMessageError or MessageTooLargeError on hostile bytes', () => {
      fc.assert(
        fc.property(hostileBytes(rootHeader.map((h) => encodeMessage(h, 512))), (bytes) => {
          const header = onlyTyped(() => parseHeader(bytes), MalformedMessageError, MessageTooLargeError)
          // A header that passes sizes an allocation: its size must be one a Uint8Array can have.
          if (header !== undefined) assert.ok(header.size >= 0 && header.chunkBytes > 0)
        }),
        fuzzParams(),
      )
    })

    it('refuses bytes that decode to no map at all', () => {
      // Found by the fuzzer: an empty msgpack extension decodes to undefined, and reading the
      // header's version from it threw a TypeError.
      assert.throws(() => parseHeader(Uint8Array.from([199, 0, 0])), MalformedMessageError)
    })

    it('refuses a negative content size', () => {
      // Found by the fuzzer: size -1 passed the header check and reached `new Uint8Array(size)`,
      // a RangeError in the middle of a fetch instead of a refusal of the peer's root block.
      const header = { v: 1, size: -1, chunkBytes: 1024, content: cidOf(new Uint8Array(0)).toString() }
      assert.throws(() => parseHeader(encodeMessage(header, 512)), MalformedMessageError)
    })

    it('decodes every valid header to itself', () => {
      fc.assert(
        fc.property(rootHeader, (h) => {
          assert.deepStrictEqual(parseHeader(encodeMessage(h, 512)), h)
        }),
        fuzzParams(),
      )
    })
  })

  describe('block-exchange request (decodeBlockRequest)', () => {
    it('raises only MalformedMessageError on hostile bytes', () => {
      fc.assert(
        fc.property(hostileBytes(cid.map((c) => c.bytes)), (bytes) => {
          onlyTyped(() => decodeBlockRequest(bytes, 'peer'), MalformedMessageError)
        }),
        fuzzParams(),
      )
    })

    it('decodes every CID to itself', () => {
      fc.assert(
        fc.property(cid, (c) => {
          const decoded = decodeBlockRequest(c.bytes, 'peer')
          assert.ok(decoded.equals(c))
          assert.equal(decoded.code, raw.code)
          assert.ok(CID.asCID(decoded) !== null)
        }),
        fuzzParams(),
      )
    })
  })
})
