/**
 * The network layer's metrics on real nodes over loopback (net/metrics.ts): each node's
 * registry holds its own libp2p metrics, and the content store counts the block bytes it
 * fetches and serves, by route (the direct block exchange, bitswap).
 */
import { strict as assert } from 'node:assert'
import { Registry } from 'prom-client'
import type { NetNode } from '../../src/net/node.ts'
import { type MetricFamily, parsePrometheusText, sampleValue } from '../helpers/prometheus-text.ts'
import { at, type Cluster, clock, connect, randomBytes, startNodes } from './helpers.ts'

const KiB = 1024

async function scrape(registry: Registry): Promise<Map<string, MetricFamily>> {
  return parsePrometheusText(await registry.metrics())
}

const fetched = (families: Map<string, MetricFamily>, route: string): number =>
  sampleValue(families, 'r3mes_content_fetched_bytes_total', { route })
const served = (families: Map<string, MetricFamily>, route: string): number =>
  sampleValue(families, 'r3mes_content_served_bytes_total', { route })

function timeout(ms: number): { signal: AbortSignal } {
  const controller = new AbortController()
  clock.setTimer(ms, () => controller.abort(new Error(`timed out after ${ms} ms`)))
  return { signal: controller.signal }
}

describe('net: metrics (libp2p and content traffic, per node)', function () {
  this.timeout(60_000)
  let cluster: Cluster
  const registries = [new Registry(), new Registry(), new Registry()]
  before(async () => {
    // Started together: each node's libp2p metrics must still land in its own registry.
    const [x, y, z] = await Promise.all(registries.map((registry) => startNodes(1, () => ({ registry }))))
    cluster = {
      nodes: [x, y, z].flatMap((c) => c?.nodes ?? []),
      homes: [x, y, z].flatMap((c) => c?.homes ?? []),
      stop: async () => {
        await Promise.all([x, y, z].map((c) => c?.stop()))
      },
    }
    await connect(at(cluster.nodes, 1), at(cluster.nodes, 0))
    await connect(at(cluster.nodes, 2), at(cluster.nodes, 0))
  })
  after(async () => cluster?.stop())

  it('counts the bytes a block brings by bitswap and by the direct exchange, on both sides', async () => {
    const [a, b, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
    const before = await Promise.all(registries.map(scrape))
    for (const families of before)
      for (const route of ['exchange', 'bitswap']) {
        assert.equal(fetched(families, route), 0)
        assert.equal(served(families, route), 0)
      }
    // One raw block: its bytes are exactly what crosses.
    const viaBitswap = randomBytes(300 * KiB, 1)
    const cid1 = await a.content.put(viaBitswap)
    await b.content.get(cid1, timeout(20_000))
    const viaExchange = randomBytes(200 * KiB, 2)
    const cid2 = await a.content.put(viaExchange)
    await c.content.get(cid2, { providers: [a.peerId], ...timeout(20_000) })
    const [sa, sb, sc] = await Promise.all(registries.map(scrape))
    if (sa === undefined || sb === undefined || sc === undefined) throw new Error('no scrape')
    assert.equal(fetched(sb, 'bitswap'), viaBitswap.byteLength)
    assert.equal(fetched(sb, 'exchange'), 0)
    assert.equal(fetched(sc, 'exchange'), viaExchange.byteLength)
    assert.equal(fetched(sc, 'bitswap'), 0)
    assert.equal(served(sa, 'bitswap'), viaBitswap.byteLength)
    assert.equal(served(sa, 'exchange'), viaExchange.byteLength)
    assert.equal(fetched(sa, 'bitswap') + fetched(sa, 'exchange'), 0, 'A fetched nothing')
  })

  it('puts each node’s libp2p metrics in its own registry', async () => {
    const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
    const sa = await scrape(at(registries, 0))
    const libp2p = [...sa.keys()].filter((name) => name.startsWith('libp2p_'))
    assert.ok(libp2p.length >= 5, `libp2p metrics: ${libp2p.join(', ')}`)
    // Each registry counts its own node's connections, by direction. B and C dialled A, so A's
    // are all inbound and B's include an outbound one. Whether B also holds a connection to C
    // depends on timing: B's DHT lookup for the bitswap block learns C from A once A's routing
    // table has it, and the DHT pings a peer it learns before adding it to its table. So the
    // counts are checked against each node's own connections (read again should one open
    // between the scrape and the read), not against a fixed topology.
    // libp2p's metric groups label each series with the group's own name.
    const group = 'libp2p_connection_manager_connections'
    const counted = (families: Map<string, MetricFamily>): string =>
      `${sampleValue(families, group, { [group]: 'inbound' })} in, ${sampleValue(families, group, { [group]: 'outbound' })} out`
    const held = (node: NetNode): string => {
      const connections = node.libp2p.getConnections()
      const inbound = connections.filter((c) => c.direction === 'inbound').length
      return `${inbound} in, ${connections.length - inbound} out`
    }
    for (const [i, registry] of registries.entries()) {
      const node = at(cluster.nodes, i)
      let scraped = ''
      let own = ''
      for (let attempt = 0; attempt < 5 && (scraped === '' || scraped !== own); attempt++) {
        scraped = counted(await scrape(registry))
        own = held(node)
      }
      assert.equal(scraped, own, `node ${i}'s registry counts its own connections`)
    }
    assert.equal(held(a), '2 in, 0 out', 'A was dialled by B and C and dialled no one')
    assert.ok(
      b.libp2p.getConnections().some((c) => c.direction === 'outbound' && c.remotePeer.equals(a.peerId)),
      'B dialled A',
    )
    // Every node's listener is in its registry, and no other node's.
    const all = await Promise.all(registries.map(scrape))
    for (const [i, families] of all.entries()) {
      const port = at(cluster.nodes, i).multiaddrs()[0]?.toString().split('/tcp/')[1]?.split('/')[0]
      const listeners = families.get('libp2p_tcp_listener_status_info')?.samples.map((s) => s.labels.address)
      assert.deepEqual(listeners, [`127.0.0.1:${port}`], `node ${i}`)
    }
    // Bytes per protocol, bitswap's among them on the node that served.
    const transfer = sa.get('libp2p_data_transfer_bytes_total')
    assert.ok(
      transfer?.samples.some((s) => /bitswap.* sent$/.test(s.labels.protocol ?? '') && s.value > 0),
      JSON.stringify(transfer?.samples.map((s) => s.labels.protocol)),
    )
  })
})
