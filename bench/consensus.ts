/**
 * `npm run bench -- consensus [--json] [--disk]`: commit latency against its lower bound, and
 * transactions per second at saturation, for 4 validators in ONE process over the in-process
 * transport (MemoryHub: messages are encoded, copied and decoded, but no socket is involved).
 * The headline figures come from the same validators over libp2p on loopback with one process
 * per validator (consensus-processes.ts); all four in this process (consensus-libp2p.ts) sit
 * beside them.
 *
 * - latencyVsBound: median time from a proposal's broadcast to the commit by the third of four
 *   validators (+2/3), divided by three one-way message delays measured on the same transport
 *   in the same run (propose → prevote → precommit is three delays). Two transports are
 *   reported: next event-loop turn ('immediate', the raw in-process hop) and a 1 ms timer
 *   (a loopback-like hop).
 * - txPerSecond: 300-byte transactions submitted round-robin through the validators' actors
 *   (admitted by checkTx, gossiped), until all are committed.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createActor } from 'xstate'
import type { ConsensusInbox } from '../src/consensus/consensus-actor.ts'
import { consensusMachine } from '../src/consensus/consensus-actor.ts'
import { type ConsensusConfig, DEFAULT_TIMEOUTS } from '../src/consensus/core-types.ts'
import { EvidencePool } from '../src/consensus/evidence-pool.ts'
import type { Genesis } from '../src/consensus/genesis.ts'
import { signerFromSeed } from '../src/consensus/keys.ts'
import { KvApplication } from '../src/consensus/kv-application.ts'
import { MemoryHub } from '../src/consensus/memory-transport.ts'
import { Mempool } from '../src/consensus/mempool.ts'
import type { ConsensusTransport } from '../src/consensus/messages.ts'
import type { NodeComponents } from '../src/consensus/node-io.ts'
import { FileLastSignedStore, MemoryLastSignedStore, PrivValidator } from '../src/consensus/privval.ts'
import { FileBlockStore, FileStateStore, MemoryBlockStore, MemoryStateStore } from '../src/consensus/stores.ts'
import { ValidatorSet } from '../src/consensus/validator-set.ts'
import { FileWal, MemoryWal } from '../src/consensus/wal.ts'
import { MAX_ROUNDS_AHEAD } from '../src/runtime/limits.ts'
import { SystemClock } from '../src/runtime/system-clock.ts'

const N = 4
const TX_BYTES = 300

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number)
}

export type Link = ConsensusTransport & ConsensusInbox

export interface Net {
  commitTimes: Map<number, number[]>
  proposalTimes: Map<number, number>
  committedTxs: number[]
  stop: () => void
}

/**
 * Four validators over `linkOf(i)`; `maxBlockBytes` bounds a proposal. `local` names the
 * validators this process runs (one per process in the multi-process bench); `actors[k]` is
 * the actor of `local[k]`. `onEvent` hears of each proposal and commit as it happens (the
 * multi-process bench reports them to its parent).
 */
export function startNetwork(
  linkOf: (i: number) => Link,
  disk: boolean,
  maxBlockBytes = 1024 * 1024,
  local: readonly number[] = [0, 1, 2, 3],
  onEvent?: (event: {
    kind: 'proposal' | 'commit'
    height: number
    atMs: number
    validator: number
    /** Transactions the validator has committed so far. */
    committedTxs: number
  }) => void,
): Net {
  const clock = new SystemClock()
  const signers = Array.from({ length: N }, (_, i) => signerFromSeed(new Uint8Array(32).fill(i + 1)))
  const genesis: Genesis = {
    chainId: 'r3mes-bench',
    genesisTimeMs: Math.floor(clock.nowMs()),
    validators: signers.map((s) => ({ publicKey: s.publicKey, power: 10 })),
  }
  const vals = ValidatorSet.create(genesis.validators)
  const commitTimes = new Map<number, number[]>()
  const proposalTimes = new Map<number, number>()
  const committedTxs = Array.from({ length: N }, () => 0)
  const dirs: string[] = []
  const actors = local.map((i) => {
    const v = vals.validators[i] as (typeof vals.validators)[number]
    const signer = signers.find((s) => Buffer.compare(s.publicKey, v.publicKey) === 0)
    if (signer === undefined) throw new Error('validator without a signer')
    const link = linkOf(i)
    const app = new KvApplication(genesis.validators)
    const config: ConsensusConfig = {
      chainId: genesis.chainId,
      myAddress: v.address,
      // The default timeouts, but no wait after a commit: the bench measures the protocol.
      timeouts: { ...DEFAULT_TIMEOUTS, commitMs: 0 },
      maxBlockBytes,
      maxEvidenceAgeHeights: 100,
      maxRoundsAhead: MAX_ROUNDS_AHEAD,
    }
    const dir = disk ? mkdtempSync(join(tmpdir(), 'r3mes-bench-')) : ''
    if (disk) dirs.push(dir)
    const components: NodeComponents = {
      genesis,
      config,
      privval: new PrivValidator(
        signer,
        disk ? new FileLastSignedStore(join(dir, 'privval')) : new MemoryLastSignedStore(),
      ),
      wal: disk ? new FileWal({ dir: join(dir, 'wal') }) : new MemoryWal(),
      app,
      mempool: new Mempool(app, { maxTxs: 100_000 }),
      evidencePool: new EvidencePool(genesis.chainId, vals),
      blockStore: disk ? new FileBlockStore(join(dir, 'blocks')) : new MemoryBlockStore(),
      stateStore: disk ? new FileStateStore(join(dir, 'state')) : new MemoryStateStore(),
      clock,
      transport: {
        broadcast: (m) => {
          if (m.kind === 'proposal' && m.proposal.polRound === -1 && !proposalTimes.has(m.proposal.height)) {
            const atMs = clock.monotonicMs()
            proposalTimes.set(m.proposal.height, atMs)
            onEvent?.({
              kind: 'proposal',
              height: m.proposal.height,
              atMs,
              validator: i,
              committedTxs: committedTxs[i] as number,
            })
          }
          link.broadcast(m)
        },
        send: link.send,
      },
      onCommit: (cb) => {
        const h = cb.block.header.height
        const times = commitTimes.get(h) ?? []
        times.push(clock.monotonicMs())
        commitTimes.set(h, times)
        committedTxs[i] = (committedTxs[i] as number) + cb.block.txs.length
        onEvent?.({
          kind: 'commit',
          height: h,
          atMs: times[times.length - 1] as number,
          validator: i,
          committedTxs: committedTxs[i] as number,
        })
      },
    }
    return createActor(consensusMachine, { input: { components, inbox: link, gossipIntervalMs: 200 } }).start()
  })
  const net: Net = {
    commitTimes,
    proposalTimes,
    committedTxs,
    stop: () => {
      for (const a of actors) a.stop()
      for (const d of dirs) rmSync(d, { recursive: true, force: true })
    },
  }
  ;(net as Net & { actors: typeof actors }).actors = actors
  return net
}

/** Resolve when `done()` holds, checking on every event-loop turn (the loop is kept alive meanwhile). */
export async function until(done: () => boolean, limitMs: number, clock: SystemClock): Promise<boolean> {
  const start = clock.monotonicMs()
  while (!done()) {
    if (clock.monotonicMs() - start > limitMs) return false
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  return true
}

/** One-way delay of the transport itself: timestamped pings between two fresh endpoints. */
async function oneWayDelayMs(latency: number | 'immediate', clock: SystemClock): Promise<number> {
  const hub = new MemoryHub(clock, latency)
  const a = hub.connect('a')
  const b = hub.connect('b')
  const samples: number[] = []
  let sentAt = 0
  b.subscribe(() => samples.push(clock.monotonicMs() - sentAt))
  for (let i = 0; i < 200; i++) {
    sentAt = clock.monotonicMs()
    a.broadcast({ kind: 'status', height: i + 1 })
    await until(() => samples.length > i, 1000, clock)
  }
  return median(samples)
}

function memoryNetwork(latency: number | 'immediate', disk: boolean): Net {
  const hub = new MemoryHub(new SystemClock(), latency)
  return startNetwork((i) => hub.connect(`v${i}`), disk)
}

async function latencyRun(latency: number | 'immediate', disk: boolean) {
  const clock = new SystemClock()
  const delay = await oneWayDelayMs(latency, clock)
  const result = await measureCommitLatency(memoryNetwork(latency, disk), delay)
  return {
    transport: latency === 'immediate' ? 'in-process, next event-loop turn' : `in-process, ${latency} ms timer`,
    ...result,
  }
}

/**
 * Commit latencies against their lower bound: three one-way delays measured on the same
 * connections, before consensus starts (`idleDelayMs`, the machine otherwise quiet) and, when
 * probed, while it runs (`underLoadDelaysMs`: what a message met on the same event loops and
 * cores as the consensus messages).
 */
export function latencyFigures(latencies: number[], idleDelayMs: number, underLoadDelaysMs: number[] = []) {
  const commitLatencyMs = median(latencies)
  const loaded = median(underLoadDelaysMs)
  return {
    oneWayDelayMs: round(idleDelayMs),
    lowerBoundMs: round(3 * idleDelayMs),
    commitLatencyMs: round(commitLatencyMs),
    heightsMeasured: latencies.length,
    latencyVsBound: round(commitLatencyMs / (3 * idleDelayMs)),
    ...(underLoadDelaysMs.length === 0
      ? {}
      : {
          underLoad: {
            oneWayDelayMs: round(loaded),
            samples: underLoadDelaysMs.length,
            lowerBoundMs: round(3 * loaded),
            latencyVsBound: round(commitLatencyMs / (3 * loaded)),
          },
        }),
  }
}

/** Heights a latency figure is the median of: 3 to LATENCY_HEIGHTS + 2 (the first two start the network). */
export const LATENCY_HEIGHTS = 40

/** Proposal-to-commit times of heights 3 to LATENCY_HEIGHTS + 2, to the third of four validators' commit (+2/3). */
export function commitLatencies(proposals: Map<number, number>, commits: Map<number, number[]>): number[] {
  const latencies: number[] = []
  for (let h = 3; h <= LATENCY_HEIGHTS + 2; h++) {
    const p = proposals.get(h)
    const c = commits
      .get(h)
      ?.slice()
      .sort((x, y) => x - y)[2]
    if (p !== undefined && c !== undefined) latencies.push(c - p)
  }
  return latencies
}

/** Median proposal-to-commit time (third of four validators) over 40 heights, against 3 one-way delays. */
export async function measureCommitLatency(net: Net, delay: number, probe?: () => { stop(): Promise<number[]> }) {
  const clock = new SystemClock()
  await until(() => (net.commitTimes.get(2)?.length ?? 0) >= 3, 60_000, clock)
  const cpuStart = process.cpuUsage()
  const probing = probe?.()
  await until(() => (net.commitTimes.get(LATENCY_HEIGHTS + 2)?.length ?? 0) >= 3, 60_000, clock)
  const underLoad = (await probing?.stop()) ?? []
  const cpu = process.cpuUsage(cpuStart)
  net.stop()
  return {
    ...latencyFigures(commitLatencies(net.proposalTimes, net.commitTimes), delay, underLoad),
    /** CPU time of the whole process per height (all four validators share one thread): what a loaded machine does not inflate much. */
    cpuMsPerHeight: round((cpu.user + cpu.system) / 1000 / LATENCY_HEIGHTS),
  }
}

/** Submit `txCount` 300-byte transactions round-robin and time until all are committed. */
export async function measureThroughput(network: Net, txCount: number) {
  const clock = new SystemClock()
  const net = network as Net & { actors: { send: (e: unknown) => void }[] }
  const txs = Array.from({ length: txCount }, (_, i) => {
    const head = `k${i}=`
    return new TextEncoder().encode(head + 'x'.repeat(TX_BYTES - head.length))
  })
  const start = clock.monotonicMs()
  const cpuStart = process.cpuUsage()
  for (let i = 0; i < txs.length; i++) {
    net.actors[i % N]?.send({ type: 'tx', tx: txs[i] })
    if (i % 500 === 499) await new Promise<void>((resolve) => setImmediate(resolve))
  }
  const submittedMs = clock.monotonicMs() - start
  const ok = await until(() => (net.committedTxs[0] as number) >= txCount, 120_000, clock)
  const seconds = (clock.monotonicMs() - start) / 1000
  const cpu = process.cpuUsage(cpuStart)
  const cpuSeconds = (cpu.user + cpu.system) / 1e6
  const heights = Math.max(...net.commitTimes.keys())
  net.stop()
  return {
    txBytes: TX_BYTES,
    txs: net.committedTxs[0],
    allCommitted: ok,
    seconds: round(seconds),
    blocks: heights,
    txPerSecond: Math.round((net.committedTxs[0] as number) / seconds),
    submitSeconds: round(submittedMs / 1000),
    /** CPU time of the whole process (all four validators share one thread): the figure that load on the machine does not inflate. */
    cpuSeconds: round(cpuSeconds),
    txPerCpuSecond: Math.round((net.committedTxs[0] as number) / cpuSeconds),
  }
}

export function round(x: number): number {
  return Math.round(x * 1000) / 1000
}

export async function runConsensusBench(json: boolean, args: readonly string[] = []): Promise<void> {
  const disk = args.includes('--disk')
  // Four validators over libp2p on loopback (real sockets, noise, yamux, the consensus channel).
  // One process per validator: each has its own event loop, as on four machines.
  const { processesLatency, processesThroughput } = await import('./consensus-processes.ts')
  const processes = await processesLatency()
  const processesTput = await processesThroughput(20_000, TX_BYTES)
  // All four in this process: one thread carries every node's work.
  const { libp2pConsensusNetwork } = await import('./consensus-libp2p.ts')
  const latencyNet = await libp2pConsensusNetwork()
  const oneProcess = await measureCommitLatency(latencyNet.net, latencyNet.oneWayDelayMs, latencyNet.probe)
  await latencyNet.network.stop()
  const throughputNet = await libp2pConsensusNetwork()
  const oneProcessTput = await measureThroughput(throughputNet.net, 20_000)
  await throughputNet.network.stop()

  const immediate = await latencyRun('immediate', disk)
  const timer = await latencyRun(1, disk)
  const throughput = await measureThroughput(memoryNetwork('immediate', disk), 20_000)
  const result = {
    suite: 'consensus',
    network:
      'libp2p on loopback: 4 validators, each its own libp2p node (TCP, noise, yamux) with consensus on its flood channel, one process per validator; memory stores',
    validators: N,
    /** 1-minute load average and cores when the run ended: on a shared machine, wall-clock figures move with it. */
    machine: { loadAverage1m: round(loadavg()[0] as number), cores: availableParallelism() },
    latencyVsBound: processes.latencyVsBound,
    txPerSecond: processesTput.txPerSecond,
    targets: { latencyVsBound: 5, txPerSecond: 2000 },
    loopbackProcessPerValidator: {
      latency: processes,
      throughput: { transport: 'libp2p consensus channel, loopback TCP, one process per validator', ...processesTput },
    },
    loopbackOneProcess: {
      latency: { transport: 'libp2p consensus channel, loopback TCP, four nodes in one process', ...oneProcess },
      throughput: oneProcessTput,
    },
    inProcess: {
      storage: disk ? 'files with fsync (WAL, privval, block and state stores)' : 'memory',
      latency: [immediate, timer],
      throughput,
    },
  }
  if (json) console.log(JSON.stringify(result, null, 2))
  else {
    for (const r of [
      result.loopbackProcessPerValidator.latency,
      result.loopbackOneProcess.latency,
      ...result.inProcess.latency,
    ] as {
      transport: string
      commitLatencyMs: number
      oneWayDelayMs: number
      lowerBoundMs: number
      latencyVsBound: number
      underLoad?: { oneWayDelayMs: number; latencyVsBound: number }
    }[]) {
      console.log(
        `commit latency (${r.transport}): ${r.commitLatencyMs} ms vs bound 3 × ${r.oneWayDelayMs} ms = ${r.lowerBoundMs} ms → ${r.latencyVsBound}×` +
          (r.underLoad === undefined
            ? ''
            : `; one-way delay while consensus runs ${r.underLoad.oneWayDelayMs} ms → ${r.underLoad.latencyVsBound}×`),
      )
    }
    for (const [name, t] of [
      ['libp2p loopback, one process per validator', { ...processesTput, blocks: 'n/a' }],
      ['libp2p loopback, one process', oneProcessTput],
      ['in-process', throughput],
    ] as const)
      console.log(
        `throughput (${name}): ${t.txs} txs of ${TX_BYTES} B in ${t.seconds} s over ${t.blocks} blocks → ${t.txPerSecond} tx/s`,
      )
  }
}
