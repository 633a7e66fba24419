/**
 * The far end of `bench/net.ts`, run as a separate process: a NetNode with a bare byte-sink
 * protocol beside the activation-stream protocol, a raw TCP byte sink, and content stored in
 * advance. It prints one JSON line (its addresses and the content CIDs), then serves until
 * its parent closes stdin.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNetNode } from '../src/net/node.ts'
import { createLogger } from '../src/runtime/logger.ts'
import { SeededRandom } from '../src/runtime/random.ts'
import { SystemClock } from '../src/runtime/system-clock.ts'
import { BARE_PROTOCOL, benchBytes, CHAIN_ID, readSizePrefixed } from './net-shared.ts'

const contentBytes = Number(process.argv[2] ?? 32 * 1024 * 1024)
const contentCount = Number(process.argv[3] ?? 2)
const clock = new SystemClock()
const home = await mkdtemp(join(tmpdir(), 'r3mes-bench-peer-'))
const node = await createNetNode(
  { chainId: CHAIN_ID, homeDir: home, activations: { maxTensorBytes: 512 * 1024 * 1024 } },
  { clock, random: new SeededRandom(2), logger: createLogger({ name: 'bench-peer', level: 'silent', clock }) },
)
// A pipeline stage hands each tensor's buffer back once it has used it; so does this sink.
node.activations.onTensor((tensor) => tensor.release())

// Bare libp2p stream pump: an 8-byte length, then that many bytes; answer one byte.
await node.libp2p.handle(BARE_PROTOCOL, async (stream) => {
  await readSizePrefixed(stream)
  stream.send(new Uint8Array([1]))
  await stream.close().catch(() => {})
})

// Raw TCP: the same framing over a plain socket.
const tcp = createServer((socket: Socket) => {
  let expected = -1
  let received = 0
  let header = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => {
    if (expected < 0) {
      header = Buffer.concat([header, chunk])
      if (header.byteLength < 8) return
      expected = Number(header.readBigUInt64LE(0))
      received = header.byteLength - 8
    } else {
      received += chunk.byteLength
    }
    if (received >= expected) socket.end(Buffer.from([1]))
  })
  socket.on('error', () => {})
})
await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve))
const address = tcp.address()
const tcpPort = typeof address === 'object' && address !== null ? address.port : 0

const cids: string[] = []
for (let i = 0; i < contentCount; i++) cids.push((await node.content.put(benchBytes(contentBytes, 100 + i))).toString())

process.stdout.write(
  `${JSON.stringify({ peerId: node.peerId.toString(), addrs: node.multiaddrs().map(String), tcpPort, cids })}\n`,
)
process.stdin.resume()
process.stdin.on('end', () => {
  void (async () => {
    tcp.close()
    await node.stop()
    await rm(home, { recursive: true, force: true, maxRetries: 5 })
    process.exit(0)
  })()
})
