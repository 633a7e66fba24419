/**
 * Addresses: the DHT keeps a peer's private addresses only on a LAN; a node announces the
 * addresses it is told to instead of its listen addresses; and a node that can be reached
 * only through a relay is dialled through it.
 */
import { strict as assert } from 'node:assert'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { dhtPeerInfoMapper } from '../../src/net/addresses.ts'
import { sleep } from '../../src/runtime/clock.ts'
import { at, type Cluster, clock, startNodes, waitFor } from './helpers.ts'

describe('net: addresses', function () {
  this.timeout(60_000)
  let cluster: Cluster | undefined

  afterEach(async () => {
    await cluster?.stop()
    cluster = undefined
  })

  it('the DHT drops private addresses from a peer record unless the network is a LAN', async () => {
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const all = [
      '/ip4/10.1.2.3/tcp/4001',
      '/ip4/192.168.1.7/tcp/4001',
      '/ip4/172.16.0.9/tcp/4001',
      '/ip4/127.0.0.1/tcp/4001',
      '/ip4/93.184.216.34/tcp/4001',
      '/ip4/8.8.8.8/tcp/4001',
      '/dns4/node.example.org/tcp/4001',
    ]
    const record = { id, multiaddrs: all.map((a) => multiaddr(a)) }
    const kept = (lan: boolean) => dhtPeerInfoMapper(lan)(record).multiaddrs.map((m) => m.toString())
    assert.deepEqual(kept(false), [
      '/ip4/93.184.216.34/tcp/4001',
      '/ip4/8.8.8.8/tcp/4001',
      '/dns4/node.example.org/tcp/4001',
    ])
    assert.deepEqual(kept(true), all)
    assert.equal(dhtPeerInfoMapper(false)(record).id, id)
  })

  it('announces the addresses it is given instead of its listen addresses', async () => {
    cluster = await startNodes(1, () => ({
      announce: ['/dns4/node.example.org/tcp/4001', '/ip4/93.184.216.34/tcp/4001'],
    }))
    const node = at(cluster.nodes, 0)
    const self = `/p2p/${node.peerId.toString()}`
    assert.deepEqual(
      node.multiaddrs().map((m) => m.toString()),
      [`/dns4/node.example.org/tcp/4001${self}`, `/ip4/93.184.216.34/tcp/4001${self}`],
    )
  })

  it('a lone node looking for relays keeps its event loop turning (its random walk waits on an empty DHT)', async () => {
    // Relay discovery walks the DHT for relays; on an empty routing table each lookup used to
    // end at once and the walk looped without yielding, so no timer ever fired again.
    cluster = await startNodes(1, () => ({ listen: ['/p2p-circuit'] }))
    const started = clock.monotonicMs()
    let ticks = 0
    while (clock.monotonicMs() - started < 3000) {
      await sleep(clock, 100)
      ticks++
    }
    assert.ok(ticks >= 10, `only ${ticks} timer ticks in 3 s`)
  })

  it('dials a node that listens only through a relay, over a full (unlimited) relayed connection', async () => {
    // 0: the relay; 1: behind "NAT", no listen address of its own, a reservation on the relay;
    // 2: a peer that knows the relayed address only.
    cluster = await startNodes(3, (i) => ({
      lan: true,
      ...(i === 0 ? { relay: true } : {}),
      ...(i === 1 ? { listen: ['/p2p-circuit'] } : {}),
    }))
    const [relay, hidden, dialler] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
    assert.equal(hidden.multiaddrs().length, 0, 'no address before a reservation')
    await hidden.libp2p.dial(at(relay.multiaddrs(), 0))
    await waitFor(
      () => hidden.multiaddrs().some((m) => m.toString().includes('/p2p-circuit')),
      20_000,
      'a reservation on the relay',
    )
    const relayed = hidden.multiaddrs().find((m) => m.toString().includes('/p2p-circuit'))
    if (relayed === undefined) assert.fail('no relayed address')
    assert.ok(relayed.toString().startsWith(at(relay.multiaddrs(), 0).toString()), relayed?.toString())
    const connection = await dialler.libp2p.dial(relayed)
    assert.equal(connection.remotePeer.toString(), hidden.peerId.toString())
    assert.ok(connection.remoteAddr.toString().includes('/p2p-circuit'), connection.remoteAddr.toString())
    assert.equal(connection.limits, undefined, 'the relay forwards the whole connection')
    // A protocol that does not run on limited connections works over it: the chain's own.
    const rtt = await dialler.libp2p.services.ping.ping(hidden.peerId)
    assert.ok(rtt >= 0)
    await waitFor(
      () =>
        dialler.libp2p
          .getConnections(hidden.peerId)
          .some((c) => c.streams.some((s) => s.protocol === '/r3mes/testchain/consensus/1.0.0')),
      10_000,
      'the consensus channel over the relayed connection',
    )
  })
})
