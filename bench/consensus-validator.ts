/**
 * One validator of `bench/consensus-processes.ts`, run as its own process: a libp2p node and
 * one consensus actor. The parent drives it over the IPC channel (`process.send`) and gets
 * every proposal and commit back with a timestamp on the machine's monotonic clock
 * (`process.hrtime`, the same for every process), so latencies span processes.
 *
 * argv: <validator index>
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { consensusLink } from '../src/actors/consensus-link.ts'
import { createNetNode } from '../src/net/node.ts'
import { createRuntimeComponents } from '../src/runtime/components.ts'
import { SystemClock } from '../src/runtime/system-clock.ts'
import { startNetwork, until } from './consensus.ts'
import { channelOneWayDelayMs, probeUnderLoad } from './consensus-libp2p.ts'

export type ParentMessage =
  | { type: 'peers'; addrs: string[] }
  | { type: 'probe'; samples: number; peer: string }
  /** Start consensus; `probe` names the peer validator 0 pings while it runs. */
  | { type: 'start'; probe?: string }
  | { type: 'submit'; txCount: number; txBytes: number }
  | { type: 'stop' }

export type ChildMessage =
  | { type: 'ready'; addr: string; peerId: string }
  | { type: 'meshed' }
  | { type: 'delay'; oneWayMs: number }
  | { type: 'proposal'; height: number; atMs: number }
  /** `cpuMs`: this process's CPU time so far, read at the commit. */
  | { type: 'commit'; height: number; atMs: number; txs: number; cpuMs: number }
  | { type: 'stopped'; cpuMs: number; underLoadDelaysMs: number[] }

const index = Number(process.argv[2])
const clock = new SystemClock()
/** The machine-wide monotonic clock in ms (performance.now() starts at each process's own origin). */
const machineMs = (): number => Number(process.hrtime.bigint()) / 1e6
const cpuMsNow = (): number => {
  const cpu = process.cpuUsage()
  return (cpu.user + cpu.system) / 1000
}
const send = (m: ChildMessage): void => {
  process.send?.(m)
}

const home = mkdtempSync(join(tmpdir(), `r3mes-bench-proc-${index}-`))
const components = createRuntimeComponents({ name: `bench-v${index}`, seed: index + 1, logLevel: 'silent' })
const node = await createNetNode({ chainId: 'r3mes-bench', homeDir: home }, components)
let link: ReturnType<typeof consensusLink> | undefined
let probe: ReturnType<typeof probeUnderLoad> | undefined
let net: ReturnType<typeof startNetwork> | undefined
let cpuStart = process.cpuUsage()

process.on('message', (raw) => {
  const m = raw as ParentMessage
  void handle(m).catch((error: unknown) => {
    console.error(`validator ${index}:`, error)
    process.exit(1)
  })
})

async function handle(m: ParentMessage): Promise<void> {
  switch (m.type) {
    case 'peers':
      // Each pair of validators is dialled once, by the higher index.
      for (const addr of m.addrs.slice(0, index)) await node.libp2p.dial(multiaddr(addr))
      await until(() => node.consensus.peers().length >= m.addrs.length - 1, 20_000, clock)
      send({ type: 'meshed' })
      return
    case 'probe':
      send({ type: 'delay', oneWayMs: await channelOneWayDelayMs(node.consensus, m.peer, m.samples) })
      return
    case 'start': {
      cpuStart = process.cpuUsage()
      const consensus = consensusLink({ channel: node.consensus, logger: components.logger })
      link = consensus
      // Proposals and commits go to the parent as they happen, stamped on the machine's clock.
      const toMachineMs = (atMs: number): number => atMs - clock.monotonicMs() + machineMs()
      const network = startNetwork(
        () => consensus,
        false,
        1024 * 1024,
        [index],
        (e) => {
          if (e.kind === 'proposal') send({ type: 'proposal', height: e.height, atMs: toMachineMs(e.atMs) })
          else
            send({
              type: 'commit',
              height: e.height,
              atMs: toMachineMs(e.atMs),
              txs: e.committedTxs,
              cpuMs: cpuMsNow(),
            })
        },
      )
      if (m.probe !== undefined) probe = probeUnderLoad(node.consensus, m.probe)
      net = network
      return
    }
    case 'submit': {
      const actor = (net as unknown as { actors: { send: (e: unknown) => void }[] }).actors[0]
      for (let j = 0; j < m.txCount; j++) {
        const head = `k${index}-${j}=`
        actor?.send({ type: 'tx', tx: new TextEncoder().encode(head + 'x'.repeat(m.txBytes - head.length)) })
        if (j % 500 === 499) await new Promise<void>((resolve) => setImmediate(resolve))
      }
      return
    }
    case 'stop': {
      const underLoadDelaysMs = (await probe?.stop()) ?? []
      net?.stop()
      net = undefined
      const cpu = process.cpuUsage(cpuStart)
      link?.close()
      await node.stop().catch(() => {})
      rmSync(home, { recursive: true, force: true })
      send({ type: 'stopped', cpuMs: (cpu.user + cpu.system) / 1000, underLoadDelaysMs })
      process.disconnect()
      return
    }
  }
}

send({ type: 'ready', addr: String(node.multiaddrs()[0]), peerId: node.peerId.toString() })
