/**
 * `npm run bench -- net [--json]`: the network layer measured side by side in one run.
 *
 * Two processes for the point-to-point figures (this one, and bench/net-peer.ts as a child):
 * - activation-stream throughput vs a bare libp2p stream pump on the same connection
 *   (`streamVsBare`, target ≥ 0.8) and vs raw TCP between the same two processes
 *   (`streamVsTcp`, reported);
 * - content-store transfer vs the bare stream: fetched from the holder named, as nodes fetch
 *   what the chain points to (`contentVsBare`, target ≥ 0.3), and by CID alone through
 *   bitswap (`raw.bitswapContentVsBare`).
 * Eight gossip peers, each its own process (this one publishes, bench/gossip-peer.ts runs the
 * others): one-hop delivery latency p50/p99 to the publisher's mesh peers vs a direct-stream
 * round trip on one of those links, one round trip between each two messages
 * (`gossipP50VsRtt`, target ≤ 3; `gossipP99VsRtt`), and `lost`, the deliveries missing out of
 * messages × 7 receivers; then the same for unsigned gossip (StrictNoSign), and for all eight
 * peers in this one process (where one event loop serves every hop), under `raw`.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect as tcpConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { createNetNode, type NetNode } from '../src/net/node.ts'
import { sleep } from '../src/runtime/clock.ts'
import { createLogger } from '../src/runtime/logger.ts'
import { SeededRandom } from '../src/runtime/random.ts'
import { machineMonotonicMs, SystemClock } from '../src/runtime/system-clock.ts'
import { BARE_PROTOCOL, benchBytes, CHAIN_ID, ECHO_PROTOCOL } from './net-shared.ts'

const MiB = 1024 * 1024
const TRANSFER_BYTES = 32 * MiB
const REPEATS = 5
const CONTENTS = 4
const GOSSIP_NODES = 8
const GOSSIP_MESSAGES = 200
const GOSSIP_SPACING_MS = 20
const RTT_SAMPLES = 200
const clock = new SystemClock()

interface PeerInfo {
  peerId: string
  addrs: string[]
  tcpPort: number
  cids: string[]
}

async function newNode(
  name: string,
  seed: number,
  heartbeatMs = 1000,
  signed = true,
): Promise<{ node: NetNode; home: string }> {
  const home = await mkdtemp(join(tmpdir(), `r3mes-bench-${name}-`))
  const node = await createNetNode(
    { chainId: CHAIN_ID, homeDir: home, gossip: { heartbeatMs, meshDegree: 4, signed } },
    { clock, random: new SeededRandom(seed), logger: createLogger({ name, level: 'silent', clock }) },
  )
  return { node, home }
}

function startPeer(): Promise<{ info: PeerInfo; stop: () => void }> {
  const script = fileURLToPath(new URL('./net-peer.ts', import.meta.url))
  const child = spawn(process.execPath, [script, String(TRANSFER_BYTES), String(CONTENTS)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  return new Promise((resolve, reject) => {
    let out = ''
    child.on('error', reject)
    child.on('exit', (code) => reject(new Error(`bench peer exited with ${code}`)))
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const line = out.split('\n')[0]
      if (out.includes('\n') && line !== undefined)
        resolve({ info: JSON.parse(line) as PeerInfo, stop: () => child.stdin.end() })
    })
  })
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

function sizeHeader(n: number): Uint8Array {
  const head = new Uint8Array(8)
  new DataView(head.buffer).setBigUint64(0, BigInt(n), true)
  return head
}

/**
 * Bytes per second of each of `runs`, the median over REPEATS. The runs take turns (one of
 * each, REPEATS times) so that a change in the machine's load hits them alike.
 */
async function throughputs(bytes: number, runs: (() => Promise<void>)[]): Promise<number[]> {
  const rates: number[][] = runs.map(() => [])
  for (let i = 0; i < REPEATS; i++) {
    for (const [k, run] of runs.entries()) {
      const start = clock.monotonicMs()
      await run()
      rates[k]?.push(bytes / ((clock.monotonicMs() - start) / 1000))
    }
  }
  return rates.map(median)
}

async function bareStream(node: NetNode, peer: PeerId, bytes: Uint8Array): Promise<void> {
  const stream = await node.libp2p.dialProtocol(peer, BARE_PROTOCOL)
  const ack = (async () => {
    for await (const _ of stream) return
  })()
  // If sending fails first, the ack's own failure must not go unhandled.
  ack.catch(() => {})
  stream.send(sizeHeader(bytes.byteLength))
  for (let offset = 0; offset < bytes.byteLength; offset += MiB) {
    if (!stream.send(bytes.subarray(offset, offset + MiB))) await stream.onDrain()
  }
  await ack
  await stream.close().catch(() => {})
}

function rawTcp(port: number, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => {
      socket.write(sizeHeader(bytes.byteLength))
      let offset = 0
      const pump = (): void => {
        while (offset < bytes.byteLength) {
          const ok = socket.write(bytes.subarray(offset, offset + MiB))
          offset += MiB
          if (!ok) {
            socket.once('drain', pump)
            return
          }
        }
      }
      pump()
    })
    socket.once('data', () => {
      socket.destroy()
      resolve()
    })
    socket.on('error', reject)
  })
}

async function pointToPoint(): Promise<Record<string, number>> {
  const peer = await startPeer()
  const { node, home } = await newNode('bench-a', 1)
  try {
    const peerId = peerIdFromString(peer.info.peerId)
    const addr = peer.info.addrs[0]
    if (addr === undefined) throw new Error('bench peer has no address')
    await node.libp2p.dial(multiaddr(addr))
    const tensor = benchBytes(TRANSFER_BYTES, 7)
    // One warm-up of each path so no measurement pays for first use.
    await bareStream(node, peerId, tensor.subarray(0, MiB))
    await node.activations.send(peerId, { direction: 'forward', window: 0, step: 0, bytes: tensor.subarray(0, MiB) })
    await rawTcp(peer.info.tcpPort, tensor.subarray(0, MiB))

    const [streamBps = 0, bareBps = 0, tcpBps = 0] = await throughputs(TRANSFER_BYTES, [
      async () => {
        await node.activations.send(peerId, { direction: 'forward', window: 0, step: 0, bytes: tensor })
      },
      () => bareStream(node, peerId, tensor),
      () => rawTcp(peer.info.tcpPort, tensor),
    ])
    // Alternating: fetched from the holder the chain names (what a node does with a claim's
    // gradient or an aggregate: the block exchange first, bitswap behind it), and by CID alone
    // (bitswap, asking whoever has it).
    const namedRates: number[] = []
    const bitswapRates: number[] = []
    for (const [i, cid] of peer.info.cids.entries()) {
      const named = i % 2 === 0
      const start = clock.monotonicMs()
      const got = await node.content.get(CID.parse(cid), named ? { providers: [peerId] } : {})
      ;(named ? namedRates : bitswapRates).push(got.byteLength / ((clock.monotonicMs() - start) / 1000))
    }
    return { streamBps, bareBps, tcpBps, contentBps: median(namedRates), bitswapContentBps: median(bitswapRates) }
  } finally {
    await node.stop()
    await rm(home, { recursive: true, force: true, maxRetries: 5 })
    peer.stop()
  }
}

async function echoRtts(stream: Stream, samples: number): Promise<number[]> {
  const iterator = stream[Symbol.asyncIterator]()
  const probe = new Uint8Array(32)
  const rtts: number[] = []
  for (let i = 0; i < samples; i++) {
    const start = clock.monotonicMs()
    stream.send(probe)
    let got = 0
    while (got < probe.byteLength) {
      const next = await iterator.next()
      if (next.done === true) throw new Error('echo stream ended')
      got += next.value.byteLength
    }
    rtts.push(clock.monotonicMs() - start)
  }
  return rtts
}

/**
 * The pause between two gossip messages, with one direct round trip in its middle: the round
 * trips the gossip latency is compared with are taken under the same load as the messages,
 * each well after the previous message has settled.
 */
async function rttBetweenMessages(echo: Stream): Promise<number[]> {
  await sleep(clock, GOSSIP_SPACING_MS / 2)
  const rtt = await echoRtts(echo, 1)
  await sleep(clock, GOSSIP_SPACING_MS / 2)
  return rtt
}

interface GossipPeer {
  readonly peerId: string
  readonly addrs: string[]
  ask<T>(command: Record<string, unknown>): Promise<T>
  stop(): void
}

/** A gossip peer in its own process (bench/gossip-peer.ts), driven by JSON lines. */
function startGossipPeer(seed: number, signed: boolean): Promise<GossipPeer> {
  const script = fileURLToPath(new URL('./gossip-peer.ts', import.meta.url))
  const child = spawn(process.execPath, [script, String(seed), signed ? 'signed' : 'unsigned', '200'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const waiting: ((line: string) => void)[] = []
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.(line))
  const next = (): Promise<string> => new Promise((resolve) => waiting.push(resolve))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (code) => reject(new Error(`gossip peer exited with ${code}`)))
    void next().then((line) => {
      const info = JSON.parse(line) as { peerId: string; addrs: string[] }
      resolve({
        ...info,
        ask: async <T>(command: Record<string, unknown>): Promise<T> => {
          const answer = next()
          child.stdin.write(`${JSON.stringify(command)}\n`)
          return JSON.parse(await answer) as T
        },
        stop: () => child.stdin.end(),
      })
    })
  })
}

/**
 * The gossip figures with every peer in its own process, as peers of a real network are: this
 * process runs the publisher, seven children the others. Arrival times are read on the
 * machine-wide monotonic clock in the receiving process and compared with the send time taken
 * on the same clock here.
 */
export async function gossipAcrossProcesses(signed: boolean): Promise<Record<string, number>> {
  const peers = await Promise.all(Array.from({ length: GOSSIP_NODES - 1 }, (_, i) => startGossipPeer(i + 21, signed)))
  const { node: publisher, home } = await newNode('gossip-publisher', 20, 200, signed)
  try {
    publisher.gossip.subscribe('tx', { handle: () => {} })
    const addrOf = (i: number): string =>
      i % GOSSIP_NODES === 0 ? String(publisher.multiaddrs()[0]) : (peers[(i % GOSSIP_NODES) - 1]?.addrs[0] as string)
    for (const i of [1, 3]) await publisher.libp2p.dial(multiaddr(addrOf(i)))
    await Promise.all(peers.map((p, k) => p.ask({ dial: [addrOf(k + 2), addrOf(k + 4)] })))
    for (let waited = 0; waited < 10_000; waited += 100) {
      const meshes = await Promise.all(peers.map((p) => p.ask<{ mesh: number }>({ mesh: true })))
      if (publisher.gossip.meshPeers('tx').length >= 3 && meshes.every((m) => m.mesh >= 3)) break
      await sleep(clock, 100)
    }
    const neighbours = publisher.gossip.meshPeers('tx')
    const neighbourPeers = peers.filter((p) => neighbours.includes(p.peerId))
    const echo = await publisher.libp2p.dialProtocol(
      peerIdFromString((neighbourPeers[0] ?? (peers[0] as GossipPeer)).peerId),
      ECHO_PROTOCOL,
    )
    await echoRtts(echo, 20)
    const backToBack = await echoRtts(echo, RTT_SAMPLES)
    const sent = new Map<number, number>()
    const rtts: number[] = []
    for (let seq = 0; seq < GOSSIP_MESSAGES; seq++) {
      const tx = new Uint8Array(64)
      new DataView(tx.buffer).setUint32(0, seq, true)
      sent.set(seq, machineMonotonicMs())
      await publisher.gossip.publish('tx', { tx })
      rtts.push(...(await rttBetweenMessages(echo)))
    }
    await echo.close().catch(() => {})
    // Late is not lost: wait up to 5 s for stragglers before counting.
    const expected = GOSSIP_MESSAGES * (GOSSIP_NODES - 1)
    let arrivals: [number, number][][] = []
    for (let waited = 0; waited <= 5000; waited += 200) {
      arrivals = (await Promise.all(peers.map((p) => p.ask<{ arrivals: [number, number][] }>({ arrivals: true })))).map(
        (a) => a.arrivals,
      )
      if (arrivals.reduce((sum, a) => sum + a.length, 0) >= expected) break
      await sleep(clock, 200)
    }
    const latencies: number[] = []
    peers.forEach((p, k) => {
      if (!neighbourPeers.includes(p)) return
      for (const [seq, t] of arrivals[k] ?? []) latencies.push(t - (sent.get(seq) ?? t))
    })
    return {
      gossipP50Ms: percentile(latencies, 50),
      gossipP99Ms: percentile(latencies, 99),
      rttP50Ms: median(rtts),
      backToBackRttP50Ms: median(backToBack),
      lost: expected - arrivals.reduce((sum, a) => sum + a.length, 0),
      messages: GOSSIP_MESSAGES,
      meshNeighbours: neighbourPeers.length,
    }
  } finally {
    await publisher.stop().catch(() => {})
    await rm(home, { recursive: true, force: true, maxRetries: 5 })
    for (const p of peers) p.stop()
  }
}

export async function gossip(signed: boolean): Promise<Record<string, number>> {
  const started = await Promise.all(
    Array.from({ length: GOSSIP_NODES }, (_, i) => newNode(`gossip-${i}`, i + 10, 200, signed)),
  )
  const nodes = started.map((s) => s.node)
  try {
    for (const node of nodes) {
      await node.libp2p.handle(ECHO_PROTOCOL, (stream) => {
        // A listener that throws inside libp2p's event dispatch takes the process down:
        // echo only while the stream can still be written.
        stream.addEventListener('message', (evt) => {
          if (stream.writeStatus === 'writable') stream.send(evt.data)
        })
      })
    }
    const at = (i: number): NetNode => nodes[i % nodes.length] as NetNode
    for (let i = 0; i < nodes.length; i++) {
      await at(i).libp2p.dial(at(i + 1).multiaddrs()[0] ?? at(i + 1).peerId)
      await at(i).libp2p.dial(at(i + 3).multiaddrs()[0] ?? at(i + 3).peerId)
    }
    let connectionsClosed = 0
    for (const node of nodes) node.libp2p.addEventListener('connection:close', () => connectionsClosed++)
    const sent = new Map<number, number>()
    const firstArrival: Map<number, number>[] = nodes.map(() => new Map())
    nodes.forEach((node, i) => {
      node.gossip.subscribe('tx', {
        handle: (payload) => {
          const seq = new DataView(payload.tx.buffer, payload.tx.byteOffset).getUint32(0, true)
          if (!firstArrival[i]?.has(seq)) firstArrival[i]?.set(seq, clock.monotonicMs())
        },
      })
    })
    const publisher = at(0)
    for (let waited = 0; nodes.some((n) => n.gossip.meshPeers('tx').length < 3) && waited < 10_000; waited += 50)
      await sleep(clock, 50)
    const neighbours = publisher.gossip.meshPeers('tx')
    const neighbourIndexes = nodes.flatMap((n, i) => (neighbours.includes(n.peerId.toString()) ? [i] : []))
    const firstNeighbour = nodes[neighbourIndexes[0] ?? 1] as NetNode
    const echo = await publisher.libp2p.dialProtocol(firstNeighbour.peerId, ECHO_PROTOCOL)
    await echoRtts(echo, 20)
    const rtts: number[] = []
    for (let seq = 0; seq < GOSSIP_MESSAGES; seq++) {
      const tx = new Uint8Array(64)
      new DataView(tx.buffer).setUint32(0, seq, true)
      sent.set(seq, clock.monotonicMs())
      await publisher.gossip.publish('tx', { tx })
      rtts.push(...(await rttBetweenMessages(echo)))
    }
    await echo.close().catch(() => {})
    // Late is not lost: wait up to 5 s for stragglers before counting.
    const expected = GOSSIP_MESSAGES * (GOSSIP_NODES - 1)
    const deliveredSoFar = (): number => firstArrival.slice(1).reduce((sum, m) => sum + m.size, 0)
    for (let waited = 0; deliveredSoFar() < expected && waited < 5000; waited += 100) await sleep(clock, 100)
    const latencies: number[] = []
    for (const i of neighbourIndexes)
      for (const [seq, t] of firstArrival[i] ?? new Map<number, number>()) latencies.push(t - (sent.get(seq) ?? t))
    let delivered = 0
    for (let i = 1; i < nodes.length; i++) delivered += firstArrival[i]?.size ?? 0
    return {
      gossipP50Ms: percentile(latencies, 50),
      gossipP99Ms: percentile(latencies, 99),
      rttP50Ms: median(rtts),
      lost: GOSSIP_MESSAGES * (GOSSIP_NODES - 1) - delivered,
      messages: GOSSIP_MESSAGES,
      meshNeighbours: neighbourIndexes.length,
      connectionsClosed,
    }
  } finally {
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})))
    await Promise.all(started.map((s) => rm(s.home, { recursive: true, force: true, maxRetries: 5 })))
  }
}

/**
 * Block exchange against bitswap: 8 nodes in a full mesh, each storing one 100 KB block, and
 * every node fetching every other node's block at once (56 transfers), through the named
 * holder (`providers`) and through bitswap alone, alternating, three rounds each; the time of
 * a whole round, median.
 */
async function exchangeVsBitswap(): Promise<Record<string, number>> {
  const NODES = 8
  const started = await Promise.all(Array.from({ length: NODES }, (_, i) => newNode(`exchange-${i}`, i + 40)))
  const nodes = started.map((s) => s.node)
  try {
    for (let i = 0; i < NODES; i++)
      for (let j = 0; j < i; j++)
        await (nodes[i] as NetNode).libp2p.dial((nodes[j] as NetNode).multiaddrs()[0] as never)
    const round = async (direct: boolean, seed: number): Promise<{ ms: number; failed: number }> => {
      const cids = await Promise.all(
        nodes.map((n, i) => n.content.put(benchBytes(100_000, seed * 100 + i), { announce: false })),
      )
      let failed = 0
      const t0 = clock.monotonicMs()
      await Promise.all(
        nodes.flatMap((n, i) =>
          cids.map(async (cid, j) => {
            if (i === j) return
            const providers = direct ? [(nodes[j] as NetNode).peerId] : []
            await n.content.get(cid, { providers, signal: AbortSignal.timeout(30_000) }).catch(() => failed++)
          }),
        ),
      )
      return { ms: clock.monotonicMs() - t0, failed }
    }
    const direct: number[] = []
    const bitswap: number[] = []
    let failed = 0
    for (let r = 0; r < 3; r++) {
      const d = await round(true, 2 * r)
      const b = await round(false, 2 * r + 1)
      direct.push(d.ms)
      bitswap.push(b.ms)
      failed += d.failed + b.failed
    }
    return { directMs: median(direct), bitswapMs: median(bitswap), failed, transfers: NODES * (NODES - 1) }
  } finally {
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})))
    await Promise.all(started.map((s) => rm(s.home, { recursive: true, force: true, maxRetries: 5 })))
  }
}

export async function runNetBench(json: boolean): Promise<void> {
  // One run in four on the shared test machine died of an unhandled StreamResetError raised
  // in yamux's receive path (a stream reset by the peer, with no awaiting site in the stack).
  // Count and report such rejections instead of losing the whole run to one.
  let unhandledRejections = 0
  process.on('unhandledRejection', (reason) => {
    unhandledRejections++
    console.error('unhandled rejection during the net bench:', reason)
  })
  const p2p = await pointToPoint()
  const g = await gossipAcrossProcesses(true)
  const u = await gossipAcrossProcesses(false)
  const gi = await gossip(true)
  const x = await exchangeVsBitswap()
  const MBps = (bps: number | undefined): number => Math.round(((bps ?? 0) / MiB) * 10) / 10
  const ratio = (a: number | undefined, b: number | undefined): number => Math.round(((a ?? 0) / (b ?? 1)) * 100) / 100
  const result = {
    streamVsBare: ratio(p2p.streamBps, p2p.bareBps),
    streamVsTcp: ratio(p2p.streamBps, p2p.tcpBps),
    gossipP50VsRtt: ratio(g.gossipP50Ms, g.rttP50Ms),
    gossipP99VsRtt: ratio(g.gossipP99Ms, g.rttP50Ms),
    lost: g.lost,
    contentVsBare: ratio(p2p.contentBps, p2p.bareBps),
    exchangeVsBitswap: ratio(x.bitswapMs, x.directMs),
    raw: {
      exchangeRoundMs: Math.round(x.directMs ?? 0),
      bitswapRoundMs: Math.round(x.bitswapMs ?? 0),
      exchangeTransfersPerRound: x.transfers,
      exchangeFailedFetches: x.failed,
      activationStreamMiBps: MBps(p2p.streamBps),
      bareStreamMiBps: MBps(p2p.bareBps),
      rawTcpMiBps: MBps(p2p.tcpBps),
      contentMiBps: MBps(p2p.contentBps),
      bitswapContentMiBps: MBps(p2p.bitswapContentBps),
      bitswapContentVsBare: ratio(p2p.bitswapContentBps, p2p.bareBps),
      gossipP50Ms: Math.round((g.gossipP50Ms ?? 0) * 100) / 100,
      gossipP99Ms: Math.round((g.gossipP99Ms ?? 0) * 100) / 100,
      directRttP50Ms: Math.round((g.rttP50Ms ?? 0) * 100) / 100,
      /** Round trips one after another (a hot loop), for comparison: not what a gossip message meets. */
      backToBackRttP50Ms: Math.round((g.backToBackRttP50Ms ?? 0) * 100) / 100,
      gossipMessages: g.messages,
      gossipMeshNeighbours: g.meshNeighbours,
      unsignedGossipP50Ms: Math.round((u.gossipP50Ms ?? 0) * 100) / 100,
      unsignedGossipP99Ms: Math.round((u.gossipP99Ms ?? 0) * 100) / 100,
      unsignedDirectRttP50Ms: Math.round((u.rttP50Ms ?? 0) * 100) / 100,
      unsignedGossipP50VsRtt: ratio(u.gossipP50Ms, u.rttP50Ms),
      unsignedLost: u.lost,
      inProcessGossipP50Ms: Math.round((gi.gossipP50Ms ?? 0) * 100) / 100,
      inProcessGossipP99Ms: Math.round((gi.gossipP99Ms ?? 0) * 100) / 100,
      inProcessDirectRttP50Ms: Math.round((gi.rttP50Ms ?? 0) * 100) / 100,
      inProcessGossipP50VsRtt: ratio(gi.gossipP50Ms, gi.rttP50Ms),
      inProcessLost: gi.lost,
      unhandledRejections,
      connectionsClosedDuringInProcessGossip: gi.connectionsClosed ?? 0,
    },
    setup: {
      transferBytes: TRANSFER_BYTES,
      repeats: REPEATS,
      contentTransfers: CONTENTS,
      gossipNodes: GOSSIP_NODES,
      transport:
        'loopback TCP, noise, yamux; point-to-point between two processes; gossip among 8 peers, each its own process (inProcess*: all 8 in one process)',
      gossip:
        'ratios from signed gossip (the default); unsigned* from StrictNoSign with content message ids; each direct round trip taken between two gossip messages',
    },
  }
  if (json) console.log(JSON.stringify(result, null, 2))
  else {
    console.log(
      `activation stream ${result.raw.activationStreamMiBps} MiB/s, bare stream ${result.raw.bareStreamMiBps} MiB/s, raw TCP ${result.raw.rawTcpMiBps} MiB/s`,
    )
    console.log(`  streamVsBare ${result.streamVsBare} (target >= 0.8), streamVsTcp ${result.streamVsTcp}`)
    console.log(`content store ${result.raw.contentMiBps} MiB/s: contentVsBare ${result.contentVsBare} (target >= 0.3)`)
    console.log(
      `gossip one hop p50 ${result.raw.gossipP50Ms} ms, p99 ${result.raw.gossipP99Ms} ms; direct RTT p50 ${result.raw.directRttP50Ms} ms`,
    )
    console.log(
      `  gossipP50VsRtt ${result.gossipP50VsRtt} (target <= 3), gossipP99VsRtt ${result.gossipP99VsRtt}, lost ${result.lost}`,
    )
    console.log(
      `${result.raw.exchangeTransfersPerRound} fetches of 100 KB among 8 nodes: block exchange ${result.raw.exchangeRoundMs} ms, bitswap ${result.raw.bitswapRoundMs} ms (exchangeVsBitswap ${result.exchangeVsBitswap}× faster), ${result.raw.exchangeFailedFetches} failed`,
    )
  }
}
