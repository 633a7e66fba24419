/**
 * The node API's view of a running `R3mesNode` (node-api.ts reads nothing else of it): its
 * status with the serving role's held-out loss history, its actor events, its chain's
 * history and queries, its check and relay of transactions with the results of recent
 * blocks, its fault injector, and the serving role's model source.
 */
import { TxCode } from '../chain/errors.ts'
import type { SkewedClock } from '../runtime/skewed-clock.ts'
import { txIdOf } from './chain-node.ts'
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
    chainId: node.reader.chainId,
    // The chain's own check on the committed state (decoding, signature, chain id, nonce,
    // fee, the message's rules): what it refuses is never relayed.
    submitTx: async (tx) => {
      const txId = txIdOf(tx)
      const check = node.chain.checkTx(tx)
      if (!check.ok) return { txId, code: check.code, log: check.log }
      await node.chain.submit(tx)
      return { txId, code: TxCode.ok, log: '' }
    },
    txResult: (txId) => node.chain.txResults.get(txId),
    metrics: () => node.prometheus.scrape(),
    faults: node.net.faults,
    clock,
    ...(source !== undefined ? { serving: { source } } : {}),
  }
}
