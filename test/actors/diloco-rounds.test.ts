/**
 * Outer rounds of DiLoCo as the network runs them, on the real functions: replicas train H
 * inner AdamW steps of M micro-batches (the miner's stage trainer) from the subnet's adapter
 * state on their tasks' batches, submit the pseudo-gradient as the gradient bundle, and the aggregate applies the outer Nesterov step to
 * their token-weighted mean (aggregate-work.ts), the momentum carried in the adapter state.
 */
import { strict as assert } from 'node:assert'
import { aggregateState, copyAdapterState } from '../../src/actors/roles/aggregate-work.ts'
import { brownFictionDataset } from '../../src/actors/training/datasets.ts'
import { heldOutLoss } from '../../src/actors/training/evaluate.ts'
import {
  type AdapterState,
  decodeAdapterState,
  decodeGradient,
  encodeAdapterState,
  encodeGradient,
  initialAdapterState,
  stepBatch,
  type TrainingProtocol,
  taskTokens,
  trainingProtocol,
} from '../../src/actors/training/protocol.ts'
import { runStage, StageTrainer } from '../../src/actors/training/stage-trainer.ts'
import { localTestnetParams } from '../../src/chain/params.ts'
import type { Task } from '../../src/chain/state.ts'
import { cidOf } from '../../src/codec/cid.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { getModelConfig } from '../../src/ml/config.ts'
import type { Kernels } from '../../src/ml/kernels/contract.ts'
import { getKernels } from '../../src/ml/kernels/select.ts'
import { initStageWeights, type Params } from '../../src/ml/weights.ts'

const config = getModelConfig('micro')
const REPLICAS = 2
const protocol = trainingProtocol(config, { ...localTestnetParams, innerSteps: 4, microBatches: 2 })
const SHARDS = 16
const data = brownFictionDataset()
const backbone = initStageWeights(config, 0, config.nLayers, deriveKey('diloco-test', 'backbone'))

function task(window: number, shard: number): Task {
  return {
    id: `${window}.${shard}.0`,
    window,
    shard,
    datasetCid: 'c',
    datasetShard: shard + window,
    subnet: 0,
    miners: [],
  }
}

/** A replica's task as a miner runs it (the stage trainer, M micro-batches an inner step): its pseudo-gradient as submitted. */
async function trainTask(K: Kernels, p: TrainingProtocol, start: Params, t: Task): Promise<Uint8Array> {
  const trainer = new StageTrainer({
    kernels: K,
    stage: backbone,
    protocol: p,
    batchOf: (step) => stepBatch(p, data.train, SHARDS, t, `seed-${t.window}`, step),
    start,
  })
  // One stage holds the whole model: it neither receives nor sends a tensor.
  const unused = (): never => {
    throw new Error('a whole-model stage has no neighbour')
  }
  await runStage(trainer, { receive: unused, send: unused })
  return encodeGradient(trainer.pseudoGradient(), t, taskTokens(p))
}

/** `rounds` windows of REPLICAS tasks each, aggregated: every adapter state's bytes, in order. */
async function outerRounds(K: Kernels, rounds: number): Promise<Uint8Array[]> {
  let state: AdapterState = initialAdapterState(config, protocol, 'r3mes-test', 0, [0, config.nLayers])
  const states = [encodeAdapterState(state)]
  for (let window = 0; window < rounds; window++) {
    const contributions = []
    for (let shard = 0; shard < REPLICAS; shard++) {
      const g = decodeGradient(await trainTask(K, protocol, state.adapters, task(window, shard)))
      contributions.push({ grads: g.grads, tokens: g.tokens })
    }
    state = aggregateState(K, protocol.outer, { contributions, base: copyAdapterState(state) })
    states.push(encodeAdapterState(state))
  }
  return states
}

describe('actors: DiLoCo outer rounds', function () {
  // Whole outer rounds on the TypeScript kernels: seconds here, much longer under coverage.
  this.timeout(180_000)
  const ts = getKernels('ts')

  it('two outer rounds of 2 replicas × 4 inner steps lower held-out loss, and carry the outer momentum', async () => {
    const states = (await outerRounds(ts, 2)).map(decodeAdapterState)
    const loss = (s: AdapterState): number => heldOutLoss(ts, backbone, s.adapters, protocol, data.heldOut, 1024)
    const [first, , last] = states as [AdapterState, AdapterState, AdapterState]
    assert.ok(loss(last) < loss(first) - 0.3, `held-out loss ${loss(first)} → ${loss(last)}`)
    assert.equal(last.step, 2)
    const moved = [...last.momentum.values()].some((v) => v.some((x) => x !== 0))
    assert.ok(moved, 'the momentum buffer is no longer zero')
  })

  it('the adapter states are the same bytes on the ts and cpu kernels, and the same CID twice', async () => {
    const onTs = await outerRounds(ts, 2)
    const onCpu = await outerRounds(getKernels('cpu'), 2)
    assert.equal(onTs.length, 3)
    for (const [i, bytes] of onTs.entries())
      assert.ok(Buffer.from(bytes).equals(onCpu[i] as Uint8Array), `state ${i} differs between ts and cpu`)
    const again = await outerRounds(ts, 2)
    assert.equal(cidOf(again.at(-1) as Uint8Array).toString(), cidOf(onTs.at(-1) as Uint8Array).toString())
  })
})
