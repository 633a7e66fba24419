/**
 * Fuzzing adapter-state decoding (decodeAdapterState: the bytes a subnet's model pointer names,
 * fetched from whoever serves them): a state after outer steps round-trips with its adapters,
 * Nesterov momentum and step count, and hostile bytes raise only the decoders' typed errors.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeAdapterState, encodeAdapterState } from '../../src/actors/training/protocol.ts'
import { ArtifactError, NonFiniteError, ShapeError } from '../../src/ml/errors.ts'
import type { Params } from '../../src/ml/weights.ts'
import { CorruptDataError, InvalidArgumentError } from '../../src/runtime/errors.ts'
import { fuzzParams, hostileBytes, onlyTyped } from './helpers/bytes.ts'

const NAMES = ['layers.0.q.lora_a', 'layers.0.q.lora_b', 'layers.1.up.lora_a']

const tensors = (lengths: readonly number[], values: fc.Arbitrary<number>): fc.Arbitrary<Float32Array[]> =>
  fc.tuple(...lengths.map((n) => fc.array(values, { minLength: n, maxLength: n }).map((a) => Float32Array.from(a))))

const finite = fc.float({ noNaN: true, noDefaultInfinity: true, min: -10, max: 10 })

const stateArb = fc
  .array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: NAMES.length })
  .chain((lengths) =>
    fc.record({
      adapters: tensors(lengths, finite),
      momentum: tensors(lengths, finite),
      step: fc.nat({ max: 1_000_000 }),
      subnet: fc.nat({ max: 64 }),
    }),
  )
  .map(({ adapters, momentum, step, subnet }) => {
    const named = (ts: Float32Array[]): Params => new Map(ts.map((t, i) => [NAMES[i] as string, t]))
    return { subnet, first: 0, end: 2, adapters: named(adapters), momentum: named(momentum), step }
  })

describe('fuzz: adapter state', () => {
  it('a state with its outer momentum and step round-trips', () => {
    fc.assert(
      fc.property(stateArb, (s) => {
        const back = decodeAdapterState(encodeAdapterState(s))
        assert.deepEqual(back, s)
      }),
      fuzzParams(),
    )
  })

  it('hostile bytes raise only typed errors; what decodes has momentum for exactly its adapters', () => {
    fc.assert(
      fc.property(hostileBytes(stateArb.map(encodeAdapterState), 1024), (bytes) => {
        const s = onlyTyped(
          () => decodeAdapterState(bytes),
          InvalidArgumentError,
          ArtifactError,
          CorruptDataError,
          NonFiniteError,
          ShapeError,
        )
        if (s === undefined) return
        assert.equal(s.momentum.size, s.adapters.size)
        for (const [name, p] of s.adapters) assert.equal(s.momentum.get(name)?.length, p.length)
      }),
      fuzzParams(),
    )
  })
})
