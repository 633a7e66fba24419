/**
 * The node's Prometheus metrics (services/prometheus.ts) over a chain, mempool and counters of
 * this test's own: every metric is exposed under its name and type, reads what the node holds
 * at scrape time, and the block-interval histogram counts consecutive blocks only. The real
 * node's `/metrics` over HTTP is test/integration/metrics.test.ts.
 */
import assert from 'node:assert/strict'
import { newNodeMetrics } from '../../src/actors/services/metrics.ts'
import { NodePrometheus, type NodePrometheusComponents } from '../../src/actors/services/prometheus.ts'
import type { ChainReader } from '../../src/chain/reader.ts'
import type { Challenge, Claim, ClaimStatus, Window } from '../../src/chain/state.ts'
import { type MetricFamily, parsePrometheusText, sampleValue } from '../helpers/prometheus-text.ts'

type Block = { readonly height: number; readonly timeMs: number }

/** A node of this test's own: every value the metrics read is a field the test sets. */
function fakeNode() {
  const state = {
    height: 0,
    window: null as Window | null,
    claims: [] as Claim[],
    challenges: [] as Challenge[],
    round: null as number | null,
    mempool: { txs: 0, bytes: 0 },
    peers: 0,
  }
  const listeners = new Set<(block: Block) => void>()
  const chain: NodePrometheusComponents['chain'] = {
    get height() {
      return state.height
    },
    currentWindow: () => state.window,
    claims: (window: number) => state.claims.filter((c) => c.window === window),
    openChallenges: () => state.challenges.filter((c) => c.stage === 'l2' || c.stage === 'l3'),
  } satisfies Pick<ChainReader, 'height' | 'currentWindow' | 'claims' | 'openChallenges'>
  const metrics = newNodeMetrics()
  const components: NodePrometheusComponents = {
    chain,
    round: () => state.round,
    mempool: () => state.mempool,
    peers: () => state.peers,
    metrics,
    onBlock: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
  const block = (height: number, timeMs: number): void => {
    for (const l of listeners) l({ height, timeMs })
  }
  return { state, metrics, components, block, listeners }
}

const claim = (window: number, status: ClaimStatus): Claim => ({ window, status }) as Claim
const challenge = (stage: Challenge['stage']): Challenge => ({ stage }) as Challenge

async function scrape(prometheus: NodePrometheus): Promise<Map<string, MetricFamily>> {
  const { contentType, body } = await prometheus.scrape()
  assert.match(contentType, /^text\/plain; version=0\.0\.4/)
  return parsePrometheusText(body)
}

/** Every metric the node exposes, with its type. */
const NODE_METRICS: Record<string, string> = {
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
  r3mes_challenges_made_total: 'counter',
  r3mes_verdicts_total: 'counter',
  r3mes_backbone_fetched_bytes_total: 'counter',
  r3mes_adapter_fetched_bytes_total: 'counter',
  r3mes_training_tokens_total: 'counter',
  r3mes_training_seconds_total: 'counter',
  r3mes_training_tokens_per_second: 'gauge',
  r3mes_block_interval_seconds: 'histogram',
}

describe('node metrics: the Prometheus registry of one node', () => {
  it('exposes every metric under its name and type, with the process metrics beside them', async () => {
    const node = fakeNode()
    const families = await scrape(new NodePrometheus(node.components))
    for (const [name, type] of Object.entries(NODE_METRICS)) {
      assert.equal(families.get(name)?.type, type, `${name} is a ${type}`)
      assert.notEqual(families.get(name)?.help, '', `${name} has help`)
    }
    // prom-client's default metrics of the process: event-loop lag among them.
    assert.equal(families.get('nodejs_eventloop_lag_seconds')?.type, 'gauge')
    assert.equal(families.get('process_cpu_seconds_total')?.type, 'counter')
    // Before anything happens: no window, no round, every claim status and level at zero.
    assert.equal(sampleValue(families, 'r3mes_window_id'), -1)
    assert.equal(sampleValue(families, 'r3mes_consensus_round'), -1)
    for (const status of ['revealed', 'accepted', 'flagged', 'challenged', 'slashed'])
      assert.equal(sampleValue(families, 'r3mes_window_claims', { status }), 0)
    for (const level of ['l2', 'l3']) assert.equal(sampleValue(families, 'r3mes_open_challenges', { level }), 0)
    assert.equal(sampleValue(families, 'r3mes_training_tokens_per_second'), 0)
  })

  it('reads the chain, consensus, mempool, peers and the roles’ counters when scraped', async () => {
    const node = fakeNode()
    const prometheus = new NodePrometheus(node.components)
    Object.assign(node.state, {
      height: 42,
      window: { id: 3 } as Window,
      claims: [claim(3, 'accepted'), claim(3, 'accepted'), claim(3, 'flagged'), claim(2, 'slashed')],
      challenges: [challenge('l2'), challenge('l3'), challenge('l3'), challenge('resolved')],
      round: 2,
      mempool: { txs: 3, bytes: 900 },
      peers: 4,
    })
    Object.assign(node.metrics, {
      tasksRun: 2,
      submissions: 1,
      challengesMade: 5,
      verdicts: 6,
      backboneBytes: 7000,
      adapterBytes: 800,
      tokensTrained: 512,
      trainingMs: 2000,
    })
    const families = await scrape(prometheus)
    const expect: [string, Record<string, string>, number][] = [
      ['r3mes_block_height', {}, 42],
      ['r3mes_window_id', {}, 3],
      ['r3mes_consensus_round', {}, 2],
      ['r3mes_mempool_txs', {}, 3],
      ['r3mes_mempool_bytes', {}, 900],
      ['r3mes_peers', {}, 4],
      // Window 2's slashed claim is not the current window's.
      ['r3mes_window_claims', { status: 'accepted' }, 2],
      ['r3mes_window_claims', { status: 'flagged' }, 1],
      ['r3mes_window_claims', { status: 'slashed' }, 0],
      ['r3mes_open_challenges', { level: 'l2' }, 1],
      ['r3mes_open_challenges', { level: 'l3' }, 2],
      ['r3mes_tasks_run_total', {}, 2],
      ['r3mes_submissions_total', {}, 1],
      ['r3mes_challenges_made_total', {}, 5],
      ['r3mes_verdicts_total', {}, 6],
      ['r3mes_backbone_fetched_bytes_total', {}, 7000],
      ['r3mes_adapter_fetched_bytes_total', {}, 800],
      ['r3mes_training_tokens_total', {}, 512],
      ['r3mes_training_seconds_total', {}, 2],
      ['r3mes_training_tokens_per_second', {}, 256],
    ]
    for (const [name, labels, value] of expect)
      assert.equal(sampleValue(families, name, labels), value, `${name}${JSON.stringify(labels)}`)
    // A second scrape follows the node, counters included.
    node.state.height = 43
    node.metrics.tasksRun = 3
    const again = await scrape(prometheus)
    assert.equal(sampleValue(again, 'r3mes_block_height'), 43)
    assert.equal(sampleValue(again, 'r3mes_tasks_run_total'), 3)
  })

  it('observes the interval between consecutive blocks only, until stopped', async () => {
    const node = fakeNode()
    const prometheus = new NodePrometheus(node.components)
    node.block(1, 10_000)
    node.block(2, 11_000) // 1 s
    node.block(3, 11_400) // 0.4 s
    node.block(5, 20_000) // a gap: heights 3 to 5 are not one interval
    node.block(6, 22_000) // 2 s
    const families = await scrape(prometheus)
    const h = 'r3mes_block_interval_seconds'
    assert.equal(sampleValue(families, h, {}, `${h}_count`), 3)
    assert.ok(Math.abs(sampleValue(families, h, {}, `${h}_sum`) - 3.4) < 1e-9)
    assert.equal(sampleValue(families, h, { le: '0.5' }, `${h}_bucket`), 1)
    assert.equal(sampleValue(families, h, { le: '1' }, `${h}_bucket`), 2)
    assert.equal(sampleValue(families, h, { le: '2' }, `${h}_bucket`), 3)
    assert.equal(sampleValue(families, h, { le: '+Inf' }, `${h}_bucket`), 3)
    prometheus.stop()
    assert.equal(node.listeners.size, 0, 'stop unsubscribes from blocks')
  })

  it('keeps each node’s metrics in its own registry', async () => {
    const a = fakeNode()
    const b = fakeNode()
    a.state.height = 5
    b.state.height = 9
    const [pa, pb] = [new NodePrometheus(a.components), new NodePrometheus(b.components)]
    assert.equal(sampleValue(await scrape(pa), 'r3mes_block_height'), 5)
    assert.equal(sampleValue(await scrape(pb), 'r3mes_block_height'), 9)
  })
})

describe('the test parser of the Prometheus text format', () => {
  it('reads families, labels with escapes and special values, and refuses what is not the format', () => {
    const families = parsePrometheusText(
      [
        '# HELP x_total A counter',
        '# TYPE x_total counter',
        'x_total{a="1",b="say \\"hi\\"\\n"} 3',
        '# TYPE h histogram',
        'h_bucket{le="+Inf"} 2',
        'h_sum 1.5',
        'h_count 2',
        '# TYPE g gauge',
        'g NaN',
      ].join('\n'),
    )
    assert.equal(families.get('x_total')?.help, 'A counter')
    assert.equal(sampleValue(families, 'x_total', { a: '1', b: 'say "hi"\n' }), 3)
    assert.equal(sampleValue(families, 'h', { le: '+Inf' }, 'h_bucket'), 2)
    assert.ok(Number.isNaN(sampleValue(families, 'g')))
    assert.throws(() => parsePrometheusText('undeclared 1'), /no declared family/)
    assert.throws(() => parsePrometheusText('# TYPE g gauge\ng{a=1} 1'), /malformed labels/)
    assert.throws(() => parsePrometheusText('# TYPE g gauge\ng one'), /not a sample value/)
  })
})
