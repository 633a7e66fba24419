/**
 * The subnet topics over real libp2p: subnet directories on loopback nodes (announcements
 * reach the subnet and no other; a message of the wrong shape is REJECTed and scores its
 * sender down), and whole nodes: a miner that starts after the others fetches its layer range
 * from a subnet peer, the validators holding none of it.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID as ContentId } from 'multiformats/cid'
import { writeNodeKey } from '../../../src/actors/identity.ts'
import { localNetworkGenesis, type NodeSpec, nodeSeed } from '../../../src/actors/local-network.ts'
import { type R3mesNode, startNode } from '../../../src/actors/node.ts'
import { peerDirectory } from '../../../src/actors/services/peer-directory.ts'
import { SubnetDirectory } from '../../../src/actors/subnet/subnet-directory.ts'
import type { ChainReader } from '../../../src/chain/reader.ts'
import { cidOf as rawCid } from '../../../src/codec/cid.ts'
import { deriveKey } from '../../../src/codec/prng.ts'
import { saveBackbone } from '../../../src/ml/artifacts.ts'
import { modelConfigs } from '../../../src/ml/config.ts'
import { initStageWeights } from '../../../src/ml/weights.ts'
import { encodeMessage } from '../../../src/net/codec.ts'
import { createLogger } from '../../../src/runtime/logger.ts'
import { SeededRandom } from '../../../src/runtime/random.ts'
import { at, type Cluster, clock, connect, startNodes, waitFor } from '../../net/helpers.ts'

const CID = (i: number): string => rawCid(new TextEncoder().encode(`content ${i}`)).toString()
const silent = createLogger({ name: 'test', level: 'silent', clock })

/** A chain with no stakers, at window 3: every author is an unstaked peer. */
const emptyChain = {
  staker: () => null,
  stakers: () => [],
  currentWindow: () => ({ id: 3 }),
} as unknown as ChainReader

describe('actors/subnet: subnet topics over real connections', function () {
  this.timeout(120_000)

  describe('subnet directories on four nodes (0, 1 in subnet 0; 2, 3 in subnet 1)', () => {
    let cluster: Cluster
    let directories: SubnetDirectory[] = []
    before(async () => {
      cluster = await startNodes(4)
      const { nodes } = cluster
      for (let i = 0; i < nodes.length; i++)
        for (let j = i + 1; j < nodes.length; j++) await connect(at(nodes, i), at(nodes, j))
      directories = nodes.map(
        (node, i) =>
          new SubnetDirectory(
            { subnets: [i < 2 ? 0 : 1] },
            {
              gossip: node.gossip,
              chain: emptyChain,
              peers: peerDirectory({ chain: emptyChain }),
              self: node.peerId,
              logger: silent,
            },
          ),
      )
      for (const directory of directories) directory.start()
      await waitFor(() => at(nodes, 0).gossip.meshPeers('holdings', 0).length === 1, 10_000, 'subnet 0 mesh')
      await waitFor(() => at(nodes, 2).gossip.meshPeers('holdings', 1).length === 1, 10_000, 'subnet 1 mesh')
    })
    after(async () => {
      for (const directory of directories) directory.stop()
      await cluster?.stop()
    })

    it("a node's announcements reach its subnet's nodes and no other subnet's", async () => {
      const [n0, n1, n2, n3] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2), at(cluster.nodes, 3)]
      const [d0, d1, d2, d3] = [at(directories, 0), at(directories, 1), at(directories, 2), at(directories, 3)]
      await d0.announce(0, [CID(1), CID(2)])
      await d0.announcePresence(0, { window: 3, roles: ['subnet-peer'], range: CID(3), adapter: null })
      await d2.announce(1, [CID(4)])
      await waitFor(
        () => d1.holdersOf(CID(2)).length === 1 && d1.subnetPeers(0).length === 1,
        10_000,
        'subnet 0 delivery',
      )
      await waitFor(() => d3.holdersOf(CID(4)).length === 1, 10_000, 'subnet 1 delivery')
      assert.equal(d1.holdersOf(CID(1))[0]?.toString(), n0.peerId.toString())
      assert.equal(d1.holdersOf(CID(3))[0]?.toString(), n0.peerId.toString(), 'the range named in presence')
      assert.equal(d3.holdersOf(CID(4))[0]?.toString(), n2.peerId.toString())
      for (const other of [d2, d3]) {
        assert.equal(other.holdersOf(CID(1)).length, 0)
        assert.equal(other.holderHints, other === d3 ? 1 : 0)
      }
      assert.equal(d1.holdersOf(CID(4)).length, 0)
      assert.equal(n3.gossip.stats.reject + n1.gossip.stats.reject, 0)
    })

    it('a message of the wrong shape is REJECTed and its sender scored down', async () => {
      const [n0, n1] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
      const rejectsBefore = n1.gossip.stats.reject
      assert.ok(n1.gossip.score(n0.peerId.toString()) >= 0)
      // A presence with a number for its roles, published below the typed router, as a
      // misbehaving peer would.
      const bad = encodeMessage({ peer: n0.peerId.toString(), window: 3, roles: 7, range: null, adapter: null }, 1024)
      await n0.libp2p.services.pubsub.publish(n0.gossip.topic('presence', 0), bad)
      await waitFor(() => n1.gossip.stats.reject === rejectsBefore + 1, 10_000, 'the REJECT')
      await waitFor(() => n1.gossip.score(n0.peerId.toString()) < 0, 10_000, "node 0's score at node 1 to go negative")
      // A well-formed one naming another peer than its signer is a REJECT too.
      const forged = { peer: at(cluster.nodes, 1).peerId.toString(), window: 3, cids: [CID(9)] }
      await n0.libp2p.services.pubsub.publish(n0.gossip.topic('holdings', 0), encodeMessage(forged, 8192))
      await waitFor(() => n1.gossip.stats.reject === rejectsBefore + 2, 10_000, 'the forged holdings REJECTed')
      assert.equal(at(directories, 1).holdersOf(CID(9)).length, 0)
    })
  })

  describe('a miner that joins late', () => {
    let root = ''
    const nodes: R3mesNode[] = []
    after(async () => {
      await Promise.all(nodes.map((n) => n.stop().catch(() => {})))
      if (root !== '') await rm(root, { recursive: true, force: true, maxRetries: 5 })
    })

    it('fetches its layer range from a subnet peer while no validator holds it', async () => {
      root = await mkdtemp(join(tmpdir(), 'r3mes-subnet-'))
      const config = modelConfigs.micro as (typeof modelConfigs)['micro']
      const modelDir = join(root, 'model')
      saveBackbone(modelDir, initStageWeights(config, 0, config.nLayers, deriveKey('subnet', 'backbone')))
      const chainId = 'r3mes-subnet'
      const specs: NodeSpec[] = [
        { name: 'validator-0', roles: ['validator'] },
        { name: 'validator-1', roles: ['validator'] },
        { name: 'subnet-peer-0', roles: ['subnet-peer'], subnet: 0 },
        { name: 'miner-0-0', roles: ['miner'], subnet: 0 },
      ]
      const genesis = localNetworkGenesis({
        chainId,
        seed: 'subnet',
        modelDir,
        subnets: [
          [0, 1],
          [1, config.nLayers],
        ],
        nodes: specs,
        params: { blockTimeMs: 500, windowBlocks: 4 },
        genesisTimeMs: clock.nowMs(),
      })
      const start = async (spec: NodeSpec, i: number): Promise<R3mesNode> => {
        const home = join(root, spec.name)
        writeNodeKey(home, nodeSeed(chainId, 'subnet', spec.name))
        const node = await startNode(
          {
            home,
            genesis,
            roles: spec.roles,
            backend: 'ts',
            lan: true,
            gossip: { heartbeatMs: 200, meshDegree: 4 },
            ...(spec.subnet === undefined ? {} : { subnet: spec.subnet }),
            // Only the subnet peer has the backbone: the validators start without it.
            ...(spec.roles.includes('subnet-peer') ? { modelDir } : {}),
          },
          { clock, random: new SeededRandom(i + 1), logger: silent },
        )
        for (const other of nodes) await other.net.libp2p.dial(node.net.multiaddrs()[0] as never)
        nodes.push(node)
        return node
      }
      const [v0, v1, seeder] = [
        await start(specs[0] as NodeSpec, 0),
        await start(specs[1] as NodeSpec, 1),
        await start(specs[2] as NodeSpec, 2),
      ]
      const peerMachine = seeder.role('subnet-peer')
      assert.ok(peerMachine !== undefined, 'the subnet peer runs its machine')
      await waitFor(() => peerMachine.getSnapshot().matches('seeding'), 60_000, 'the subnet peer seeding')
      assert.deepEqual(seeder.subnets.subnets, [0])
      assert.deepEqual(v0.subnets.subnets, [0, 1], 'a validator joins every subnet')

      const miner = await start(specs[3] as NodeSpec, 3)
      assert.deepEqual(miner.subnets.subnets, [0, 1], 'a miner joins its subnet and the ones beside it')
      const rangeCid = miner.model.rangeCid(0)
      // The subnet peer announces its holdings again when a window opens: the late miner hears it.
      const seederId = seeder.net.peerId.toString()
      await waitFor(
        () => miner.subnets.holdersOf(rangeCid).some((p) => p.toString() === seederId) === true,
        60_000,
        "the subnet peer's holdings at the late miner",
      )
      // The miner's own role may have asked for its range when a window opened, before the
      // announcement arrived, and found no holder: a failed fetch is forgotten, and the next
      // one asks the announced holder (what the miner's next window does).
      const stage = await miner.model.stageWeights(0).catch(() => miner.model.stageWeights(0))
      assert.equal(stage.first, 0)
      assert.ok(miner.metrics.backboneBytes > 0)
      assert.ok(await miner.net.content.has(ContentId.parse(rangeCid)))
      // Nobody but the subnet peer could have served it: the validators never held the range.
      for (const v of [v0, v1]) assert.equal(await v.net.content.has(ContentId.parse(rangeCid)), false)
    })
  })
})
