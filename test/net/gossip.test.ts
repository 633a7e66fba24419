import { strict as assert } from 'node:assert'
import { GossipValidationError } from '../../src/net/errors.ts'
import type { HoldingsGossip } from '../../src/net/topics.ts'
import { sleep } from '../../src/runtime/clock.ts'
import { at, type Cluster, clock, connect, startNodes, waitFor } from './helpers.ts'

const CID_A = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

describe('net: gossip validation and subnets', function () {
  this.timeout(60_000)

  describe('subnet topics', () => {
    let cluster: Cluster
    after(async () => cluster?.stop())

    it('deliver to the subnet’s members and to no one else', async () => {
      // Nodes 0-2 are in subnet 0, nodes 3-5 in subnet 1; all connected in one ring.
      cluster = await startNodes(6)
      const { nodes } = cluster
      for (let i = 0; i < nodes.length; i++) await connect(at(nodes, i), at(nodes, i + 1))
      const got = nodes.map(() => [] as HoldingsGossip[])
      nodes.forEach((node, i) => {
        node.gossip.joinSubnet(i < 3 ? 0 : 1, {
          presence: { handle: () => {} },
          holdings: { handle: (payload) => at(got, i).push(payload) },
        })
      })
      // Node 0's subnet-0 peers are 1 and (through 1) 2; wait until gossip knows them.
      await waitFor(() => at(nodes, 0).gossip.meshPeers('holdings', 0).length >= 1, 10_000, 'subnet 0 mesh')
      await waitFor(() => at(nodes, 2).gossip.meshPeers('holdings', 0).length >= 1, 10_000, 'subnet 0 mesh at 2')
      const sent = { peer: at(nodes, 0).peerId.toString(), window: 7, cids: [CID_A] }
      await at(nodes, 0).gossip.publish('holdings', sent, 0)
      await waitFor(() => at(got, 1).length === 1 && at(got, 2).length === 1, 10_000, 'subnet delivery')
      assert.deepEqual(at(got, 2)[0], sent)
      for (const i of [3, 4, 5]) {
        assert.equal(at(got, i).length, 0, `node ${i} (subnet 1) got a subnet-0 message`)
        assert.ok(!at(nodes, i).libp2p.services.pubsub.getMeshPeers(at(nodes, 0).gossip.topic('holdings', 0)).length)
      }
      assert.equal(at(nodes, 0).gossip.topic('holdings', 0), '/r3mes/testchain/subnet/0/holdings/1')
    })
  })

  describe('a line A - B - C', () => {
    let cluster: Cluster
    after(async () => cluster?.stop())

    it('does not forward a REJECTed message, and B scores A down and prunes it', async () => {
      cluster = await startNodes(3)
      const [a, b, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
      await connect(a, b)
      await connect(b, c)
      const seenByC: HoldingsGossip[] = []
      const seenByB: HoldingsGossip[] = []
      a.gossip.subscribe('holdings', { handle: () => {} }, 0)
      // B's own rule: a batch names at least one CID (a semantic check beyond the shape).
      b.gossip.subscribe(
        'holdings',
        {
          validate: (payload) => {
            if (payload.cids.length === 0) throw new GossipValidationError('reject', 'no CIDs')
          },
          handle: (payload) => seenByB.push(payload),
        },
        0,
      )
      c.gossip.subscribe('holdings', { handle: (payload) => seenByC.push(payload) }, 0)
      const topic = a.gossip.topic('holdings', 0)
      await waitFor(() => a.gossip.meshPeers('holdings', 0).length === 1, 10_000, 'A in mesh')
      await waitFor(() => c.gossip.meshPeers('holdings', 0).length === 1, 10_000, 'C in mesh')

      // A valid message goes A → B → C.
      await a.gossip.publish('holdings', { peer: a.peerId.toString(), window: 1, cids: [CID_A] }, 0)
      await waitFor(() => seenByC.length === 1, 10_000, 'valid message at C')
      const scoreBefore = b.gossip.score(a.peerId.toString())
      assert.ok(scoreBefore >= 0, `A's score starts non-negative, got ${scoreBefore}`)

      // Two invalid messages: one semantic (no CIDs), one that is not even msgpack,
      // published below our codec, as a misbehaving peer would.
      await a.gossip.publish('holdings', { peer: a.peerId.toString(), window: 2, cids: [] }, 0)
      await a.libp2p.services.pubsub.publish(topic, new Uint8Array([0xc1, 0xff, 0x00]))
      await waitFor(() => b.gossip.stats.reject === 2, 10_000, 'B rejects both')
      assert.equal(seenByB.length, 1)
      // Scores are cached between heartbeats; the penalty shows at the next refresh.
      await waitFor(() => b.gossip.score(a.peerId.toString()) < 0, 5_000, "A's score at B to go negative")
      // B prunes A from its mesh at the next heartbeats.
      await waitFor(() => !b.gossip.meshPeers('holdings', 0).includes(a.peerId.toString()), 10_000, 'A pruned')
      // Nothing more reached C: the rejected messages were not forwarded.
      await sleep(clock, 300)
      assert.equal(seenByC.length, 1)
      assert.equal(c.gossip.stats.reject, 0)
      assert.equal(c.gossip.stats.accept, 1)
    })
  })

  describe('bounded validation queue', () => {
    let cluster: Cluster
    after(async () => cluster?.stop())

    it('IGNOREs what arrives while the queue is full, without blaming the sender', async () => {
      cluster = await startNodes(2, (i) =>
        i === 1 ? { gossip: { heartbeatMs: 100, queueLengths: { holdings: 2 } } } : {},
      )
      const [a, b] = [at(cluster.nodes, 0), at(cluster.nodes, 1)]
      await connect(a, b)
      let release: () => void = () => {}
      const gate = new Promise<void>((resolve) => {
        release = resolve
      })
      const accepted: number[] = []
      a.gossip.subscribe('holdings', { handle: () => {} }, 0)
      // B's validator is slow: it holds every message until the gate opens.
      b.gossip.subscribe('holdings', { validate: () => gate, handle: (p) => accepted.push(p.window) }, 0)
      await waitFor(() => a.gossip.meshPeers('holdings', 0).length === 1, 10_000, 'mesh')
      for (let window = 0; window < 5; window++)
        await a.gossip.publish('holdings', { peer: a.peerId.toString(), window, cids: [CID_A] }, 0)
      await waitFor(() => b.gossip.stats.ignore === 3, 10_000, 'three IGNOREs')
      release()
      await waitFor(() => accepted.length === 2, 10_000, 'the queued two accepted')
      assert.equal(new Set(accepted).size, 2)
      assert.equal(b.gossip.stats.reject, 0)
      assert.ok(b.gossip.score(a.peerId.toString()) >= 0)
    })
  })

  describe('unsigned gossip (StrictNoSign, content message ids)', () => {
    let cluster: Cluster
    after(async () => cluster?.stop())

    it('delivers through a forwarder, names the forwarder as sender, and dedupes by content', async () => {
      cluster = await startNodes(3, () => ({ gossip: { heartbeatMs: 100, meshDegree: 4, signed: false } }))
      const [a, b, c] = [at(cluster.nodes, 0), at(cluster.nodes, 1), at(cluster.nodes, 2)]
      await connect(a, b)
      await connect(b, c)
      const seen: { payload: HoldingsGossip; from: string }[] = []
      for (const node of [a, b]) node.gossip.subscribe('holdings', { handle: () => {} }, 2)
      c.gossip.subscribe('holdings', { handle: (payload, context) => seen.push({ payload, from: context.from }) }, 2)
      await waitFor(() => a.gossip.meshPeers('holdings', 2).length === 1, 10_000, 'A in mesh')
      await waitFor(() => c.gossip.meshPeers('holdings', 2).length === 1, 10_000, 'C in mesh')
      const message = { peer: a.peerId.toString(), window: 4, cids: [CID_A] }
      await a.gossip.publish('holdings', message, 2)
      await waitFor(() => seen.length === 1, 10_000, 'delivery to C')
      assert.equal(at(seen, 0).from, b.peerId.toString())
      // The same payload again (from anyone) has the same id and is not delivered twice.
      await b.gossip.publish('holdings', message, 2)
      await sleep(clock, 300)
      assert.equal(seen.length, 1)
    })
  })
})
