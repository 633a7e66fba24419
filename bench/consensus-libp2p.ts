/**
 * Consensus over the real network layer: four validators, each with its own libp2p node (TCP
 * on loopback, noise, yamux) carrying consensus on its flood channel, in one process. The
 * lower bound of a commit is three one-way delays (propose → prevote → precommit) measured on
 * the same channel in the same run: half the median round trip of a ping-pong between two of
 * the four nodes, just before consensus starts on them.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { consensusLink } from '../src/actors/consensus-link.ts'
import type { FloodChannel } from '../src/net/flood-channel.ts'
import { createNetNode, type NetNode } from '../src/net/node.ts'
import { sleep } from '../src/runtime/clock.ts'
import { createRuntimeComponents } from '../src/runtime/components.ts'
import { SystemClock } from '../src/runtime/system-clock.ts'
import { type Link, median, type Net, startNetwork, until } from './consensus.ts'

const CHAIN_ID = 'r3mes-bench'

export interface Libp2pNetwork {
  readonly nodes: NetNode[]
  stop(): Promise<void>
}

export async function startLibp2pNodes(n: number): Promise<Libp2pNetwork> {
  const homes = Array.from({ length: n }, (_, i) => mkdtempSync(join(tmpdir(), `r3mes-bench-net-${i}-`)))
  const nodes: NetNode[] = []
  for (let i = 0; i < n; i++) {
    const components = createRuntimeComponents({ name: `bench-v${i}`, seed: i + 1, logLevel: 'silent' })
    nodes.push(await createNetNode({ chainId: CHAIN_ID, homeDir: homes[i] as string }, components))
  }
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++)
      await (nodes[i] as NetNode).libp2p.dial((nodes[j] as NetNode).multiaddrs()[0] as never)
  }
  const clock = new SystemClock()
  await until(() => nodes.every((node) => node.consensus.peers().length >= n - 1), 15_000, clock)
  return {
    nodes,
    async stop() {
      await Promise.all(nodes.map((node) => node.stop().catch(() => {})))
      for (const home of homes) rmSync(home, { recursive: true, force: true })
    },
  }
}

/**
 * Half the median round trip from `a` to its neighbour `peer` on the consensus channel's own
 * streams (ping and pong frames): the one-way delay a consensus message meets there.
 */
export async function channelOneWayDelayMs(a: FloodChannel, peer: string, samples = 100): Promise<number> {
  const rtts: number[] = []
  for (let i = 0; i < samples; i++) rtts.push(await a.roundTripMs(peer))
  return median(rtts) / 2
}

/**
 * One-way delays on the channel while consensus runs on it: a round trip from `a` to `peer`
 * every `gapMs` until `stop()`, which returns half of each round trip. A message of consensus
 * meets the machine as these pings do (the same event loops, the same busy cores).
 */
export function probeUnderLoad(a: FloodChannel, peer: string, gapMs = 40): { stop(): Promise<number[]> } {
  const clock = new SystemClock()
  const delays: number[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      delays.push((await a.roundTripMs(peer).catch(() => Number.NaN)) / 2)
      await sleep(clock, gapMs)
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      return delays.filter((d) => Number.isFinite(d))
    },
  }
}

/**
 * A consensus network over libp2p links, plus the nodes to stop afterwards, and the one-way
 * delay measured on those very connections before consensus starts.
 */
export async function libp2pConsensusNetwork(): Promise<{
  net: Net
  network: Libp2pNetwork
  oneWayDelayMs: number
  probe: () => { stop(): Promise<number[]> }
}> {
  const network = await startLibp2pNodes(4)
  const [a, b] = network.nodes as [NetNode, NetNode]
  const oneWayDelayMs = await channelOneWayDelayMs(a.consensus, b.peerId.toString())
  const links = network.nodes.map((node, i) =>
    consensusLink({
      channel: node.consensus,
      logger: createRuntimeComponents({ name: `link-${i}`, logLevel: 'silent' }).logger,
    }),
  )
  const net = startNetwork((i) => links[i] as Link, false)
  const stop = network.stop
  return {
    net,
    network: {
      nodes: network.nodes,
      async stop() {
        for (const link of links) link.close()
        await stop()
      },
    },
    oneWayDelayMs,
    probe: () => probeUnderLoad(a.consensus, b.peerId.toString()),
  }
}
