import { strict as assert } from 'node:assert'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { activationProtocol } from '../../src/net/activation-stream.ts'
import { IDENTITY_FILE } from '../../src/net/identity.ts'
import { createNetNode, dhtProtocol, type NetNode } from '../../src/net/node.ts'
import { deadlineSignal } from '../../src/runtime/clock.ts'
import { CorruptDataError, InvalidArgumentError } from '../../src/runtime/errors.ts'
import { at, CHAIN_ID, type Cluster, clock, components, randomBytes, startNodes, waitFor } from './helpers.ts'

/** The DHT's routing table is not on its published interface; tests read it anyway. */
function routingTableSize(node: NetNode): number {
  return (node.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
}

describe('net: node factory', function () {
  this.timeout(60_000)

  it('keeps its identity in the home folder across restarts and listens where configured', async () => {
    const home = await mkdtemp(join(tmpdir(), 'r3mes-net-id-'))
    try {
      const first = await createNetNode(
        { chainId: CHAIN_ID, homeDir: home, listen: ['/ip4/127.0.0.1/tcp/0'] },
        components('id'),
      )
      const id = first.peerId.toString()
      const addrs = first.multiaddrs().map((a) => a.toString())
      assert.ok(addrs.length > 0 && addrs.every((a) => a.startsWith('/ip4/127.0.0.1/tcp/')), addrs.join())
      await first.stop()
      const info = await stat(join(home, IDENTITY_FILE))
      assert.equal(info.mode & 0o777, 0o600)

      const second = await createNetNode({ chainId: CHAIN_ID, homeDir: home }, components('id'))
      assert.equal(second.peerId.toString(), id)
      await second.stop()

      // A damaged key file is an error naming the file, never a silent new identity.
      const key = await readFile(join(home, IDENTITY_FILE))
      await writeFile(join(home, IDENTITY_FILE), key.subarray(0, 5))
      await assert.rejects(createNetNode({ chainId: CHAIN_ID, homeDir: home }, components('id')), CorruptDataError)
    } finally {
      await rm(home, { recursive: true, force: true })
    }
  })

  it('keeps the peer store in memory: a restarted node has forgotten its peers, not its pins', async () => {
    const seeds = await startNodes(1)
    const home = await mkdtemp(join(tmpdir(), 'r3mes-net-peers-'))
    try {
      const seed = at(seeds.nodes, 0)
      const bootstrap = [`${seed.multiaddrs()[0]?.toString()}`]
      const first = await createNetNode({ chainId: CHAIN_ID, homeDir: home, lan: true, bootstrap }, components('p'))
      let cid: Awaited<ReturnType<NetNode['content']['put']>>
      try {
        await waitFor(() => first.libp2p.getConnections(seed.peerId).length > 0, 10_000, 'bootstrapped')
        // Identify has stored what the seed runs: the record the peer store keeps.
        await waitFor(
          async () => (await first.libp2p.peerStore.get(seed.peerId)).protocols.includes(dhtProtocol(CHAIN_ID)),
          10_000,
          'the seed identified',
        )
        cid = await first.content.put(randomBytes(1000, 7), { pin: true })
      } finally {
        await first.stop()
      }
      // Nothing of it reached the disk; the pin did.
      const onDisk = await readdir(join(home, 'datastore'), { recursive: true })
      assert.ok(!onDisk.some((path) => path === 'peers' || path.startsWith('peers/')), onDisk.join(', '))
      assert.ok(
        onDisk.some((path) => path.startsWith('pin/')),
        onDisk.join(', '),
      )

      // Started again without a bootstrap list, it knows no peer; started with one, it rejoins.
      const alone = await createNetNode({ chainId: CHAIN_ID, homeDir: home, lan: true }, components('p'))
      try {
        assert.deepEqual(await alone.libp2p.peerStore.all(), [])
        assert.equal(await alone.libp2p.peerStore.has(seed.peerId), false)
        assert.equal(await alone.content.isPinned(cid), true)
      } finally {
        await alone.stop()
      }
      const again = await createNetNode({ chainId: CHAIN_ID, homeDir: home, lan: true, bootstrap }, components('p'))
      try {
        await waitFor(() => again.libp2p.getConnections(seed.peerId).length > 0, 10_000, 'bootstrapped again')
      } finally {
        await again.stop()
      }
    } finally {
      await seeds.stop()
      await rm(home, { recursive: true, force: true })
    }
  })

  it('refuses a bad chain id', async () => {
    await assert.rejects(
      createNetNode({ chainId: 'Bad/Chain', homeDir: join(tmpdir(), 'unused') }, components('x')),
      InvalidArgumentError,
    )
  })

  describe('bootstrap and the per-chain DHT', () => {
    let cluster: Cluster
    after(async () => cluster?.stop())

    it('joins through bootstrap addresses and finds a third peer through the DHT', async () => {
      // Node 0 is the bootstrap peer; nodes 1 and 2 know only its address.
      cluster = await startNodes(1)
      const seed = at(cluster.nodes, 0)
      const seedAddr = `${seed.multiaddrs()[0]?.toString()}`
      const more = await startNodes(2, () => ({ bootstrap: [seedAddr] }))
      cluster.nodes.push(...more.nodes)
      cluster.homes.push(...more.homes)
      const [a, b] = [at(more.nodes, 0), at(more.nodes, 1)]
      await waitFor(() => a.libp2p.getConnections(seed.peerId).length > 0, 10_000, 'a bootstrapped')
      await waitFor(() => b.libp2p.getConnections(seed.peerId).length > 0, 10_000, 'b bootstrapped')
      // The DHT speaks the chain's own protocol, not the public IPFS one.
      assert.ok(seed.libp2p.getProtocols().includes(dhtProtocol(CHAIN_ID)))
      assert.ok(!seed.libp2p.getProtocols().includes('/ipfs/kad/1.0.0'))
      assert.ok(seed.libp2p.getProtocols().includes(activationProtocol(CHAIN_ID)))
      assert.equal(seed.libp2p.services.dht.getMode(), 'server')
      // Routing tables fill asynchronously after identify.
      await waitFor(() => routingTableSize(seed) === 2 && routingTableSize(b) >= 1, 10_000, 'routing tables')
      const found = await b.libp2p.peerRouting.findPeer(a.peerId, {
        signal: deadlineSignal(clock, 10_000, 'finding a peer'),
      })
      assert.equal(found.id.toString(), a.peerId.toString())
      assert.ok(found.multiaddrs.length > 0)
      await b.libp2p.dial(a.peerId)
      assert.ok(b.libp2p.getConnections(a.peerId).length > 0)
    })
  })
})
