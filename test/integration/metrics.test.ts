/**
 * `GET /metrics` of a real node (one validator on loopback, its libp2p node, content store
 * and chain), scraped over HTTP while it commits blocks: the body is Prometheus's text format
 * under the registry's content type, it holds every metric docs/OPERATIONS.md lists (the
 * node's, libp2p's and the process's), and its values agree with `GET /status`.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeNodeKey } from '../../src/actors/identity.ts'
import { localNetworkGenesis, nodeSeed } from '../../src/actors/local-network.ts'
import { type R3mesNode, startNode } from '../../src/actors/node.ts'
import { NodeApi } from '../../src/actors/node-api.ts'
import { nodeApiBackend } from '../../src/actors/node-api-backend.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { saveBackbone } from '../../src/ml/artifacts.ts'
import { modelConfigs } from '../../src/ml/config.ts'
import { initStageWeights } from '../../src/ml/weights.ts'
import { sleep } from '../../src/runtime/clock.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { SkewedClock } from '../../src/runtime/skewed-clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { type MetricFamily, parsePrometheusText, sampleValue } from '../helpers/prometheus-text.ts'

/** The metrics an operator's dashboard reads (docs/OPERATIONS.md, "Metrics"), by type. */
const EXPECTED: Record<string, string> = {
  r3mes_block_height: 'gauge',
  r3mes_consensus_round: 'gauge',
  r3mes_peers: 'gauge',
  r3mes_mempool_txs: 'gauge',
  r3mes_mempool_bytes: 'gauge',
  r3mes_window_id: 'gauge',
  r3mes_window_claims: 'gauge',
  r3mes_open_challenges: 'gauge',
  r3mes_tasks_run_total: 'counter',
  r3mes_submissions_total: 'counter',
  r3mes_training_tokens_total: 'counter',
  r3mes_training_tokens_per_second: 'gauge',
  r3mes_content_fetched_bytes_total: 'counter',
  r3mes_content_served_bytes_total: 'counter',
  r3mes_block_interval_seconds: 'histogram',
  nodejs_eventloop_lag_seconds: 'gauge',
  nodejs_eventloop_lag_p99_seconds: 'gauge',
  libp2p_data_transfer_bytes_total: 'counter',
  libp2p_connection_manager_connections: 'gauge',
}

describe('GET /metrics on a running node', function () {
  this.timeout(60_000)
  const base = new SystemClock()
  const clock = new SkewedClock(base)
  const components = { clock, random: new SeededRandom(1), logger: createLogger({ name: 't', level: 'silent', clock }) }
  let root = ''
  let node: R3mesNode | undefined
  let api: NodeApi | undefined

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'r3mes-metrics-'))
    const config = modelConfigs.micro as (typeof modelConfigs)['micro']
    const modelDir = join(root, 'model')
    saveBackbone(modelDir, initStageWeights(config, 0, config.nLayers, deriveKey('metrics', 'backbone')))
    const chainId = 'r3mes-metrics-test'
    const genesis = localNetworkGenesis({
      chainId,
      seed: 'metrics',
      modelDir,
      subnets: [[0, config.nLayers]],
      nodes: [{ name: 'v', roles: ['validator'] }],
      genesisTimeMs: clock.nowMs(),
    })
    const home = join(root, 'v')
    writeNodeKey(home, nodeSeed(chainId, 'metrics', 'v'))
    node = await startNode({ home, genesis, roles: ['validator'], modelDir }, components)
    api = new NodeApi({ backend: nodeApiBackend(node, clock), components })
  })
  after(async () => {
    await api?.close()
    await node?.stop()
    if (root !== '') await rm(root, { recursive: true, force: true })
  })

  it('serves the text format with every listed metric, agreeing with /status', async () => {
    const url = await (api as NodeApi).listen()
    const until = base.monotonicMs() + 40_000
    while ((node as R3mesNode).chain.height < 4) {
      if (base.monotonicMs() > until) throw new Error('the node committed no 4 blocks in 40 s')
      await sleep(base, 100)
    }
    const response = await fetch(`${url}/metrics`)
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    const families: Map<string, MetricFamily> = parsePrometheusText(await response.text())
    const status = (await (await fetch(`${url}/status`)).json()) as {
      height: number
      peers: number
      window: number | null
    }

    for (const [name, type] of Object.entries(EXPECTED))
      assert.equal(families.get(name)?.type, type, `${name}: ${families.get(name)?.type ?? 'missing'}`)
    assert.ok(
      [...families.keys()].filter((n) => n.startsWith('libp2p_')).length >= 10,
      'libp2p reports its own metrics',
    )
    const height = sampleValue(families, 'r3mes_block_height')
    assert.ok(height >= 4 && Math.abs(height - status.height) <= 1, `height ${height}, /status ${status.height}`)
    assert.equal(sampleValue(families, 'r3mes_peers'), status.peers)
    assert.equal(sampleValue(families, 'r3mes_window_id'), status.window ?? -1)
    // The validator is deciding a height: its round is a number, not the follower's -1.
    assert.ok(sampleValue(families, 'r3mes_consensus_round') >= 0)
    // The blocks since the start were observed, at the genesis block time's pace or slower.
    const h = 'r3mes_block_interval_seconds'
    const intervals = sampleValue(families, h, {}, `${h}_count`)
    assert.ok(intervals >= 2, `${intervals} block intervals observed`)
    assert.ok(sampleValue(families, h, {}, `${h}_sum`) > 0)
    // The process's event loop lag is measured (a number of seconds, not NaN).
    assert.ok(Number.isFinite(sampleValue(families, 'nodejs_eventloop_lag_seconds')))
  })
})
