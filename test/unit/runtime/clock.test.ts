import assert from 'node:assert/strict'
import { SimulatedClock, sleep } from '../../../src/runtime/clock.ts'
import { SystemClock } from '../../../src/runtime/system-clock.ts'

describe('SimulatedClock', () => {
  it('fires a timer exactly when simulated time reaches it, and not before', () => {
    const clock = new SimulatedClock(1_000)
    const fired: number[] = []
    clock.setTimer(500, () => fired.push(clock.nowMs()))
    clock.advance(499)
    assert.deepEqual(fired, [])
    clock.advance(1)
    assert.deepEqual(fired, [1_500])
    clock.advance(10_000)
    assert.deepEqual(fired, [1_500], 'a timer fires once')
  })

  it('fires timers in due order, ties in creation order, each at its own instant', () => {
    const clock = new SimulatedClock(0)
    const log: string[] = []
    clock.setTimer(30, () => log.push(`c@${clock.monotonicMs()}`))
    clock.setTimer(10, () => log.push(`a@${clock.monotonicMs()}`))
    clock.setTimer(10, () => log.push(`b@${clock.monotonicMs()}`))
    clock.advance(100)
    assert.deepEqual(log, ['a@10', 'b@10', 'c@30'])
    assert.equal(clock.monotonicMs(), 100)
  })

  it('fires timers scheduled by callbacks within the same advance', () => {
    const clock = new SimulatedClock(0)
    const log: number[] = []
    const tick = (): void => {
      log.push(clock.monotonicMs())
      if (log.length < 4) clock.setTimer(25, tick)
    }
    clock.setTimer(25, tick)
    clock.advance(80)
    assert.deepEqual(log, [25, 50, 75])
    clock.advance(20)
    assert.deepEqual(log, [25, 50, 75, 100])
  })

  it('gives the same event sequence on every run (determinism)', () => {
    const run = (): string[] => {
      const clock = new SimulatedClock(0)
      const log: string[] = []
      for (let i = 0; i < 50; i++) clock.setTimer((i * 37) % 101, () => log.push(`${i}@${clock.monotonicMs()}`))
      for (let step = 0; step < 20; step++) clock.advance(7)
      return log
    }
    const first = run()
    assert.equal(first.length, 50)
    assert.deepEqual(run(), first)
  })

  it('runs until a stop condition, and cancelling a fired timer changes nothing', () => {
    const clock = new SimulatedClock(0)
    const fired: number[] = []
    const handles = [10, 20, 30, 40].map((t) => clock.setTimer(t, () => fired.push(t)))
    clock.runUntil(100, () => fired.length === 2)
    assert.deepEqual(fired, [10, 20])
    assert.equal(clock.monotonicMs(), 20, 'time stops where the stop condition held')
    handles[0]?.cancel()
    assert.equal(clock.pendingTimers, 2)
    clock.runUntil(100)
    assert.deepEqual(fired, [10, 20, 30, 40])
    assert.equal(clock.pendingTimers, 0)
    assert.equal(clock.monotonicMs(), 100)
  })

  it('does not fire cancelled timers', () => {
    const clock = new SimulatedClock(0)
    let fired = false
    const timer = clock.setTimer(5, () => {
      fired = true
    })
    assert.equal(clock.pendingTimers, 1)
    timer.cancel()
    assert.equal(clock.pendingTimers, 0)
    clock.advance(10)
    assert.equal(fired, false)
  })

  it('drives sleep() and honours abort', async () => {
    const clock = new SimulatedClock(0)
    let woke = false
    const sleeping = sleep(clock, 1_000).then(() => {
      woke = true
    })
    clock.advance(999)
    await Promise.resolve()
    assert.equal(woke, false)
    clock.advance(1)
    await sleeping
    assert.equal(woke, true)

    const controller = new AbortController()
    const aborted = sleep(clock, 1_000, controller.signal)
    controller.abort(new Error('stop'))
    await assert.rejects(aborted, /stop/)
    assert.equal(clock.pendingTimers, 0)
  })

  it('skews wall time without moving monotonic time, and refuses to go backwards', () => {
    const clock = new SimulatedClock(10_000)
    clock.skewWall(-5_000)
    assert.equal(clock.nowMs(), 5_000)
    assert.equal(clock.monotonicMs(), 0)
    assert.throws(() => clock.advance(-1), /forward/)
  })
})

describe('SystemClock', () => {
  it('runs a real timer and reads real time', async () => {
    const clock = new SystemClock()
    const before = clock.monotonicMs()
    await sleep(clock, 20)
    assert.ok(clock.monotonicMs() - before >= 19)
    assert.ok(Math.abs(clock.nowMs() - new SystemClock().nowMs()) < 1_000)
  })
})
