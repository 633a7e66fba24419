/**
 * The node API's view of a running `R3mesNode` (node-api.ts reads nothing else of it): its
 * status with the serving role's held-out loss history, its actor events, its chain's
 * history and queries, its fault injector, and the serving role's model source.
 */
import type { SkewedClock } from '../runtime/skewed-clock.ts'
import type { R3mesNode } from './node.ts'
import type { NodeApiBackend } from './node-api.ts'

export function nodeApiBackend(node: R3mesNode, clock: SkewedClock): NodeApiBackend {
  const source = node.servingSource
  return {
    status: () => ({ ...node.status(), loss: node.lossHistory() }),
    events: () => node.events,
    height: () => node.chain.height,
    history: (height) => node.chain.history.get(height),
    query: (path) => node.chain.queryJson(path),
    metrics: () => node.prometheus.scrape(),
    faults: node.net.faults,
    clock,
    ...(source !== undefined ? { serving: { source } } : {}),
  }
}
