/**
 * Fuzzing the step-trace index and the stage trace (fetched from a disputed miner or its
 * challenger by CID): hostile bytes only ever raise InvalidArgumentError, whatever decodes is
 * within the bounds (steps, leaf and CID shapes), and valid indexes survive encode → decode.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeTrace, encodeTrace, type StageTrace } from '../../src/actors/training/protocol.ts'
import {
  decodeStepTrace,
  encodeStepTrace,
  STEP_TRACE_KIND,
  type StepTraceIndex,
} from '../../src/actors/training/step-trace.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { cidOf } from '../../src/codec/cid.ts'
import { InvalidArgumentError } from '../../src/runtime/errors.ts'
import {
  MAX_STAGE_TRACE_BYTES,
  MAX_STEP_TRACE_BYTES,
  MAX_TRACE_STEPS,
  MAX_TRACE_TENSORS,
} from '../../src/runtime/limits.ts'
import { fuzzParams, hostileBytes, onlyTyped } from './helpers/bytes.ts'

const leaf = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toHex)
const cid = fc.uint8Array({ maxLength: 16 }).map((b) => cidOf(b).toString())

const indexArb: fc.Arbitrary<StepTraceIndex> = fc
  .tuple(fc.string({ minLength: 1, maxLength: 16 }), fc.array(fc.tuple(leaf, cid), { minLength: 1, maxLength: 12 }))
  .map(([task, steps]) => ({
    v: 2,
    kind: STEP_TRACE_KIND,
    task,
    leaves: steps.map(([l]) => l),
    tensors: steps.map(([, c]) => c),
  }))

const cids = fc.option(fc.array(cid, { minLength: 1, maxLength: 8 }), { nil: null })
const traceArb: fc.Arbitrary<StageTrace> = fc
  .tuple(fc.string({ maxLength: 16 }), cids, cids, cid, leaf)
  .map(([task, inputs, dOutputs, steps, stepRoot]) => ({
    v: 3,
    task,
    adapterState: 'initial',
    inputs,
    dOutputs,
    steps,
    stepRoot,
  }))

describe('fuzz: step traces from a disputed party', () => {
  it('valid indexes round-trip', () => {
    fc.assert(
      fc.property(indexArb, (t) => assert.deepEqual(decodeStepTrace(encodeStepTrace(t)), t)),
      fuzzParams(),
    )
  })

  it('hostile index bytes raise only InvalidArgumentError; what decodes is within the bounds', () => {
    fc.assert(
      fc.property(hostileBytes(indexArb.map(encodeStepTrace), 2048), (bytes) => {
        const t = onlyTyped(() => decodeStepTrace(bytes), InvalidArgumentError)
        if (t === undefined) return
        assert.ok(t.leaves.length >= 1 && t.leaves.length <= MAX_TRACE_STEPS)
        assert.equal(t.tensors.length, t.leaves.length)
        for (const l of t.leaves) assert.match(l, /^[0-9a-f]{64}$/)
      }),
      fuzzParams(),
    )
  })

  it('refuses an index over its byte bound unparsed, and one with too many steps', () => {
    assert.throws(() => decodeStepTrace(new Uint8Array(MAX_STEP_TRACE_BYTES + 1)), InvalidArgumentError)
    const many = {
      v: 2,
      kind: STEP_TRACE_KIND,
      task: 't',
      leaves: Array.from({ length: MAX_TRACE_STEPS + 1 }, () => '00'.repeat(32)),
      tensors: Array.from({ length: MAX_TRACE_STEPS + 1 }, () => cidOf(new Uint8Array(0)).toString()),
    }
    assert.throws(
      () => decodeStepTrace(new TextEncoder().encode(JSON.stringify(many))),
      new RegExp(`1 to ${MAX_TRACE_STEPS} leaves`),
    )
  })

  it('refuses a stage trace over its byte bound unparsed, and one naming too many received tensors', () => {
    assert.throws(() => decodeTrace(new Uint8Array(MAX_STAGE_TRACE_BYTES + 1)), /over/)
    const many = {
      v: 3,
      task: 't',
      adapterState: 'initial',
      inputs: Array.from({ length: MAX_TRACE_TENSORS + 1 }, () => cidOf(new Uint8Array(0)).toString()),
      dOutputs: null,
      steps: cidOf(new Uint8Array(0)).toString(),
      stepRoot: '00'.repeat(32),
    }
    assert.throws(() => decodeTrace(new TextEncoder().encode(JSON.stringify(many))), /wrong shape/)
  })

  it('hostile stage-trace bytes raise only InvalidArgumentError; valid ones round-trip', () => {
    fc.assert(
      fc.property(traceArb, (t) => assert.deepEqual(decodeTrace(encodeTrace(t)), t)),
      fuzzParams(),
    )
    fc.assert(
      fc.property(hostileBytes(traceArb.map(encodeTrace), 1024), (bytes) => {
        onlyTyped(() => decodeTrace(bytes), InvalidArgumentError)
      }),
      fuzzParams(),
    )
  })
})
