/**
 * Outer rounds of DiLoCo as the network runs them, on the real functions: replicas train H
 * inner AdamW steps from the subnet's adapter state on their tasks' batches, submit the
 * pseudo-gradient as the gradient bundle, and the aggregate applies the outer Nesterov step to
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
import { localTestnetParams } from '../../src/chain/params.ts'
import type { Task } from '../../src/chain/state.ts'
import { cidOf } from '../../src/codec/cid.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { getModelConfig } from '../../src/ml/config.ts'
import type { Kernels } from '../../src/ml/kernels/contract.ts'
import { getKernels } from '../../src/ml/kernels/select.ts'
import { type StageRun, stageBackward, stageForward } from '../../src/ml/model.ts'
import { adamwStep, initAdamW } from '../../src/ml/optimizer.ts'
import { pseudoGradient } from '../../src/ml/outer.ts'
import { clipGradients } from '../../src/ml/train.ts'
import { initStageWeights, type Params, type StageWeights } from '../../src/ml/weights.ts'

const config = getModelConfig('micro')
const REPLICAS = 2
const protocol = trainingProtocol(config, { ...localTestnetParams, innerSteps: 4 })
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

/** A replica's task: H inner AdamW steps from `start` (a fresh optimizer), its pseudo-gradient as submitted. */
function trainTask(K: Kernels, stage: StageWeights, p: TrainingProtocol, start: Params, t: Task): Uint8Array {
  const adapters: Params = new Map([...start].map(([k, v]) => [k, v.slice()]))
  const opt = initAdamW(adapters)
  for (let step = 0; step < p.innerSteps; step++) {
    const batch = stepBatch(p, data.train, SHARDS, t, `seed-${t.window}`, step)
    const run: StageRun = {
      kernels: K,
      stage,
      adapters,
      lora: p.lora,
      sequences: batch.sequences,
      tokens: batch.tokens,
    }
    const fw = stageForward(run, { kind: 'tokens', tokens: batch.inputs }, batch.targets)
    const { grads } = stageBackward(run, fw)
    clipGradients(grads, p.clipNorm)
    adamwStep(K, adapters, grads, opt, p.optimizer)
  }
  return encodeGradient(pseudoGradient(K, start, adapters), t, taskTokens(p))
}

/** `rounds` windows of REPLICAS tasks each, aggregated: every adapter state's bytes, in order. */
function outerRounds(K: Kernels, rounds: number): Uint8Array[] {
  let state: AdapterState = initialAdapterState(config, protocol, 'r3mes-test', 0, [0, config.nLayers])
  const states = [encodeAdapterState(state)]
  for (let window = 0; window < rounds; window++) {
    const contributions = Array.from({ length: REPLICAS }, (_, shard) => {
      const g = decodeGradient(trainTask(K, backbone, protocol, state.adapters, task(window, shard)))
      return { grads: g.grads, tokens: g.tokens }
    })
    state = aggregateState(K, protocol.outer, { contributions, base: copyAdapterState(state) })
    states.push(encodeAdapterState(state))
  }
  return states
}

describe('actors: DiLoCo outer rounds', () => {
  const ts = getKernels('ts')

  it('two outer rounds of 2 replicas × 4 inner steps lower held-out loss, and carry the outer momentum', () => {
    const states = outerRounds(ts, 2).map(decodeAdapterState)
    const loss = (s: AdapterState): number => heldOutLoss(ts, backbone, s.adapters, protocol, data.heldOut, 1024)
    const [first, , last] = states as [AdapterState, AdapterState, AdapterState]
    assert.ok(loss(last) < loss(first) - 0.3, `held-out loss ${loss(first)} → ${loss(last)}`)
    assert.equal(last.step, 2)
    const moved = [...last.momentum.values()].some((v) => v.some((x) => x !== 0))
    assert.ok(moved, 'the momentum buffer is no longer zero')
  })

  it('the adapter states are the same bytes on the ts and cpu kernels, and the same CID twice', () => {
    const onTs = outerRounds(ts, 2)
    const onCpu = outerRounds(getKernels('cpu'), 2)
    assert.equal(onTs.length, 3)
    for (const [i, bytes] of onTs.entries())
      assert.ok(Buffer.from(bytes).equals(onCpu[i] as Uint8Array), `state ${i} differs between ts and cpu`)
    const again = outerRounds(ts, 2)
    assert.equal(cidOf(again.at(-1) as Uint8Array).toString(), cidOf(onTs.at(-1) as Uint8Array).toString())
  })
})
