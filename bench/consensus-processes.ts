/**
 * Consensus over libp2p on loopback with ONE PROCESS PER VALIDATOR (`consensus-validator.ts`),
 * the bench's headline: what four machines would see, minus the wire. In one process the four
 * validators share one thread, so every message costs the sum of four nodes' work, while the
 * lower bound (a ping-pong between two idle nodes) does not; here each node has its own event
 * loop, as the bound's nodes do. The bound is measured between validators 0 and 1 on their
 * consensus channel before consensus starts. Timestamps come from the machine's monotonic clock.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { sleep } from '../src/runtime/clock.ts'
import { SystemClock } from '../src/runtime/system-clock.ts'
import { commitLatencies, LATENCY_HEIGHTS, latencyFigures, round } from './consensus.ts'

const clock = new SystemClock()

import type { ChildMessage, ParentMessage } from './consensus-validator.ts'

const N = 4
const machineMs = (): number => Number(process.hrtime.bigint()) / 1e6

interface Validators {
  readonly children: ChildProcess[]
  readonly peerIds: string[]
  send(i: number, m: ParentMessage): void
  /** Resolves with the next message of `type` from validator `i`. */
  next<T extends ChildMessage['type']>(i: number, type: T): Promise<Extract<ChildMessage, { type: T }>>
  onMessage(handler: (i: number, m: ChildMessage) => void): void
  /** Stop every validator: their CPU time since start, and validator 0's probe delays. */
  stop(): Promise<{ cpuMs: number; underLoadDelaysMs: number[] }>
}

async function startValidators(): Promise<Validators> {
  const script = fileURLToPath(new URL('./consensus-validator.ts', import.meta.url))
  const children = Array.from({ length: N }, (_, i) =>
    fork(script, [String(i)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  )
  const handlers: ((i: number, m: ChildMessage) => void)[] = []
  children.forEach((child, i) => {
    child.on('message', (m) => {
      for (const h of handlers) h(i, m as ChildMessage)
    })
  })
  const peerIds: string[] = []
  const validators: Validators = {
    children,
    peerIds,
    send: (i, m) => void children[i]?.send(m),
    next: (i, type) =>
      new Promise((resolve) => {
        const h = (from: number, m: ChildMessage): void => {
          if (from !== i || m.type !== type) return
          handlers.splice(handlers.indexOf(h), 1)
          resolve(m as never)
        }
        handlers.push(h)
      }),
    onMessage: (handler) => void handlers.push(handler),
    async stop() {
      const stopped = children.map((_, i) => validators.next(i, 'stopped'))
      for (let i = 0; i < N; i++) validators.send(i, { type: 'stop' })
      const all = await Promise.all(stopped)
      return { cpuMs: all.reduce((s, m) => s + m.cpuMs, 0), underLoadDelaysMs: all.flatMap((m) => m.underLoadDelaysMs) }
    },
  }
  const ready = await Promise.all(children.map((_, i) => validators.next(i, 'ready')))
  const addrs = ready.map((r) => r.addr)
  peerIds.push(...ready.map((r) => r.peerId))
  const meshed = children.map((_, i) => validators.next(i, 'meshed'))
  for (let i = 0; i < N; i++) validators.send(i, { type: 'peers', addrs })
  await Promise.all(meshed)
  return validators
}

async function oneWayDelayMs(v: Validators): Promise<number> {
  const delay = v.next(0, 'delay')
  v.send(0, { type: 'probe', samples: 100, peer: v.peerIds[1] as string })
  return (await delay).oneWayMs
}

/** Proposal and commit times reported by the validators, on the machine's clock. */
function record(v: Validators) {
  const proposals = new Map<number, number>()
  const commits = new Map<number, number[]>()
  const committedTxs = Array.from({ length: N }, () => 0)
  /** Per validator, its process's CPU time when it reported each height. */
  const cpuAt = Array.from({ length: N }, () => new Map<number, number>())
  v.onMessage((i, m) => {
    if (m.type === 'proposal' && !proposals.has(m.height)) proposals.set(m.height, m.atMs)
    if (m.type === 'commit') {
      commits.set(m.height, [...(commits.get(m.height) ?? []), m.atMs])
      committedTxs[i] = m.txs
      cpuAt[i]?.set(m.height, m.cpuMs)
    }
  })
  return { proposals, commits, committedTxs, cpuAt }
}

/** Poll every few milliseconds (the parent must not spin: the validators need the cores). */
async function waitFor(done: () => boolean, limitMs: number): Promise<boolean> {
  const start = machineMs()
  while (!done()) {
    if (machineMs() - start > limitMs) return false
    await sleep(clock, 5)
  }
  return true
}

export async function processesLatency() {
  const v = await startValidators()
  const delay = await oneWayDelayMs(v)
  const r = record(v)
  for (let i = 0; i < N; i++) v.send(i, { type: 'start', ...(i === 0 ? { probe: v.peerIds[1] as string } : {}) })
  await waitFor(() => (r.commits.get(LATENCY_HEIGHTS + 2)?.length ?? 0) >= 3, 120_000)
  const { underLoadDelaysMs } = await v.stop()
  // CPU per height of each process from height 3 to the last it reported (start-up excluded), summed.
  let cpuMsPerHeight = 0
  for (const at of r.cpuAt) {
    const last = Math.max(...[...at.keys()].filter((h) => h <= LATENCY_HEIGHTS + 2))
    cpuMsPerHeight += ((at.get(last) ?? Number.NaN) - (at.get(3) ?? Number.NaN)) / (last - 3)
  }
  return {
    transport: 'libp2p consensus channel, loopback TCP, one process per validator',
    ...latencyFigures(commitLatencies(r.proposals, r.commits), delay, underLoadDelaysMs),
    /** CPU time of all four processes per height, from height 3 on (start-up excluded). */
    cpuMsPerHeight: round(cpuMsPerHeight),
  }
}

export async function processesThroughput(txCount: number, txBytes: number) {
  const v = await startValidators()
  const r = record(v)
  for (let i = 0; i < N; i++) v.send(i, { type: 'start' })
  await waitFor(() => (r.commits.get(2)?.length ?? 0) >= N, 60_000)
  const start = machineMs()
  for (let i = 0; i < N; i++) v.send(i, { type: 'submit', txCount: txCount / N, txBytes })
  const ok = await waitFor(() => (r.committedTxs[0] as number) >= txCount, 120_000)
  const seconds = (machineMs() - start) / 1000
  const { cpuMs } = await v.stop()
  return {
    txBytes,
    txs: r.committedTxs[0],
    allCommitted: ok,
    seconds: round(seconds),
    txPerSecond: Math.round((r.committedTxs[0] as number) / seconds),
    /** CPU time of all four processes, start-up excluded. */
    cpuSeconds: round(cpuMs / 1000),
  }
}
