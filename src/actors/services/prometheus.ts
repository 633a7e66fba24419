/**
 * A node's Prometheus metrics, as `GET /metrics` serves them: the node's own registry (chain,
 * consensus, mempool, peers, the roles' counters, and what the network layer registers there:
 * libp2p's metrics and the content traffic, net/metrics.ts) plus the process's (event-loop
 * lag, heap, GC, CPU: prom-client's default metrics, one set per process however many nodes
 * it runs). prom-client's global registry is never used: a test process runs many nodes.
 *
 * Chain values are read when Prometheus scrapes (each metric's `collect`), not kept up to date
 * block by block; only the block interval, which needs every block, is observed as blocks
 * come.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { ChainReader } from '../../chain/reader.ts'
import type { ClaimStatus } from '../../chain/state.ts'
import type { NodeMetrics } from './metrics.ts'

export interface NodePrometheusComponents {
  readonly chain: Pick<ChainReader, 'height' | 'currentWindow' | 'claims' | 'openChallenges'>
  /** The consensus round this validator is in; null on a node that does not validate. */
  readonly round: () => number | null
  readonly mempool: () => { readonly txs: number; readonly bytes: number }
  /** Peers connected now. */
  readonly peers: () => number
  /** The roles' counters (services/metrics.ts), read at each scrape. */
  readonly metrics: Readonly<NodeMetrics>
  /** Calls `listener` with each executed block; returns the way to stop. */
  readonly onBlock: (listener: (block: { readonly height: number; readonly timeMs: number }) => void) => () => void
}

/** One scrape: the body in Prometheus's text format and the content type that names it. */
export interface MetricsScrape {
  readonly contentType: string
  readonly body: string
}

const CLAIM_STATUSES: readonly ClaimStatus[] = ['revealed', 'accepted', 'flagged', 'challenged', 'slashed']
const CHALLENGE_LEVELS = ['l2', 'appealable', 'l3'] as const

/** Block intervals (s): from well under a local testnet's block time to a stalled chain's. */
const BLOCK_INTERVAL_BUCKETS_SECONDS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120]

let processRegistry: Registry | undefined

/** The process's metrics (prom-client's defaults), registered once per process. */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/** A counter that shows a value counted elsewhere, read at each scrape. */
function mirroredCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset()
      this.inc(read())
    },
  })
}

/** A gauge read at each scrape. */
function readGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read())
    },
  })
}

export class NodePrometheus {
  /** The node's own metrics; the network layer registers libp2p's and the content traffic here too. */
  readonly registry: Registry
  readonly #stopObserving: () => void

  constructor(components: NodePrometheusComponents, registry = new Registry()) {
    this.registry = registry
    const { chain, metrics } = components
    readGauge(registry, 'r3mes_block_height', 'Height of the last block this node executed', () => chain.height)
    readGauge(
      registry,
      'r3mes_consensus_round',
      'Consensus round of the height being decided (-1 on a node that does not validate)',
      () => components.round() ?? -1,
    )
    readGauge(registry, 'r3mes_peers', 'Peers connected now', components.peers)
    readGauge(registry, 'r3mes_mempool_txs', 'Transactions waiting in the mempool', () => components.mempool().txs)
    readGauge(registry, 'r3mes_mempool_bytes', 'Bytes of the transactions waiting in the mempool', () => {
      return components.mempool().bytes
    })
    readGauge(
      registry,
      'r3mes_window_id',
      'Id of the current training window (-1 before the first opens)',
      () => chain.currentWindow()?.id ?? -1,
    )
    new Gauge({
      name: 'r3mes_window_claims',
      help: 'Claims of the current training window, by status',
      labelNames: ['status'] as const,
      registers: [registry],
      collect() {
        const counts = new Map<ClaimStatus, number>(CLAIM_STATUSES.map((s) => [s, 0]))
        const window = chain.currentWindow()
        if (window !== null)
          for (const claim of chain.claims(window.id)) counts.set(claim.status, (counts.get(claim.status) ?? 0) + 1)
        for (const [status, n] of counts) this.set({ status }, n)
      },
    })
    new Gauge({
      name: 'r3mes_open_challenges',
      help: 'Challenges open on chain, by level (l2: one seated verifier, appealable: its owner verdict open to appeal, l3: the arbiter panel)',
      labelNames: ['level'] as const,
      registers: [registry],
      collect() {
        const open = chain.openChallenges()
        for (const level of CHALLENGE_LEVELS) this.set({ level }, open.filter((c) => c.stage === level).length)
      },
    })
    mirroredCounter(registry, 'r3mes_tasks_run_total', 'Training tasks (stages) this node computed', () => {
      return metrics.tasksRun
    })
    mirroredCounter(registry, 'r3mes_submissions_total', 'Gradients this node revealed and the chain accepted', () => {
      return metrics.submissions
    })
    mirroredCounter(registry, 'r3mes_challenges_made_total', 'Challenges this node opened', () => {
      return metrics.challengesMade
    })
    mirroredCounter(registry, 'r3mes_verdicts_total', 'Verdicts this node gave as verifier or arbiter', () => {
      return metrics.verdicts
    })
    mirroredCounter(registry, 'r3mes_backbone_fetched_bytes_total', 'Bytes of backbone fetched for stages run', () => {
      return metrics.backboneBytes
    })
    mirroredCounter(registry, 'r3mes_adapter_fetched_bytes_total', 'Bytes of adapter states fetched', () => {
      return metrics.adapterBytes
    })
    mirroredCounter(registry, 'r3mes_training_tokens_total', 'Tokens this node trained on (rate() is tokens/s)', () => {
      return metrics.tokensTrained
    })
    mirroredCounter(
      registry,
      'r3mes_training_seconds_total',
      'Seconds spent computing training stages, forward and backward',
      () => metrics.trainingMs / 1000,
    )
    readGauge(
      registry,
      'r3mes_training_tokens_per_second',
      'Tokens trained per second of training compute, since the node started (0 before the first task)',
      () => (metrics.trainingMs > 0 ? metrics.tokensTrained / (metrics.trainingMs / 1000) : 0),
    )
    const interval = new Histogram({
      name: 'r3mes_block_interval_seconds',
      help: 'Time between consecutive blocks, from their header times',
      buckets: BLOCK_INTERVAL_BUCKETS_SECONDS,
      registers: [registry],
    })
    let last: { height: number; timeMs: number } | undefined
    this.#stopObserving = components.onBlock((block) => {
      // Only consecutive heights: the first block after a start has no interval known here.
      if (last !== undefined && block.height === last.height + 1 && block.timeMs >= last.timeMs)
        interval.observe((block.timeMs - last.timeMs) / 1000)
      last = { height: block.height, timeMs: block.timeMs }
    })
  }

  /** Every metric of the node and of its process, in Prometheus's text format. */
  async scrape(): Promise<MetricsScrape> {
    const all = Registry.merge([processMetrics(), this.registry])
    return { contentType: all.contentType, body: await all.metrics() }
  }

  stop(): void {
    this.#stopObserving()
  }
}
