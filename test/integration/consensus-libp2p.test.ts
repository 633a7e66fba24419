/**
 * Consensus over the real network layer: 4 validators, each its own libp2p node on loopback
 * TCP, exchange proposals and votes on the consensus flood channel, commit the same blocks; one is killed
 * (its libp2p node stopped) and restarted on the same home and stores, and catches up.
 */
import assert from 'node:assert/strict'
import { createActor } from 'xstate'
import { type ConsensusLink, consensusLink } from '../../src/actors/consensus-link.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { hashBlock } from '../../src/consensus/block.ts'
import { consensusMachine } from '../../src/consensus/consensus-actor.ts'
import type { NodeComponents } from '../../src/consensus/node-io.ts'
import { createNetNode, type NetNode } from '../../src/net/node.ts'
import { makeChain, memoryComponents } from '../consensus/helpers/fixtures.ts'
import { CHAIN_ID, type Cluster, clock, components, connect, startNodes, waitFor } from '../net/helpers.ts'

describe('consensus over libp2p (loopback TCP)', function () {
  this.timeout(120_000)
  let cluster: Cluster | undefined
  const extra: NetNode[] = []
  after(async () => {
    await Promise.all(extra.map((n) => n.stop().catch(() => {})))
    await cluster?.stop()
  })

  it('4 validators commit the same blocks; one killed and restarted catches up', async () => {
    cluster = await startNodes(4)
    const nodes = cluster.nodes
    for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) await connect(nodes[i] as NetNode, nodes[j] as NetNode)

    const chain = makeChain(4, undefined, CHAIN_ID)
    const commits = Array.from({ length: 4 }, () => new Map<number, string>())
    const parts: NodeComponents[] = []
    const links: ConsensusLink[] = []
    const actors = nodes.map((node, i) => {
      const link = consensusLink({ channel: node.consensus, logger: components(`v${i}`).logger })
      links.push(link)
      const { components: c } = memoryComponents(chain, i, clock, link, (cb) =>
        commits[i]?.set(cb.block.header.height, toHex(hashBlock(cb.block))),
      )
      parts.push(c)
      return createActor(consensusMachine, { input: { components: c, inbox: link, gossipIntervalMs: 200 } }).start()
    })
    actors[2]?.send({ type: 'tx', tx: new TextEncoder().encode('net=libp2p') })
    const heights = (): number[] => commits.map((m) => m.size)
    await waitFor(() => Math.min(...heights()) >= 4, 60_000, `4 blocks on every validator (at ${heights()})`)
    for (let h = 1; h <= 4; h++) assert.equal(new Set(commits.map((m) => m.get(h))).size, 1, `agreement at height ${h}`)

    // Kill validator 3: its actor and its libp2p node stop, as a crashed process would.
    actors[3]?.send({ type: 'stop' })
    links[3]?.close()
    await nodes[3]?.stop()
    const stoppedAt = commits[3]?.size ?? 0
    const others = (): number => Math.min(...heights().slice(0, 3))
    await waitFor(() => others() >= stoppedAt + 3, 60_000, 'three validators keep committing without the fourth')

    // Restart it on the same home (same peer id) and the same stores.
    const home = cluster.homes[3] as string
    const revived = await createNetNode(
      { chainId: CHAIN_ID, homeDir: home, lan: true, gossip: { heartbeatMs: 100, meshDegree: 4 } },
      components('v3-restarted', 9),
    )
    extra.push(revived)
    assert.equal(revived.peerId.toString(), nodes[3]?.peerId.toString(), 'the identity survives the restart')
    for (const peer of nodes.slice(0, 3)) await connect(revived, peer)
    const link = consensusLink({ channel: revived.consensus, logger: components('v3b').logger })
    const restarted = createActor(consensusMachine, {
      input: { components: { ...(parts[3] as NodeComponents), transport: link }, inbox: link, gossipIntervalMs: 200 },
    }).start()
    const target = others()
    await waitFor(() => (commits[3]?.size ?? 0) >= target + 1, 60_000, `the restarted validator to pass ${target}`)
    for (const [h, hash] of commits[3] ?? []) assert.equal(hash, commits[0]?.get(h), `restarted node agrees at ${h}`)
    for (const a of [...actors, restarted]) a.stop()
    link.close()
  })
})
