/**
 * One gossip peer of `bench/net.ts` as its own process, so that the 8-peer mesh measures
 * gossip and not one event loop shared by eight nodes. It answers an echo protocol (the direct
 * round trip the gossip latency is compared with), records when each gossip message first
 * arrives on the machine-wide monotonic clock, and takes commands on stdin, one JSON line
 * each, answering each with one JSON line on stdout:
 *   {"dial": [addr, …]} → {"dialled": n};  {"mesh": true} → {"mesh": n};
 *   {"arrivals": true} → {"arrivals": [[seq, ms], …]}.
 * It prints its peer id and addresses first, and stops when stdin ends.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { createNetNode } from '../src/net/node.ts'
import { createLogger } from '../src/runtime/logger.ts'
import { SeededRandom } from '../src/runtime/random.ts'
import { machineMonotonicMs, SystemClock } from '../src/runtime/system-clock.ts'
import { CHAIN_ID, ECHO_PROTOCOL } from './net-shared.ts'

const seed = Number(process.argv[2] ?? 1)
const signed = process.argv[3] !== 'unsigned'
const heartbeatMs = Number(process.argv[4] ?? 200)
const clock = new SystemClock()
const home = await mkdtemp(join(tmpdir(), 'r3mes-bench-gossip-peer-'))
const node = await createNetNode(
  { chainId: CHAIN_ID, homeDir: home, gossip: { heartbeatMs, meshDegree: 4, signed } },
  { clock, random: new SeededRandom(seed), logger: createLogger({ name: 'gossip-peer', level: 'silent', clock }) },
)
await node.libp2p.handle(ECHO_PROTOCOL, (stream) => {
  stream.addEventListener('message', (evt) => {
    if (stream.writeStatus === 'writable') stream.send(evt.data)
  })
})
const arrivals = new Map<number, number>()
node.gossip.subscribe('tx', {
  handle: (payload) => {
    const seq = new DataView(payload.tx.buffer, payload.tx.byteOffset).getUint32(0, true)
    if (!arrivals.has(seq)) arrivals.set(seq, machineMonotonicMs())
  },
})

const answer = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`)
answer({ peerId: node.peerId.toString(), addrs: node.multiaddrs().map(String) })
const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  void (async () => {
    const command = JSON.parse(line) as { dial?: string[]; mesh?: boolean; arrivals?: boolean }
    if (command.dial !== undefined) {
      for (const addr of command.dial) await node.libp2p.dial(multiaddr(addr))
      answer({ dialled: command.dial.length })
    } else if (command.mesh === true) answer({ mesh: node.gossip.meshPeers('tx').length })
    else if (command.arrivals === true) answer({ arrivals: [...arrivals] })
  })()
})
lines.on('close', () => {
  void (async () => {
    await node.stop()
    await rm(home, { recursive: true, force: true, maxRetries: 5 })
    process.exit(0)
  })()
})
