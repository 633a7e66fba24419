import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { AssertionFailure, assert as invariant, unreachable } from '../../../src/runtime/assert.ts'
import { SimulatedClock } from '../../../src/runtime/clock.ts'
import { createRuntimeComponents } from '../../../src/runtime/components.ts'
import {
  CorruptDataError,
  InvalidArgumentError,
  isR3mesError,
  NotYetAvailableError,
  R3mesError,
} from '../../../src/runtime/errors.ts'
import { createLogger } from '../../../src/runtime/logger.ts'

describe('errors and assertions', () => {
  it('gives every expected failure a stable code and serializable details', () => {
    const e = new InvalidArgumentError('bad stake', { field: 'stake' })
    assert.ok(e instanceof R3mesError)
    assert.equal(e.code, 'ERR_INVALID_ARGUMENT')
    assert.equal(e.name, 'InvalidArgumentError')
    assert.deepEqual(JSON.parse(JSON.stringify(e)).details, { field: 'stake' })
    assert.equal(new NotYetAvailableError('r3mes x').code, 'ERR_NOT_YET_AVAILABLE')
    assert.equal(new CorruptDataError('crc').code, 'ERR_CORRUPT_DATA')
    assert.ok(isR3mesError(e))
    assert.ok(!isR3mesError(new Error('plain')))
  })

  it('asserts always, with AssertionFailure', () => {
    assert.doesNotThrow(() => invariant(true, 'fine'))
    assert.throws(
      () => invariant(false, 'height went back'),
      (error: unknown) => {
        return error instanceof AssertionFailure && error.message === 'height went back'
      },
    )
    assert.throws(() => unreachable('x' as never, 'step'), /unreachable step/)
  })
})

describe('logger', () => {
  it('writes JSON lines stamped with the component clock', () => {
    const lines: string[] = []
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    })
    const clock = new SimulatedClock(5_000)
    const logger = createLogger({ name: 'validator-0', clock, destination: sink })
    logger.info({ height: 3 }, 'committed')
    clock.advance(250)
    logger.child({ role: 'miner' }).warn('slow')
    const [first, second] = lines.map((l) => JSON.parse(l))
    assert.equal(first.time, 5_000)
    assert.equal(first.name, 'validator-0')
    assert.equal(first.height, 3)
    assert.equal(first.msg, 'committed')
    assert.equal(second.time, 5_250)
    assert.equal(second.role, 'miner')
  })

  it('assembles the runtime components', () => {
    const clock = new SimulatedClock(0)
    const components = createRuntimeComponents({ name: 't', seed: 9, clock, logLevel: 'silent' })
    assert.equal(components.clock, clock)
    assert.equal(components.random.seed, 9)
    assert.equal(components.logger.level, 'silent')
  })
})
