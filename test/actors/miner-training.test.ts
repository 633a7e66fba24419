import { inMemoryLinks } from '../helpers/stage-links.ts'
/**
 * The miner task's training effect, for real on the `micro` model: two miners on the two
 * stages of one path train their task through their own tensor inboxes (every tensor keyed by
 * window, path, inner step, micro-batch and direction), a sender that delivers straight into
 * the neighbour's inbox standing in for the activation streams. Their pseudo-gradients equal
 * those of the stage trainer driven in memory, every tensor sent is taken, and the
 * wrongGradient misbehaviour leaves exactly one value off.
 */

import { strict as assert } from 'node:assert'
import {
  type KernelTaskWorkComponents,
  kernelTaskWork,
  type ShardPieces,
  type TrainedTask,
} from '../../src/actors/roles/kernel-task-work.ts'
import type { TrainRequest } from '../../src/actors/roles/task-work.ts'
import { stepBatch, trainingProtocol } from '../../src/actors/training/protocol.ts'
import { runStage, StageTrainer } from '../../src/actors/training/stage-trainer.ts'
import { TensorInbox } from '../../src/actors/training/tensor-inbox.ts'
import type { OutgoingTensor } from '../../src/actors/training/tensor-sender.ts'
import { localTestnetParams } from '../../src/chain/params.ts'
import type { Task } from '../../src/chain/state.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { encodeParams } from '../../src/ml/artifacts.ts'
import { modelConfigs } from '../../src/ml/config.ts'
import { getKernels } from '../../src/ml/kernels/select.ts'
import { bytesTokenizer } from '../../src/ml/tokenizer/bytes.ts'
import { initAdapters, initStageWeights, type Params } from '../../src/ml/weights.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { nextTurn } from '../../src/runtime/event-loop.ts'
import { createLogger } from '../../src/runtime/logger.ts'

const config = modelConfigs.micro as NonNullable<typeof modelConfigs.micro>
const protocol = trainingProtocol(config, { ...localTestnetParams, innerSteps: 3, microBatches: 2 })
const kernels = getKernels('cpu')
const key = deriveKey('miner-training-test', 'backbone')
const stages = [initStageWeights(config, 0, 1, key), initStageWeights(config, 1, 2, key)]
const loraKey = deriveKey('r3mes-test', 'r3mes/lora-init/1')
const adaptersOf = (s: number) =>
  initAdapters(config, protocol.lora, stages[s]?.first as number, stages[s]?.end as number, loraKey)
const data = { train: bytesTokenizer.encode('a stitch in time saves nine. '.repeat(80)), shardCount: 1 }
const SEED = '22'.repeat(32)
const WINDOW = 4
const path: Task[] = [0, 1].map(
  (subnet) =>
    ({
      id: `${WINDOW}.0.${subnet}`,
      window: WINDOW,
      shard: 0,
      datasetShard: 0,
      subnet,
      miners: [`m${subnet}`],
    }) as unknown as Task,
)
const clock = new SimulatedClock()
const logger = createLogger({ name: 'miner-training-test', level: 'silent', clock })

async function trainPath(misbehaving = false): Promise<{ results: TrainedTask[]; inboxes: TensorInbox[] }> {
  const inboxes = [new TensorInbox(clock), new TensorInbox(clock)]
  const components = (s: number): KernelTaskWorkComponents =>
    ({
      training: { protocolAt: () => protocol, data, kernels },
      inbox: inboxes[s],
      tensors: {
        send: async (to: string, t: OutgoingTensor) => {
          const at = { step: t.step, innerStep: t.innerStep, microBatch: t.microBatch }
          ;(inboxes[Number(to.slice(1))] as TensorInbox).deliver(t.window, at, t.direction, `m${s}`, t.bytes, t.window)
        },
      },
      metrics: { trainingMs: 0, tasksRun: 0, tokensTrained: 0 },
      clock,
      logger,
    }) as unknown as KernelTaskWorkComponents
  const inputOf = (s: number): TrainRequest<ShardPieces> => ({
    task: path[s] as Task,
    windowSeed: SEED,
    replica: 0,
    upstream: path[s - 1],
    downstream: path[s + 1],
    shard: { stage: stages[s] as (typeof stages)[0], adapters: adaptersOf(s), pointer: null },
    waitMs: 60_000,
    untilMs: 60_000,
    wrongGradient: misbehaving && s === 1,
  })
  const results = await Promise.all(
    [0, 1].map((s) => kernelTaskWork(components(s)).trainStage(inputOf(s), new AbortController().signal)),
  )
  return { results, inboxes }
}

/** The same stages driven in memory, straight through the stage trainer. */
async function inMemory(): Promise<Params[]> {
  const batchOf = (step: number) => stepBatch(protocol, data.train, 1, path[0] as Task, SEED, step)
  const trainers = [0, 1].map(
    (s) =>
      new StageTrainer({ kernels, stage: stages[s] as (typeof stages)[0], protocol, batchOf, start: adaptersOf(s) }),
  )
  const links = inMemoryLinks()
  await Promise.all(trainers.map((t) => runStage(t, links)))
  return trainers.map((t) => t.pseudoGradient())
}

describe('actors: the miner task trains its stage through its tensor inbox', () => {
  it('gives the stage trainer’s pseudo-gradient, one leaf per inner step, and takes every tensor sent', async () => {
    const { results, inboxes } = await trainPath()
    const expected = await inMemory()
    results.forEach((r, s) => {
      assert.deepEqual(encodeParams('d', r.delta), encodeParams('d', expected[s] as Params), `stage ${s}`)
      assert.equal(r.steps.length, protocol.innerSteps)
    })
    const M = protocol.microBatches
    assert.deepEqual(
      results.map((r) => [r.inputs.length, r.dOutputs.length]),
      [
        [0, protocol.innerSteps * M],
        [protocol.innerSteps * M, 0],
      ],
    )
    assert.deepEqual(
      inboxes.map((i) => i.size),
      [0, 0],
    )
  })

  it('the wrongGradient misbehaviour leaves one value of the pseudo-gradient off, and nothing else', async () => {
    const honest = (await trainPath()).results[1] as TrainedTask
    const wrong = (await trainPath(true)).results[1] as TrainedTask
    assert.deepEqual(wrong.steps, honest.steps, 'the inner steps are honest')
    let differing = 0
    for (const [name, d] of honest.delta)
      (wrong.delta.get(name) as Float32Array).forEach((x, i) => {
        if (x !== d[i]) differing++
      })
    assert.equal(differing, 1)
  })

  it('a task stopped while storing (abandoned at the close) stores nothing more and announces nothing', async () => {
    const trained = (await trainPath()).results[0] as TrainedTask
    const stored: number[] = []
    const announced: string[][] = []
    let stop = (): void => {}
    const components = {
      training: { protocolAt: () => protocol },
      content: {
        store: async (bytes: Uint8Array) => {
          stored.push(bytes.byteLength)
          if (stored.length === 2) stop()
          return `bafy${stored.length}`
        },
      },
      presence: { announceHeld: async (_s: number, _w: number, cids: string[]) => void announced.push(cids) },
    } as unknown as KernelTaskWorkComponents
    const work = kernelTaskWork(components)
    const input = { task: path[0] as Task, pointer: null, trained, first: true, last: false, withhold: false }
    const abort = new AbortController()
    stop = () => abort.abort()
    work.storeResults(input, abort.signal).catch(() => {})
    // The fake store answers at once: what a running effect would still store, it stores here.
    for (let i = 0; i < 50; i++) await nextTurn()
    assert.equal(stored.length, 2, 'stores after the stop')
    assert.deepEqual(announced, [])
    // Left alone, the same task stores every piece and announces them: the gradient, the H
    // leaves and the gradient as the trace's last, the index, the H × M gradients received, the trace.
    stored.length = 0
    stop = () => {}
    await work.storeResults(input, new AbortController().signal)
    assert.equal(stored.length, 1 + protocol.innerSteps + 1 + 1 + protocol.innerSteps * protocol.microBatches + 1)
    assert.equal(announced.length, 1)
  })
})
