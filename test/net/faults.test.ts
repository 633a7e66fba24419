import { strict as assert } from 'node:assert'
import { FaultInjectedError } from '../../src/net/errors.ts'
import type { TxGossip } from '../../src/net/topics.ts'
import { sleep } from '../../src/runtime/clock.ts'
import { at, type Cluster, clock, connect, startNodes, waitFor } from './helpers.ts'

describe('net: fault injection on real connections', function () {
  this.timeout(60_000)
  let cluster: Cluster
  const got: string[][] = []

  before(async () => {
    cluster = await startNodes(4)
    const { nodes } = cluster
    for (let i = 0; i < nodes.length; i++)
      for (let j = i + 1; j < nodes.length; j++) await connect(at(nodes, i), at(nodes, j))
    nodes.forEach((node, i) => {
      got.push([])
      node.gossip.subscribe('tx', {
        handle: (payload: TxGossip) => at(got, i).push(Buffer.from(payload.tx).toString()),
      })
    })
    await waitFor(() => nodes.every((n) => n.gossip.meshPeers('tx').length >= 2), 10_000, 'meshes')
  })
  after(async () => cluster?.stop())

  const tx = (text: string): TxGossip => ({ tx: new Uint8Array(Buffer.from(text)) })

  it('a partition stops delivery across the cut and healing restores it', async () => {
    const { nodes } = cluster
    const [n0, n1, n2, n3] = [at(nodes, 0), at(nodes, 1), at(nodes, 2), at(nodes, 3)]
    const groups = [
      [n0.peerId, n1.peerId],
      [n2.peerId, n3.peerId],
    ]
    await Promise.all(nodes.map((node) => node.faults.partition(groups)))
    // The real connections across the cut are gone, and new ones are refused.
    assert.equal(n0.libp2p.getConnections(n2.peerId).length, 0)
    assert.equal(n1.libp2p.getConnections(n3.peerId).length, 0)
    await assert.rejects(n0.libp2p.dial(n2.multiaddrs()[0] ?? n2.peerId))
    await assert.rejects(
      n0.activations.send(n2.peerId, { direction: 'forward', window: 0, step: 0, bytes: new Uint8Array(8) }),
    )

    // Each side's mesh settles on its own members at the next heartbeats.
    const side = (i: number): string[] => (i < 2 ? [n0, n1] : [n2, n3]).map((n) => n.peerId.toString())
    await waitFor(
      () =>
        nodes.every(
          (n, i) => n.gossip.meshPeers('tx').length === 1 && side(i).includes(n.gossip.meshPeers('tx')[0] ?? ''),
        ),
      10_000,
      'meshes within each side',
    )
    await n0.gossip.publish('tx', tx('during'))
    await n2.gossip.publish('tx', tx('during-2'))
    await waitFor(() => at(got, 1).includes('during') && at(got, 3).includes('during-2'), 10_000, 'same-side delivery')
    await sleep(clock, 500)
    assert.ok(!at(got, 2).includes('during') && !at(got, 3).includes('during'), 'crossed the partition')
    assert.ok(!at(got, 0).includes('during-2') && !at(got, 1).includes('during-2'), 'crossed the partition')

    await Promise.all(nodes.map((node) => node.faults.heal()))
    await waitFor(() => n0.libp2p.getConnections(n2.peerId).length > 0, 10_000, 'reconnected')
    await waitFor(() => nodes.every((n) => n.gossip.meshPeers('tx').length >= 2), 10_000, 'meshes after heal')
    await n0.gossip.publish('tx', tx('after'))
    await waitFor(() => [1, 2, 3].every((i) => at(got, i).includes('after')), 10_000, 'delivery after heal')
    const sent = await n0.activations.send(n2.peerId, {
      direction: 'forward',
      window: 0,
      step: 0,
      bytes: new Uint8Array(8),
    })
    assert.equal(sent.sizeBytes, 8)
  })

  it('loss drops a peer’s messages without blaming it, delay holds them back, both switch off', async () => {
    const { nodes } = cluster
    const [n0, n1] = [at(nodes, 0), at(nodes, 1)]
    // Node 1 cuts every other peer but node 0, so what it gets comes over that one link.
    for (const i of [2, 3]) await n1.faults.block(at(nodes, i).peerId)
    await waitFor(() => n1.gossip.meshPeers('tx').length === 1, 10_000, 'n1 meshed with n0 only')

    n1.faults.setLoss(n0.peerId.toString(), 1)
    const ignoredBefore = n1.gossip.stats.ignore
    await n0.gossip.publish('tx', tx('lost'))
    await waitFor(() => n1.gossip.stats.ignore > ignoredBefore, 10_000, 'drop')
    assert.ok(!at(got, 1).includes('lost'))
    assert.ok(n1.gossip.score(n0.peerId.toString()) >= 0, 'a dropped message does not count against the sender')

    n1.faults.setLoss(n0.peerId.toString(), 0)
    n1.faults.setDelay(n0.peerId.toString(), 400)
    const start = clock.monotonicMs()
    await n0.gossip.publish('tx', tx('late'))
    await waitFor(() => at(got, 1).includes('late'), 10_000, 'delayed delivery')
    const elapsed = clock.monotonicMs() - start
    assert.ok(elapsed >= 390, `delivered after ${elapsed} ms, expected >= 400`)

    await n1.faults.heal()
    const t0 = clock.monotonicMs()
    await n0.gossip.publish('tx', tx('prompt'))
    await waitFor(() => at(got, 1).includes('prompt'), 10_000, 'prompt delivery')
    assert.ok(clock.monotonicMs() - t0 < 390, 'delay was lifted')
  })

  it('delay and loss also act on activation streams', async () => {
    const [n0, n1] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
    const tensor = { direction: 'forward' as const, window: 0, step: 0, bytes: new Uint8Array(1024) }
    n0.faults.setDelay(n1.peerId.toString(), 300)
    const start = clock.monotonicMs()
    await n0.activations.send(n1.peerId, tensor)
    assert.ok(clock.monotonicMs() - start >= 295, 'stream held back by the delay')
    n0.faults.setLoss(n1.peerId.toString(), 1)
    await assert.rejects(n0.activations.send(n1.peerId, tensor), FaultInjectedError)
    await n0.faults.heal()
    await n0.activations.send(n1.peerId, tensor)
  })

  it('disconnect closes the connection and lets the peers reconnect', async () => {
    const [n2, n3] = [at(cluster.nodes, 2), at(cluster.nodes, 3)]
    await waitFor(() => n2.libp2p.getConnections(n3.peerId).length > 0, 10_000, 'connected')
    await n2.faults.disconnect(n3.peerId)
    assert.equal(n2.libp2p.getConnections(n3.peerId).length, 0)
    await connect(n2, n3)
    assert.ok(n2.libp2p.getConnections(n3.peerId).length > 0)
  })
})
