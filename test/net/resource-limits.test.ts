/**
 * Hostile peers against a node's resource limits, over real libp2p on loopback: a peer opening
 * more streams of one protocol than allowed, storing a record in the chain's DHT, flooding it
 * with provider records, and more peers connecting than the node takes.
 */
import { strict as assert } from 'node:assert'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { Libp2p, Stream } from '@libp2p/interface'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { dhtProtocol, type NetNode } from '../../src/net/node.ts'
import { deadlineSignal, sleep } from '../../src/runtime/clock.ts'
import { MAX_DHT_STREAMS_PER_CONNECTION } from '../../src/runtime/limits.ts'
import { CHAIN_ID, type Cluster, clock, connect, startNodes, waitFor } from './helpers.ts'

const bareOptions = {
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
}

/** A bare libp2p peer: TCP, noise, yamux and identify. */
async function hostilePeer(): Promise<Libp2p> {
  return createLibp2p({ ...bareOptions, services: { identify: identify() } })
}

/** A bare peer with kad-dht under the chain's protocol and kad-dht's own permissive validators. */
async function hostileDhtPeer() {
  return createLibp2p({
    ...bareOptions,
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: dhtProtocol(CHAIN_ID),
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        allowQueryWithZeroPeers: true,
      }),
    },
  })
}

async function storedKeys(node: NetNode, prefix: string): Promise<string[]> {
  const keys: string[] = []
  for await (const key of node.helia.datastore.queryKeys({ prefix })) keys.push(key.toString())
  return keys
}

async function cidOf(text: string): Promise<CID> {
  return CID.createV1(0x55, await sha256.digest(new TextEncoder().encode(text)))
}

describe('net: resource limits against hostile peers', function () {
  this.timeout(60_000)
  let cluster: Cluster | undefined
  const bare: Libp2p[] = []

  afterEach(async () => {
    await Promise.all(bare.splice(0).map((peer) => Promise.resolve(peer.stop()).catch(() => {})))
    await cluster?.stop()
    cluster = undefined
  })

  it('resets a peer’s DHT streams beyond the per-connection bound and keeps serving an honest peer', async () => {
    cluster = await startNodes(2)
    const [victim, honest] = cluster.nodes as [NetNode, NetNode]
    const attacker = await hostilePeer()
    bare.push(attacker)
    const connection = await attacker.dial(victim.multiaddrs()[0] as NonNullable<ReturnType<NetNode['multiaddrs']>[0]>)
    // Once identify has run, the victim is past connection setup (streams opened before it
    // attaches its listener are yamux's separate early-stream bound).
    await waitFor(
      async () => (await attacker.peerStore.get(victim.peerId)).protocols.includes(dhtProtocol(CHAIN_ID)),
      10_000,
      'identify',
    )

    const attempts = MAX_DHT_STREAMS_PER_CONNECTION + 8
    const streams: Stream[] = []
    const opened = await Promise.allSettled(
      Array.from({ length: attempts }, () =>
        connection.newStream(dhtProtocol(CHAIN_ID), {
          maxOutboundStreams: 1000,
          signal: deadlineSignal(clock, 5000, 'a test step'),
        }),
      ),
    )
    for (const result of opened) if (result.status === 'fulfilled') streams.push(result.value)

    const inboundDht = (): number =>
      victim.libp2p
        .getConnections(attacker.peerId)
        .flatMap((c) => c.streams)
        .filter((s) => s.direction === 'inbound' && s.protocol === dhtProtocol(CHAIN_ID)).length
    // The surplus is reset by the victim once negotiated; the attacker sees those streams end.
    await waitFor(
      () => streams.filter((s) => s.status === 'open').length <= MAX_DHT_STREAMS_PER_CONNECTION,
      5000,
      'surplus DHT streams reset',
    )
    assert.ok(inboundDht() <= MAX_DHT_STREAMS_PER_CONNECTION, `victim holds ${inboundDht()} inbound DHT streams`)
    assert.ok(
      streams.filter((s) => s.status === 'open').length >= 1,
      'streams within the bound stay open (the bound, not a blanket refusal)',
    )

    // An honest peer is still served over the DHT: its provider record reaches the victim.
    await connect(honest, victim)
    const root = await cidOf('honest content')
    await waitFor(async () => {
      await honest.content.announce(root, { signal: deadlineSignal(clock, 2000, 'a test step') })
      return (await storedKeys(victim, '/dht/provider')).some((k) => k.endsWith(honest.peerId.toString()))
    }, 20_000)
  })

  it('refuses a DHT record a peer PUTs and stores nothing of it', async () => {
    cluster = await startNodes(1)
    const [victim] = cluster.nodes as [NetNode]
    const attacker = await hostileDhtPeer()
    bare.push(attacker)
    await attacker.dial(victim.multiaddrs()[0] as NonNullable<ReturnType<NetNode['multiaddrs']>[0]>)
    const dht = attacker.services.dht
    await waitFor(
      async () => {
        for await (const _ of dht.getClosestPeers(new TextEncoder().encode('x'))) {
        }
        return (dht as unknown as { routingTable: { size: number } }).routingTable.size > 0
      },
      10_000,
      'victim in the attacker’s routing table',
    )

    // A public-key record: the one kind kad-dht stores by default, one per key pair generated.
    const junk = await generateKeyPair('Ed25519')
    const key = new Uint8Array([...new TextEncoder().encode('/pk/'), ...junk.publicKey.toMultihash().bytes])
    let sentToVictim = false
    for await (const event of dht.put(key, publicKeyToProtobuf(junk.publicKey), {
      signal: deadlineSignal(clock, 10_000, 'a test step'),
    })) {
      if (event.name === 'SEND_QUERY' && event.to.equals(victim.peerId)) sentToVictim = true
    }
    assert.ok(sentToVictim, 'the PUT reached the victim')
    assert.deepEqual(await storedKeys(victim, '/dht/record'), [], 'nothing stored under the DHT record prefix')
  })

  it('bounds the provider records one peer can make a node store', async () => {
    cluster = await startNodes(3, (i) => (i === 0 ? { limits: { maxDhtProviderRecordsPerPeer: 3 } } : {}))
    const [victim, attacker, honest] = cluster.nodes as [NetNode, NetNode, NetNode]
    await connect(attacker, victim)
    await connect(honest, victim)
    const fromPeer = async (peer: NetNode): Promise<number> =>
      (await storedKeys(victim, '/dht/provider')).filter((k) => k.endsWith(peer.peerId.toString())).length

    // Wait until announcements reach the victim, then flood it.
    const first = await cidOf('flood 0')
    await waitFor(async () => {
      await attacker.content.announce(first, { signal: deadlineSignal(clock, 2000, 'a test step') })
      return (await fromPeer(attacker)) === 1
    }, 20_000)
    for (let i = 1; i < 10; i++) await attacker.content.announce(await cidOf(`flood ${i}`))
    assert.equal(await fromPeer(attacker), 3, 'the flooding peer stores no more than its bound')

    // Another peer's records are still taken.
    const root = await cidOf('honest root')
    await waitFor(async () => {
      await honest.content.announce(root, { signal: deadlineSignal(clock, 2000, 'a test step') })
      return (await fromPeer(honest)) === 1
    }, 20_000)
  })

  it('refuses connections beyond maxConnections', async () => {
    cluster = await startNodes(1, () => ({ limits: { maxConnections: 2 } }))
    const [victim] = cluster.nodes as [NetNode]
    const peers = await Promise.all([hostilePeer(), hostilePeer(), hostilePeer(), hostilePeer()])
    bare.push(...peers)
    const address = victim.multiaddrs()[0] as NonNullable<ReturnType<NetNode['multiaddrs']>[0]>
    // One at a time, so the refusal is the connection count's and not the pending-upgrade bound's.
    const dials: PromiseSettledResult<unknown>[] = []
    for (const peer of peers)
      dials.push(
        ...(await Promise.allSettled([peer.dial(address, { signal: deadlineSignal(clock, 5000, 'a test step') })])),
      )
    await sleep(clock, 500)
    assert.ok(
      dials.some((d) => d.status === 'rejected'),
      'a dial over the bound fails',
    )
    const held = victim.libp2p.getConnections().length
    assert.ok(held <= 2, `victim holds ${held} connections`)
    const connected = peers.filter((peer) => peer.getConnections(victim.peerId).some((c) => c.status === 'open'))
    assert.ok(connected.length <= 2, `${connected.length} peers still connected`)
    assert.ok(connected.length >= 1, 'connections within the bound are kept')
  })
})
