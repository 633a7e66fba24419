/**
 * The network layer's Prometheus metrics, on the node's own registry (never prom-client's
 * global one: a test process runs many nodes, each scraped on its own):
 *
 *   - libp2p's metrics (`@libp2p/prometheus-metrics`: connections, streams and bytes per
 *     protocol, dial queues, kad-dht), and
 *   - the content store's traffic: bytes of blocks fetched from peers and served to them, by
 *     the way they travelled (`exchange`: the direct block protocol, block-exchange.ts;
 *     `bitswap`: helia's).
 */
import type { Metrics } from '@libp2p/interface'
import { type PrometheusMetricsComponents, prometheusMetrics } from '@libp2p/prometheus-metrics'
import { Counter, type Registry } from 'prom-client'

/** How a block travelled between this node and a peer. */
export type ContentRoute = 'exchange' | 'bitswap'

/** Where the content store and the block exchange count the bytes they move. */
export interface ContentTraffic {
  /** `bytes` of a block from a peer, checked against its CID and stored here. */
  fetched(route: ContentRoute, bytes: number): void
  /** `bytes` of a block of ours sent to a peer. */
  served(route: ContentRoute, bytes: number): void
}

/** Counts nothing: a node built without a registry. */
export const uncountedTraffic: ContentTraffic = { fetched: () => {}, served: () => {} }

/** The content traffic counters, registered on `registry`. */
export function contentTraffic(registry: Registry): ContentTraffic {
  const fetched = new Counter({
    name: 'r3mes_content_fetched_bytes_total',
    help: 'Bytes of content blocks fetched from peers (checked against their CID), by route',
    labelNames: ['route'] as const,
    registers: [registry],
  })
  const served = new Counter({
    name: 'r3mes_content_served_bytes_total',
    help: 'Bytes of content blocks served to peers, by route',
    labelNames: ['route'] as const,
    registers: [registry],
  })
  // Both routes show from the first scrape, at zero until a block moves.
  for (const route of ['exchange', 'bitswap'] as const) {
    fetched.inc({ route }, 0)
    served.inc({ route }, 0)
  }
  return {
    fetched: (route, bytes) => fetched.inc({ route }, bytes),
    served: (route, bytes) => served.inc({ route }, bytes),
  }
}

/** The counter helia's bitswap keeps of the block bytes it sends (@helia/bitswap network.js). */
const BITSWAP_SENT_BYTES = 'helia_bitswap_sent_data_bytes_total'

/** A metric that records nothing: what helia gets for everything but bitswap's sent bytes. */
const ignored = {
  update: () => {},
  increment: () => {},
  decrement: () => {},
  reset: () => {},
  observe: () => {},
  timer: () => () => {},
}

/**
 * The `metrics` helia hands its bitswap: only the sent-bytes counter is kept, into `traffic`.
 * Bitswap's other metrics carry one label per peer that ever sent a block, series a stream of
 * fresh peer ids could grow without bound, so they record nothing; traced functions run as they
 * are.
 */
export function bitswapTrafficMetrics(traffic: ContentTraffic): Metrics {
  const adapter = {
    registerCounter: (name: string) =>
      name === BITSWAP_SENT_BYTES
        ? { ...ignored, increment: (bytes = 1) => traffic.served('bitswap', bytes) }
        : ignored,
    registerMetric: () => ignored,
    registerMetricGroup: () => ignored,
    registerCounterGroup: () => ignored,
    registerHistogram: () => ignored,
    registerHistogramGroup: () => ignored,
    registerSummary: () => ignored,
    registerSummaryGroup: () => ignored,
    trackMultiaddrConnection: () => {},
    trackProtocolStream: () => {},
    createTrace: () => undefined,
    traceFunction: <F>(_name: string, fn: F): F => fn,
  }
  return adapter as unknown as Metrics
}

/**
 * libp2p's metrics into `registry`, with the file-system usage it reports measured where the
 * node keeps its files. Process-wide metrics (event loop, heap, GC) are not collected here:
 * they are one per process however many nodes it runs (the node registers them once).
 */
export function libp2pMetrics(
  registry: Registry,
  homeDir: string,
): (components: PrometheusMetricsComponents) => Metrics {
  return prometheusMetrics({ registry, collectDefaultMetrics: false, statfsLocation: homeDir })
}

/**
 * `@libp2p/prometheus-metrics` keeps one process-wide map of metrics by name, cleared when a
 * node's libp2p is built; a name registered while another node is being built would land in
 * that node's registry. So libp2p nodes that report metrics are built and started one at a
 * time (each takes well under a second). The few registrations libp2p makes after its start
 * may still land in the registry of the node built last; outside tests a process runs one node.
 */
let building: Promise<void> = Promise.resolve()

export async function oneNodeAtATime<T>(work: () => Promise<T>): Promise<T> {
  const before = building
  let done = (): void => {}
  building = new Promise<void>((resolve) => {
    done = resolve
  })
  await before
  try {
    return await work()
  } finally {
    done()
  }
}
