/**
 * Fuzzing tensor and bundle deserialisation (bytes fetched from other miners by CID): hostile
 * bytes only ever raise ArtifactError, whatever decodes is in canonical form (one value, one
 * encoding, so one CID), and valid tensors and bundles survive encode → decode unchanged.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { JsonValue } from '../../src/codec/canonical-json.ts'
import { ArtifactError } from '../../src/ml/errors.ts'
import { type Bundle, decodeBundle, decodeTensor, encodeBundle, encodeTensor } from '../../src/ml/serialize.ts'
import { type Tensor, tensor } from '../../src/ml/tensor.ts'
import { fuzzParams, hostileBytes, onlyTyped } from './helpers/bytes.ts'

const shape = fc.array(fc.nat({ max: 5 }), { maxLength: 3 })

const tensorArb: fc.Arbitrary<Tensor> = fc
  .tuple(fc.constantFrom('f32', 'i32', 'i8', 'u8', 'ternary'), shape)
  .chain(([dtype, dims]) => {
    const n = dims.reduce((a, b) => a * b, 1)
    const values = { minLength: n, maxLength: n }
    switch (dtype) {
      case 'f32':
        return fc.array(fc.float(), values).map((v): Tensor => tensor('f32', dims, Float32Array.from(v)))
      case 'i32':
        return fc
          .array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), values)
          .map((v): Tensor => tensor('i32', dims, Int32Array.from(v)))
      case 'i8':
        return fc
          .array(fc.integer({ min: -128, max: 127 }), values)
          .map((v): Tensor => tensor('i8', dims, Int8Array.from(v)))
      case 'u8':
        return fc.uint8Array(values).map((v): Tensor => tensor('u8', dims, v))
      default:
        return fc
          .array(fc.integer({ min: -1, max: 1 }), values)
          .map((v): Tensor => tensor('ternary', dims, Int8Array.from(v)))
    }
  })

const meta = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>, {
  maxKeys: 3,
  noNullPrototype: true,
})
const bundleArb: fc.Arbitrary<Bundle> = fc
  .tuple(meta, fc.dictionary(fc.string({ maxLength: 8 }), tensorArb, { maxKeys: 3 }))
  .map(([m, ts]) => ({ meta: JSON.parse(JSON.stringify(m)), tensors: new Map(Object.entries(ts)) }))

function sameTensor(a: Tensor, b: Tensor): void {
  assert.equal(a.dtype, b.dtype)
  assert.deepStrictEqual([...a.shape], [...b.shape])
  assert.deepStrictEqual(
    [...a.data].map((x) => (Object.is(x, -0) ? '-0' : x)),
    [...b.data].map((x) => (Object.is(x, -0) ? '-0' : x)),
  )
}

describe('fuzz: tensor and bundle deserialisation', () => {
  it('refuses tensor encodings that are not canonical', () => {
    // Found by the fuzzer: decodeTensor ignored the reserved header byte and the bits after
    // the last ternary value, so one tensor had many encodings (and CIDs).
    const reserved = encodeTensor(tensor('u8', [1], Uint8Array.of(7)))
    reserved[7] = 0xc7
    assert.throws(() => decodeTensor(reserved), ArtifactError)
    const padded = encodeTensor(tensor('ternary', [3], Int8Array.of(1, 0, -1)))
    padded[padded.length - 1] = (padded[padded.length - 1] as number) | 0x40
    assert.throws(() => decodeTensor(padded), ArtifactError)
  })

  it('decodes quiet f32 NaNs bit for bit, and refuses signalling ones', () => {
    // Found by the fuzzer: a signalling NaN comes back quieted, a second encoding of the tensor.
    const t = encodeTensor(tensor('f32', [2], new Float32Array(2)))
    new DataView(t.buffer).setUint32(12, 0xffc00000, true)
    new DataView(t.buffer).setUint32(16, 0x7fc00123, true)
    assert.deepStrictEqual(encodeTensor(decodeTensor(t)), t)
    new DataView(t.buffer).setUint32(16, 0x7f800001, true)
    assert.throws(() => decodeTensor(t), ArtifactError)
  })

  it('decodeTensor raises only ArtifactError, and what it decodes is canonical', () => {
    fc.assert(
      fc.property(hostileBytes(tensorArb.map(encodeTensor)), (bytes) => {
        const t = onlyTyped(() => decodeTensor(bytes), ArtifactError)
        if (t !== undefined) assert.deepStrictEqual(encodeTensor(t), bytes)
      }),
      fuzzParams({ numRuns: 500 }),
    )
  })

  it('decodes every valid tensor to itself', () => {
    fc.assert(
      fc.property(tensorArb, (t) => sameTensor(decodeTensor(encodeTensor(t)), t)),
      fuzzParams(),
    )
  })

  it('decodeBundle raises only ArtifactError, and what it decodes is canonical', () => {
    fc.assert(
      fc.property(hostileBytes(bundleArb.map(encodeBundle), 256), (bytes) => {
        const b = onlyTyped(() => decodeBundle(bytes), ArtifactError)
        if (b !== undefined) {
          assert.deepStrictEqual(encodeBundle(b), bytes)
          assert.ok(b.meta !== null && typeof b.meta === 'object' && !Array.isArray(b.meta), 'metadata is a map')
        }
      }),
      fuzzParams(),
    )
  })

  it('decodes every valid bundle to itself', () => {
    fc.assert(
      fc.property(bundleArb, (b) => {
        const decoded = decodeBundle(encodeBundle(b))
        assert.deepStrictEqual(decoded.meta, b.meta)
        assert.deepStrictEqual([...decoded.tensors.keys()].sort(), [...b.tensors.keys()].sort())
        for (const [name, t] of b.tensors) sameTensor(decoded.tensors.get(name) as Tensor, t)
      }),
      fuzzParams(),
    )
  })
})
