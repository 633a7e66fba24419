/**
 * The miner task's training effect over real activation streams: two miners per subnet on a
 * two-stage path, each running its replica of two tasks (two shards) at once, H inner steps
 * of M micro-batches, tensors crossing loopback libp2p connections into each node's tensor
 * inbox. Every replica of every task runs all H inner steps, replicas of one task agree bit
 * for bit, and every tensor sent is taken: none is lost or left waiting between stages.
 */

import { strict as assert } from 'node:assert'
import {
  type KernelTaskWorkComponents,
  kernelTaskWork,
  type ShardPieces,
  type TrainedTask,
} from '../../src/actors/roles/kernel-task-work.ts'
import { pathOf } from '../../src/actors/roles/pipeline.ts'
import type { TrainRequest } from '../../src/actors/roles/task-work.ts'
import { trainingProtocol } from '../../src/actors/training/protocol.ts'
import { TensorInbox } from '../../src/actors/training/tensor-inbox.ts'
import { tensorSender } from '../../src/actors/training/tensor-sender.ts'
import { localTestnetParams } from '../../src/chain/params.ts'
import type { Task } from '../../src/chain/state.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { encodeParams } from '../../src/ml/artifacts.ts'
import { modelConfigs } from '../../src/ml/config.ts'
import { getKernels } from '../../src/ml/kernels/select.ts'
import { bytesTokenizer } from '../../src/ml/tokenizer/bytes.ts'
import { initAdapters, initStageWeights } from '../../src/ml/weights.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import { at, type Cluster, clock, connect, startNodes } from '../net/helpers.ts'

const config = modelConfigs.micro as NonNullable<typeof modelConfigs.micro>
const half = config.nLayers / 2
const protocol = trainingProtocol(config, { ...localTestnetParams, innerSteps: 8, microBatches: 2 })
const kernels = getKernels('cpu')
const key = deriveKey('miner-pipeline-network-test', 'backbone')
const stages = [initStageWeights(config, 0, half, key), initStageWeights(config, half, config.nLayers, key)]
const loraKey = deriveKey('r3mes-test', 'r3mes/lora-init/1')
const adaptersOf = (s: number) =>
  initAdapters(config, protocol.lora, stages[s]?.first as number, stages[s]?.end as number, loraKey)
const data = { train: bytesTokenizer.encode('a stitch in time saves nine. '.repeat(80)), shardCount: 1 }
const SEED = '33'.repeat(32)
const WINDOW = 2
const SHARDS = [0, 1]
/** Miner addresses by subnet: two replicas of every task. */
const MINERS = [
  ['m00', 'm01'],
  ['m10', 'm11'],
]
const tasks: Task[] = SHARDS.flatMap((shard) =>
  [0, 1].map(
    (subnet) =>
      ({
        id: `${WINDOW}.${shard}.${subnet}`,
        window: WINDOW,
        shard,
        datasetShard: 0,
        subnet,
        miners: MINERS[subnet],
      }) as unknown as Task,
  ),
)

describe('actors: miners train their stages over activation streams', function () {
  this.timeout(120_000)
  let cluster: Cluster
  const addresses = MINERS.flat()
  const inboxes = addresses.map(() => new TensorInbox(clock))

  before(async () => {
    cluster = await startNodes(addresses.length)
    for (let i = 0; i < 2; i++) for (let j = 2; j < 4; j++) await connect(at(cluster.nodes, i), at(cluster.nodes, j))
    const addressOf = (peer: string) => addresses[cluster.nodes.findIndex((n) => n.peerId.toString() === peer)]
    cluster.nodes.forEach((node, i) => {
      node.activations.onTensor((t) => {
        const { window, step, innerStep, microBatch, direction } = t.header
        const from = addressOf(t.from.toString()) as string
        at(inboxes, i).deliver(window, { step, innerStep, microBatch }, direction, from, t.bytes, WINDOW)
      })
    })
  })
  after(async () => cluster?.stop())

  function trainAll(): Promise<TrainedTask[]> {
    const peers = { peerOf: (address: string) => at(cluster.nodes, addresses.indexOf(address)).peerId }
    const runs = addresses.flatMap((address, i) => {
      const subnet = Math.floor(i / 2)
      const logger = createLogger({ name: address, level: 'silent', clock })
      const components = {
        training: { protocolAt: () => protocol, data, kernels },
        inbox: at(inboxes, i),
        tensors: tensorSender({ activations: at(cluster.nodes, i).activations, peers, clock, logger }),
        metrics: { trainingMs: 0, tasksRun: 0, tokensTrained: 0 },
        clock,
        logger,
      } as unknown as KernelTaskWorkComponents
      return SHARDS.map((shard) => {
        const path = pathOf(tasks, shard)
        const input: TrainRequest<ShardPieces> = {
          task: path[subnet] as Task,
          windowSeed: SEED,
          replica: subnet === 0 ? i : i - 2,
          upstream: path[subnet - 1],
          downstream: path[subnet + 1],
          shard: { stage: stages[subnet] as (typeof stages)[0], adapters: adaptersOf(subnet), pointer: null },
          waitMs: 20_000,
          untilMs: clock.monotonicMs() + 20_000,
          wrongGradient: false,
        }
        return kernelTaskWork(components).trainStage(input, new AbortController().signal)
      })
    })
    return Promise.all(runs)
  }

  it('every replica of every task runs all H inner steps, replicas agree, and every tensor sent is taken', async () => {
    // Results in miner order (m00, m01, m10, m11), each miner's in shard order.
    const results = await trainAll()
    const M = protocol.microBatches
    results.forEach((r, k) => {
      const subnet = Math.floor(k / (2 * SHARDS.length))
      assert.equal(r.steps.length, protocol.innerSteps, `run ${k}`)
      assert.equal(subnet === 0 ? r.dOutputs.length : r.inputs.length, protocol.innerSteps * M, `run ${k}`)
    })
    for (const subnet of [0, 1])
      for (const shard of SHARDS) {
        const [a, b] = [0, 1].map((r) => at(results, (2 * subnet + r) * SHARDS.length + shard))
        assert.deepEqual(encodeParams('d', (a as TrainedTask).delta), encodeParams('d', (b as TrainedTask).delta))
      }
    assert.deepEqual(
      inboxes.map((i) => i.size),
      [0, 0, 0, 0],
    )
  })
})
