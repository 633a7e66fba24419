/**
 * Fuzzing stream framing from peers: the flood channel's frame splitter (FrameParser) and
 * frame decoder (parseFrame), and the activation streams' FrameReader. Arbitrary bytes, cut
 * into arbitrary chunks, only ever raise BadFrameError; valid frames come back as sent, however
 * the stream chunks them.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as varint from 'uint8-varint'
import { BadFrameError } from '../../src/net/errors.ts'
import { encodeMessageFrame, encodeNeighboursFrame, FrameParser, parseFrame } from '../../src/net/flood-channel.ts'
import { FrameReader } from '../../src/net/frame-reader.ts'
import { concat, fuzzParams, hostileBytes, onlyTyped, onlyTypedAsync } from './helpers/bytes.ts'

const MAX_FRAME_BYTES = 4096

/** A peer id as the frames carry it: any string of at most 255 UTF-8 bytes. */
const peerId = fc
  .string({ unit: 'binary', maxLength: 64 })
  .filter((s) => new TextEncoder().encode(s).byteLength <= 255 && s.isWellFormed())
const author = peerId.filter((s) => s !== '')

const messageFrame = fc.record({
  seq: fc.nat({ max: 0xffffffff }),
  author,
  to: peerId,
  body: fc.uint8Array({ maxLength: 256 }),
})
const messagePayload = messageFrame.map((m) => encodeMessageFrame(m.seq, m.author, m.to, m.body).payload)
const neighboursPayload = fc.array(author, { maxLength: 6 }).map(encodeNeighboursFrame)
const framePayload = fc.oneof(messagePayload, neighboursPayload)

function withPrefix(payload: Uint8Array): Uint8Array {
  return concat(varint.encode(payload.byteLength), payload)
}

/** `bytes` cut at arbitrary points, as a stream may deliver them. */
function chunked(bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array[]> {
  return fc.tuple(bytes, fc.array(fc.nat(), { maxLength: 6 })).map(([b, cuts]) => {
    const points = [...new Set(cuts.map((c) => c % (b.byteLength + 1)))].sort((x, y) => x - y)
    const out: Uint8Array[] = []
    let from = 0
    for (const p of [...points, b.byteLength]) {
      out.push(b.subarray(from, p))
      from = p
    }
    return out
  })
}

const wireStream = fc.array(framePayload, { minLength: 1, maxLength: 4 }).map((ps) => concat(...ps.map(withPrefix)))

async function* source(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c
}

describe('fuzz: stream framing', () => {
  describe('parseFrame (flood channel)', () => {
    it('raises only BadFrameError on hostile frames', () => {
      fc.assert(
        fc.property(hostileBytes(framePayload), (payload) => {
          onlyTyped(() => parseFrame(payload), BadFrameError)
        }),
        fuzzParams({ numRuns: 500 }),
      )
    })

    it('refuses a peer id that is not UTF-8 with BadFrameError', () => {
      // Found by the fuzzer: the strict UTF-8 decoder's TypeError escaped parseFrame.
      const frame = encodeMessageFrame(1, 'peer', '', new Uint8Array(0)).payload.slice()
      frame[6] = 0xff
      assert.throws(() => parseFrame(frame), BadFrameError)
      assert.throws(() => parseFrame(Uint8Array.of(1, 0, 1, 1, 0xc3)), BadFrameError)
    })

    it('decodes every message and neighbours frame to what was encoded', () => {
      fc.assert(
        fc.property(messageFrame, (m) => {
          const parsed = parseFrame(encodeMessageFrame(m.seq, m.author, m.to, m.body).payload)
          assert.deepStrictEqual(parsed, { kind: 'message', ...m })
        }),
        fuzzParams(),
      )
      fc.assert(
        fc.property(fc.array(author, { maxLength: 6 }), (peers) => {
          assert.deepStrictEqual(parseFrame(encodeNeighboursFrame(peers)), { kind: 'neighbours', peers })
        }),
        fuzzParams(),
      )
    })
  })

  describe('FrameParser (flood channel)', () => {
    it('raises only BadFrameError on hostile chunked streams', () => {
      fc.assert(
        fc.property(chunked(hostileBytes(wireStream)), (chunks) => {
          const parser = new FrameParser(MAX_FRAME_BYTES)
          onlyTyped(() => {
            for (const c of chunks) for (const f of parser.push(c)) assert.ok(f.byteLength <= MAX_FRAME_BYTES)
          }, BadFrameError)
        }),
        fuzzParams({ numRuns: 500 }),
      )
    })

    it('returns an empty frame that follows the last byte held, rather than reading past its pieces', () => {
      // Found by the property above: a frame of 8 bytes, then a zero length prefix.
      const parser = new FrameParser(MAX_FRAME_BYTES)
      const frames = parser.push(Uint8Array.from([8, 0, 0, 0, 0, 0, 1, 0, 0, 0]))
      assert.deepEqual(
        frames.map((f) => f.byteLength),
        [8, 0],
      )
      assert.equal(parser.heldBytes, 0)
    })

    it('splits any chunking of valid frames into exactly those frames', () => {
      fc.assert(
        fc.property(
          fc
            .array(framePayload, { minLength: 1, maxLength: 4 })
            .chain((ps) => chunked(fc.constant(concat(...ps.map(withPrefix)))).map((chunks) => ({ ps, chunks }))),
          ({ ps, chunks }) => {
            const parser = new FrameParser(MAX_FRAME_BYTES)
            const frames = chunks.flatMap((c) => parser.push(c).map((f) => f.slice()))
            assert.deepStrictEqual(frames, ps)
          },
        ),
        fuzzParams(),
      )
    })
  })

  describe('FrameReader (activation streams)', () => {
    async function readAll(chunks: Uint8Array[]): Promise<Uint8Array[]> {
      const reader = new FrameReader(source(chunks))
      const frames: Uint8Array[] = []
      for (;;) {
        const length = await reader.nextLength(MAX_FRAME_BYTES)
        if (length === undefined) return frames
        frames.push((await reader.readBytes(length)).slice())
      }
    }

    it('raises only BadFrameError on hostile chunked streams', async () => {
      await fc.assert(
        fc.asyncProperty(chunked(hostileBytes(wireStream)), async (chunks) => {
          await onlyTypedAsync(() => readAll(chunks), BadFrameError)
        }),
        fuzzParams({ numRuns: 500 }),
      )
    })

    it('reads any chunking of valid frames as exactly those frames', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc
            .array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 4 })
            .chain((ps) => chunked(fc.constant(concat(...ps.map(withPrefix)))).map((chunks) => ({ ps, chunks }))),
          async ({ ps, chunks }) => {
            assert.deepStrictEqual(await readAll(chunks), ps)
          },
        ),
        fuzzParams(),
      )
    })
  })
})
