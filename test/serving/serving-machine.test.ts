import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createActor, fromPromise, waitFor } from 'xstate'
import { loadLocalModel, SwappableModelSource } from '../../src/actors/serving/model-source.ts'
import { type LoadedModel, type ServingComponents, servingMachine } from '../../src/actors/serving/serving-machine.ts'
import { tsKernels } from '../../src/ml/kernels/ts-kernels.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import { writeAdapters, writeMicroBackbone } from './helpers.ts'

/** A load the test finishes when it wants to, for one pointer. */
interface PendingLoad {
  readonly pointer: string
  finish(): void
  fail(error: Error): void
}

describe('serving: the role machine follows the model pointer', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-serving-machine-'))
    writeMicroBackbone(dir)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  /** The serving components, of which these tests use only the source (the loads are provided above). */
  function withSource(source: SwappableModelSource): ServingComponents {
    return {
      source,
      chain: { height: 0, subnets: () => [], finalAdapterPointer: () => null, currentWindow: () => null },
      model: { currentModel: () => Promise.reject(new Error('the tests provide loadModel')) },
      training: {} as ServingComponents['training'],
      heldOut: new Int32Array(0),
      logger: createLogger({ name: 'serving', level: 'silent', clock: new SimulatedClock() }),
    }
  }

  function start() {
    const pending: PendingLoad[] = []
    const source = new SwappableModelSource()
    const machine = servingMachine.provide({
      actors: {
        // Loads the adapters the pointer names from disk, once the test lets it finish.
        loadModel: fromPromise<LoadedModel, { components: ServingComponents; pointer: string }>(
          ({ input }) =>
            new Promise((resolve, reject) => {
              pending.push({
                pointer: input.pointer,
                finish: () =>
                  resolve({
                    served: loadLocalModel({
                      backboneDir: dir,
                      adaptersFile: writeAdapters(dir, input.pointer),
                      kernels: tsKernels,
                    }),
                  }),
                fail: reject,
              })
            }),
        ),
      },
    })
    const actor = createActor(machine, { input: withSource(source) }).start()
    const next = async (): Promise<PendingLoad> => {
      await waitFor(actor, () => pending.length > 0)
      return pending.shift() as PendingLoad
    }
    return { actor, source, next }
  }

  it('loads the model a pointer names and swaps it in, and again when the pointer moves', async () => {
    const { actor, source, next } = start()
    assert.equal(actor.getSnapshot().value, 'waiting')
    actor.send({ type: 'model.pointer', pointer: 'w1' })
    const w1 = await next()
    assert.equal(w1.pointer, 'w1')
    assert.equal(source.current(), undefined, 'nothing is served before the first load ends')
    w1.finish()
    await waitFor(actor, (s) => s.value === 'serving')
    const first = source.current()
    assert.ok(first !== undefined)
    // The same pointer again changes nothing.
    actor.send({ type: 'model.pointer', pointer: 'w1' })
    assert.equal(actor.getSnapshot().value, 'serving')
    actor.send({ type: 'model.pointer', pointer: 'w2' })
    ;(await next()).finish()
    await waitFor(actor, (s) => s.value === 'serving' && s.context.loaded === 'w2')
    assert.notEqual(source.current()?.id, first.id)
    assert.equal(actor.getSnapshot().context.swaps, 2)
    actor.stop()
  })

  it('ends on the latest pointer when the pointer moves during a load', async () => {
    const { actor, source, next } = start()
    actor.send({ type: 'model.pointer', pointer: 'a' })
    const a = await next()
    actor.send({ type: 'model.pointer', pointer: 'b' })
    actor.send({ type: 'model.pointer', pointer: 'c' })
    a.finish()
    const c = await next()
    assert.equal(c.pointer, 'c', 'the pointers passed over meanwhile are skipped')
    assert.equal(actor.getSnapshot().context.loaded, 'a')
    const servedA = source.current()?.id
    c.finish()
    await waitFor(actor, (s) => s.value === 'serving')
    assert.equal(actor.getSnapshot().context.loaded, 'c')
    assert.notEqual(source.current()?.id, servedA)
    actor.stop()
  })

  it('keeps serving the old model when a load fails, and retries on the next announcement', async () => {
    const { actor, source, next } = start()
    actor.send({ type: 'model.pointer', pointer: 'good' })
    ;(await next()).finish()
    await waitFor(actor, (s) => s.value === 'serving')
    const good = source.current()
    actor.send({ type: 'model.pointer', pointer: 'bad' })
    ;(await next()).fail(new Error('content store unreachable'))
    await waitFor(actor, (s) => s.value === 'serving' && s.context.lastError !== undefined)
    assert.match(actor.getSnapshot().context.lastError as string, /content store unreachable/)
    assert.equal(source.current(), good)
    actor.send({ type: 'model.pointer', pointer: 'bad' })
    ;(await next()).finish()
    await waitFor(actor, (s) => s.context.loaded === 'bad')
    assert.equal(actor.getSnapshot().context.lastError, undefined)
    assert.notEqual(source.current(), good)
    actor.stop()
  })

  it('goes back to waiting when the first load fails', async () => {
    const { actor, source, next } = start()
    actor.send({ type: 'model.pointer', pointer: 'x' })
    ;(await next()).fail(new Error('no such CID'))
    await waitFor(actor, (s) => s.value === 'waiting')
    assert.equal(source.current(), undefined)
    actor.stop()
  })
})
