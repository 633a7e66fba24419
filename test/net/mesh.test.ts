import { strict as assert } from 'node:assert'
import type { TxGossip } from '../../src/net/topics.ts'
import { at, type Cluster, connect, startNodes, waitFor } from './helpers.ts'

describe('net: 8 peers on loopback TCP', function () {
  this.timeout(60_000)
  let cluster: Cluster

  before(async () => {
    cluster = await startNodes(8)
    const { nodes } = cluster
    // A ring with chords: every peer dials two others, so each has 4 connections.
    for (let i = 0; i < nodes.length; i++) {
      await connect(at(nodes, i), at(nodes, i + 1))
      await connect(at(nodes, i), at(nodes, i + 3))
    }
  })
  after(async () => cluster?.stop())

  it('form a gossip mesh that delivers every peer’s message to all the others', async () => {
    const { nodes } = cluster
    const received = nodes.map(() => new Set<string>())
    nodes.forEach((node, i) => {
      node.gossip.subscribe('tx', {
        handle: (payload: TxGossip, context) => {
          at(received, i).add(`${context.from}:${payload.tx[0]}`)
        },
      })
    })
    await waitFor(() => nodes.every((n) => n.gossip.meshPeers('tx').length >= 2), 10_000, 'meshes')
    for (const [i, node] of nodes.entries()) await node.gossip.publish('tx', { tx: new Uint8Array([i, 1, 2, 3]) })
    await waitFor(() => received.every((set) => set.size === nodes.length - 1), 10_000, 'delivery')
    for (const [i, node] of nodes.entries()) {
      for (const [j, other] of nodes.entries()) {
        if (i !== j) assert.ok(at(received, i).has(`${other.peerId.toString()}:${j}`), `node ${i} missed node ${j}`)
      }
      assert.equal(node.gossip.stats.reject, 0)
    }
  })
})
