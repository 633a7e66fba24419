/** Multi-node fixtures: real nodes on loopback TCP, each with its own temporary home folder. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNetNode, type NetNode, type NetNodeInit } from '../../src/net/node.ts'
import { type Clock, sleep } from '../../src/runtime/clock.ts'
import type { RuntimeComponents } from '../../src/runtime/components.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'

export const CHAIN_ID = 'testchain'
export const clock: Clock = new SystemClock()

export function components(name: string, seed = 1): RuntimeComponents {
  return {
    clock,
    random: new SeededRandom(seed),
    logger: createLogger({ name, level: 'silent', clock }),
  }
}

export interface Cluster {
  nodes: NetNode[]
  homes: string[]
  stop(): Promise<void>
}

/** Start `n` nodes (fast heartbeat); `init(i)` adds per-node options. */
export async function startNodes(n: number, init: (i: number) => Partial<NetNodeInit> = () => ({})): Promise<Cluster> {
  const homes: string[] = []
  const nodes: NetNode[] = []
  for (let i = 0; i < n; i++) {
    const home = await mkdtemp(join(tmpdir(), `r3mes-net-${i}-`))
    homes.push(home)
    nodes.push(
      await createNetNode(
        // Every node is on the loopback: a LAN, whose private addresses the DHT keeps.
        { chainId: CHAIN_ID, homeDir: home, lan: true, gossip: { heartbeatMs: 100, meshDegree: 4 }, ...init(i) },
        components(`node-${i}`, i + 1),
      ),
    )
  }
  return {
    nodes,
    homes,
    async stop() {
      await Promise.all(nodes.map((node) => node.stop().catch(() => {})))
      await Promise.all(homes.map((home) => rm(home, { recursive: true, force: true })))
    },
  }
}

/** Dial `b` from `a` by its listen address. */
export async function connect(a: NetNode, b: NetNode): Promise<void> {
  const addr = b.multiaddrs()[0]
  if (addr === undefined) throw new Error('node has no listen address')
  await a.libp2p.dial(addr)
}

/** Poll `condition` every 20 ms until it holds or `timeoutMs` passes. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const start = clock.monotonicMs()
  while (!(await condition())) {
    if (clock.monotonicMs() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(clock, 20)
  }
}

export function randomBytes(n: number, seed: number): Uint8Array {
  const random = new SeededRandom(seed)
  const out = new Uint8Array(n)
  const words = new Uint32Array(out.buffer, 0, Math.floor(n / 4))
  for (let i = 0; i < words.length; i++) words[i] = random.nextU32()
  for (let i = words.length * 4; i < n; i++) out[i] = random.nextU32() & 0xff
  return out
}

/** `items[i]`, failing the test when it is missing (keeps tests free of `!`). */
export function at<T>(items: readonly T[], i: number): T {
  const item = items[((i % items.length) + items.length) % items.length]
  if (item === undefined) throw new Error(`no item at ${i}`)
  return item
}
