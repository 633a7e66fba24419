/**
 * Consensus over the real network layer: four validators, each with its own libp2p node (TCP
 * on loopback, noise, yamux, gossipsub), in one process. The lower bound of a commit is three
 * one-way gossip delays (propose → prevote → precommit) measured on the same connections in
 * the same run: half the median round trip of a gossip ping-pong between two of the four
 * nodes, just before consensus starts on them.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { consensusLink } from '../src/actors/consensus-link.ts'
import { createNetNode, type NetNode } from '../src/net/node.ts'
import { createRuntimeComponents } from '../src/runtime/components.ts'
import { SystemClock } from '../src/runtime/system-clock.ts'
import { type Link, median, type Net, startNetwork, until } from './consensus.ts'

const CHAIN_ID = 'r3mes-bench'

export interface Libp2pNetwork {
  readonly nodes: NetNode[]
  readonly links: Link[]
  stop(): Promise<void>
}

export async function startLibp2pNodes(n: number, signed = true): Promise<Libp2pNetwork> {
  const homes = Array.from({ length: n }, (_, i) => mkdtempSync(join(tmpdir(), `r3mes-bench-net-${i}-`)))
  const nodes: NetNode[] = []
  for (let i = 0; i < n; i++) {
    const components = createRuntimeComponents({ name: `bench-v${i}`, seed: i + 1, logLevel: 'silent' })
    nodes.push(
      await createNetNode(
        {
          chainId: CHAIN_ID,
          homeDir: homes[i] as string,
          gossip: { heartbeatMs: 100, meshDegree: 3, signed, skipDuplicateSignatureChecks: true },
        },
        components,
      ),
    )
  }
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++)
      await (nodes[i] as NetNode).libp2p.dial((nodes[j] as NetNode).multiaddrs()[0] as never)
  }
  const links = nodes.map((node, i) =>
    consensusLink({
      gossip: node.gossip,
      selfPeerId: node.peerId.toString(),
      signedGossip: signed,
      logger: createRuntimeComponents({ name: `link-${i}`, logLevel: 'silent' }).logger,
    }),
  )
  const clock = new SystemClock()
  await until(() => nodes.every((node) => node.gossip.meshPeers('consensus').length >= n - 1), 15_000, clock)
  return {
    nodes,
    links,
    async stop() {
      for (const link of links) link.close()
      await Promise.all(nodes.map((node) => node.stop().catch(() => {})))
      for (const home of homes) rmSync(home, { recursive: true, force: true })
    },
  }
}

/** Half the median round trip of a gossip ping-pong between nodes 0 and 1 (on the tx topic). */
export async function gossipOneWayDelayMs(net: Libp2pNetwork, samples = 100): Promise<number> {
  const clock = new SystemClock()
  const [a, b] = net.nodes as [NetNode, NetNode]
  let received = 0
  // The echo differs from the ping: unsigned gossip names a message by its bytes, so an identical
  // echo would be dropped as a duplicate.
  const leaveB = b.gossip.subscribe('tx', {
    handle: (p) => void b.gossip.publish('tx', { tx: new Uint8Array([...p.tx, 0x21]) }),
  })
  const leaveA = a.gossip.subscribe('tx', {
    handle: () => {
      received++
    },
  })
  await until(() => a.gossip.meshPeers('tx').length >= 1 && b.gossip.meshPeers('tx').length >= 1, 10_000, clock)
  const rtts: number[] = []
  for (let i = 0; i < samples; i++) {
    const before = received
    const start = clock.monotonicMs()
    await a.gossip.publish('tx', { tx: new TextEncoder().encode(`ping ${i}`) })
    if (await until(() => received > before, 2_000, clock)) rtts.push(clock.monotonicMs() - start)
  }
  leaveA()
  leaveB()
  return median(rtts) / 2
}

/**
 * A consensus network over libp2p links, plus the nodes to stop afterwards, and the one-way
 * gossip delay measured on those very connections before consensus starts.
 */
export async function libp2pConsensusNetwork(
  signed = true,
): Promise<{ net: Net; network: Libp2pNetwork; oneWayDelayMs: number }> {
  const network = await startLibp2pNodes(4, signed)
  const oneWayDelayMs = await gossipOneWayDelayMs(network)
  // A proposal travels as one gossip message (capped at 1 MiB), so blocks stay well below it.
  const net = startNetwork((i) => network.links[i] as Link, false, 512 * 1024)
  return { net, network, oneWayDelayMs }
}
