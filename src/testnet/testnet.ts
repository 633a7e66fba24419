/**
 * `r3mes testnet`: a local network from a topology plan, one process per node on loopback,
 * in stages: setup (homes, keys, genesis, ports), start (validators first, then the rest,
 * each bootstrapping from every other node), run (watch every node's status until the planned
 * windows are trained, firing the fault schedule on the way), stop (every process, cleanly)
 * and cleanup (the run folder, unless kept). The report comes from the nodes themselves.
 *
 * With `hosts`, the network is a virtual LAN (hosts.ts): each node runs in its own network
 * namespace and listens on its own address there; the harness stays where it is and reads
 * each node's API through a Unix socket in the node's home.
 */
import { rmSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import type { HistoryEntry } from '../actors/node-api.ts'
import type { Aggregation, Claim } from '../chain/state.ts'
import { type Clock, sleep } from '../runtime/clock.ts'
import { R3mesError } from '../runtime/errors.ts'
import { MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST } from '../runtime/limits.ts'
import type { FaultPlan, NetworkPlan } from '../topology/types.ts'
import { createVirtualLan, describeHostNetwork, HostsError, hostsAvailable, type VirtualLan } from './hosts.ts'
import { checkInvariants, type InvariantResult } from './invariants.ts'
import { loadTestnet, setupTestnet, type TestnetLayout } from './layout.ts'
import { kernelThreadsPerNode, logTail, NodeProcess } from './node-process.ts'
import { buildReport, type TestnetReport } from './report.ts'

/** One committed height as a node's `GET /chain/history` serves it. */
export type ChainHistoryRow = { readonly height: number } & HistoryEntry

export interface NodeStatusView {
  readonly address: string
  readonly height: number
  readonly window: number | null
  readonly peers: number
  readonly roles: readonly string[]
  readonly metrics: Record<string, number>
  readonly loss: readonly { height: number; window: number; loss: number }[]
}

export interface Progress {
  readonly elapsedMs: number
  readonly stage: string
  readonly height: number
  readonly window: number
  readonly windows: number
  readonly loss: number | null
  readonly submissions: number
  readonly challenges: number
  readonly slashed: number
  readonly nodes: readonly { name: string; up: boolean; height: number | null; peers: number | null }[]
}

export interface TestnetOptions {
  readonly dir: string
  readonly clock: Clock
  /** Keep the run folder (logs, stores) after the run. @default false */
  readonly keep?: boolean
  readonly logLevel?: string
  /** Run each node in its own network namespace on a virtual LAN (root, Linux). @default false */
  readonly hosts?: boolean
  readonly signal?: AbortSignal
  readonly onProgress?: (p: Progress) => void
  readonly onStage?: (stage: string, detail: string) => void
  /** Called with the run's Testnet as soon as it exists (the dashboard follows its nodes and faults). */
  readonly onTestnet?: (net: Testnet) => void
  /** Chaos runs: called with the invariants' results as soon as they are checked, before the nodes stop. */
  readonly onInvariants?: (results: readonly InvariantResult[]) => void
}

export interface FaultRecord {
  readonly fault: FaultPlan
  readonly firedAtMs: number
  readonly heightAtFire: number
  readonly targets: readonly string[]
}

export interface TestnetRun {
  readonly layout: TestnetLayout
  readonly report: TestnetReport
  readonly faults: readonly FaultRecord[]
  readonly nodes: readonly NodeProcess[]
  readonly history: ReadonlyMap<string, readonly ChainHistoryRow[]>
  readonly interrupted: boolean
  /** `r3mes chaos` only: the invariant checks, in order. */
  readonly invariants?: readonly InvariantResult[]
}

/** How long `start` waits for each node to report ready, unless told otherwise. */
export const DEFAULT_NODE_READY_MS = 120_000

/** Some nodes did not report ready; the message names them and ends with every node's state and log tail. */
export class TestnetStartError extends R3mesError {
  constructor(failures: readonly { name: string; reason: string }[], diagnosis: string) {
    const names = failures.map((f) => `${f.name} (${f.reason})`).join(', ')
    super('ERR_TESTNET_START', `${failures.length} node(s) did not start: ${names}\n${diagnosis}`, {
      nodes: failures.map((f) => f.name),
    })
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? ''
}

function validatorsOf(nodes: readonly NodeProcess[]): NodeProcess[] {
  return nodes.filter((n) => n.layout.roles.includes('validator'))
}

export class Testnet {
  readonly plan: NetworkPlan
  readonly options: TestnetOptions
  layout: TestnetLayout | undefined
  /** `hosts`: the virtual LAN the nodes run on. */
  lan: VirtualLan | undefined
  nodes: NodeProcess[] = []
  readonly faults: FaultRecord[] = []
  /** The highest committed height seen at each poll of the run (for the recovery check). */
  readonly samples: { atMs: number; height: number }[] = []
  readonly #started: number

  constructor(plan: NetworkPlan, options: TestnetOptions) {
    this.plan = plan
    this.options = options
    this.#started = options.clock.monotonicMs()
  }

  elapsedMs(): number {
    return this.options.clock.monotonicMs() - this.#started
  }

  async setup(): Promise<TestnetLayout> {
    this.options.onStage?.('setup', this.options.dir)
    if (this.options.hosts === true) {
      const available = hostsAvailable()
      if (!available.ok) throw new HostsError(`--hosts needs network namespaces: ${available.reason}`)
      this.lan = createVirtualLan({ hosts: this.plan.nodes.length })
      this.options.onStage?.('hosts', `${this.lan.hosts.length} hosts on ${this.lan.subnet}`)
    }
    try {
      this.#use(await setupTestnet(this.plan, this.options.dir, this.options.clock.nowMs(), this.lan?.hosts))
    } catch (error) {
      this.destroyHosts()
      throw error
    }
    return this.layout as TestnetLayout
  }

  /** Remove the virtual LAN, if there is one (after the nodes have stopped). */
  destroyHosts(): void {
    this.lan?.destroy()
    this.lan = undefined
  }

  /**
   * Take over a run folder that an earlier `setup` made and whose nodes an earlier `start`
   * left running (the stages run on their own); returns the names of the nodes found running.
   */
  attach(): string[] {
    this.#use(loadTestnet(this.plan, this.options.dir))
    return this.nodes.filter((n) => n.adopt()).map((n) => n.name)
  }

  #use(layout: TestnetLayout): void {
    this.layout = layout
    // Every node learns every other node's address at start (a local network knows them all):
    // pipeline neighbours, verifiers and aggregators then reach a miner by its peer id at
    // once, instead of after a DHT walk that a young network may not answer in time.
    const everyone = this.layout.nodes.map((n) => n.multiaddr)
    const kernelThreads = kernelThreadsPerNode(availableParallelism(), this.layout.nodes.length)
    this.nodes = this.layout.nodes.map(
      (l) =>
        new NodeProcess({
          layout: l,
          net: this.layout as TestnetLayout,
          clock: this.options.clock,
          bootstrap: everyone,
          logLevel: this.options.logLevel,
          kernelThreads,
        }),
    )
  }

  /**
   * Start every node (validators first); `detached` nodes outlive this process. Each node has
   * `readyTimeoutMs` to report ready; when one does not (or exits), the others of its group are
   * still waited for (each within the same bound) and a TestnetStartError names every node that
   * failed and why, with every node's state and log tail: a caller's own deadline (a test
   * framework's) would otherwise end the run first and say nothing of the nodes.
   */
  async start(options: { detached?: boolean; readyTimeoutMs?: number } = {}): Promise<void> {
    this.options.onStage?.('start', `${this.nodes.length} nodes`)
    const validators = validatorsOf(this.nodes)
    await this.#startGroup(validators, options)
    await this.#startGroup(
      this.nodes.filter((n) => !validators.includes(n)),
      options,
    )
    // Apply the link conditions each node's plan names, on its links to every other node.
    for (const n of this.nodes) {
      const c = n.layout.plan.network
      const others = this.nodes.filter((m) => m !== n).map((m) => m.layout.peerId)
      if (c.delayMs > 0) await n.post('/admin/faults', { action: 'delay', peers: others, ms: c.delayMs })
      if (c.lossPercent > 0)
        await n.post('/admin/faults', { action: 'loss', peers: others, fraction: c.lossPercent / 100 })
    }
  }

  async #startGroup(
    nodes: readonly NodeProcess[],
    options: { detached?: boolean; readyTimeoutMs?: number },
  ): Promise<void> {
    const timeoutMs = options.readyTimeoutMs ?? DEFAULT_NODE_READY_MS
    const detached = options.detached === undefined ? {} : { detached: options.detached }
    const results = await Promise.allSettled(nodes.map((n) => n.start(timeoutMs, detached)))
    const failures = results.flatMap((r, i) =>
      r.status === 'fulfilled'
        ? []
        : [{ name: (nodes[i] as NodeProcess).name, reason: firstLine((r.reason as Error).message) }],
    )
    if (failures.length > 0) throw new TestnetStartError(failures, this.diagnose())
  }

  /**
   * Every node's state (ready, still waiting for its ready file, exited) and the last
   * `lines` lines of its log; under `hosts`, also what the kernel of its namespace holds (its
   * addresses, its TCP sockets). For the message of a failed start or test.
   */
  diagnose(lines = 20): string {
    return this.nodes
      .map((n) => {
        const host = n.layout.host
        const where = host === undefined ? '' : ` on ${host.name} ${host.address}`
        const parts = [`node ${n.name}${where}: ${n.state()}`, logTail(n.logFile, lines) || '  | (empty log)']
        if (host !== undefined && this.lan !== undefined)
          parts.push(
            `  ${host.namespace}:`,
            ...describeHostNetwork(host)
              .split('\n')
              .map((l) => `  : ${l}`),
          )
        return parts.join('\n')
      })
      .join('\n')
  }

  /** Every node's status now (undefined: it did not answer in time). */
  async statuses(): Promise<(NodeStatusView | undefined)[]> {
    const now = await Promise.all(this.nodes.map((n) => n.get<NodeStatusView>('/status')))
    now.forEach((s, i) => {
      if (s !== undefined) this.lastStatuses[i] = s
    })
    return now
  }

  /** The last status each node answered with (a busy node may miss a poll, not the report). */
  readonly lastStatuses: (NodeStatusView | undefined)[] = []

  /** The node to read the chain from: the first validator that answers. */
  async reader(): Promise<NodeProcess | undefined> {
    for (const n of validatorsOf(this.nodes)) if ((await n.get('/status')) !== undefined) return n
    return undefined
  }

  async claims(upToWindow: number): Promise<Claim[]> {
    const r = await this.reader()
    if (r === undefined) return []
    const out: Claim[] = []
    for (let w = 0; w <= upToWindow; w++) out.push(...((await r.get<Claim[]>(`/query/claims/${w}`)) ?? []))
    return out
  }

  /** Run until `windows` windows are trained and aggregated, or the timeout or an interrupt. */
  async run(): Promise<boolean> {
    this.options.onStage?.('run', `${this.plan.topology.run.windows} windows`)
    const t = this.plan.topology
    const pending = [...this.plan.faults]
    let lastFireMs = this.elapsedMs()
    // Height-scheduled faults keep their spacing: when start-up took longer than the first
    // heights of the schedule, a kill at 5 and a restart at 10 still fire 5 blocks apart,
    // not back to back.
    let lastFire: { height: number; at: number } | undefined
    let maxHeight = 0
    while (this.elapsedMs() < t.run.timeoutMs) {
      if (this.options.signal?.aborted === true) return false
      const statuses = await this.statuses()
      const live = statuses.filter((s): s is NodeStatusView => s !== undefined)
      maxHeight = Math.max(maxHeight, ...live.map((s) => s.height))
      this.samples.push({ atMs: this.elapsedMs(), height: maxHeight })
      const window = Math.max(0, ...live.map((s) => s.window ?? 0))
      // Faults whose time has come.
      while (pending.length > 0) {
        const f = pending[0] as FaultPlan
        const at = f.at as { height?: number; ms?: number; afterMs?: number }
        const spaced =
          at.height === undefined || lastFire === undefined || maxHeight - lastFire.height >= at.height - lastFire.at
        const due =
          (at.height !== undefined && maxHeight >= at.height && spaced) ||
          (at.ms !== undefined && this.elapsedMs() >= at.ms) ||
          (at.afterMs !== undefined && this.elapsedMs() - lastFireMs >= at.afterMs)
        if (!due) break
        pending.shift()
        lastFireMs = this.elapsedMs()
        if (at.height !== undefined) lastFire = { height: maxHeight, at: at.height }
        this.faults.push(await this.fire(f, maxHeight))
      }
      const serving = this.lastStatuses.find((s) => s?.roles.includes('serving'))
      const losses = serving?.loss ?? []
      const claims = window > 0 ? await this.claims(window) : []
      const submissions = claims.filter((c) => c.kind === 'submission')
      this.options.onProgress?.({
        elapsedMs: this.elapsedMs(),
        stage: 'run',
        height: maxHeight,
        window,
        windows: t.run.windows,
        loss: losses.at(-1)?.loss ?? null,
        submissions: submissions.length,
        challenges: submissions.filter((c) => c.status === 'challenged').length,
        slashed: submissions.filter((c) => c.status === 'slashed').length,
        nodes: this.nodes.map((n, i) => ({
          name: n.name,
          up: n.running && !n.paused,
          height: statuses[i]?.height ?? null,
          peers: statuses[i]?.peers ?? null,
        })),
      })
      // Done once the planned number of windows has trained (an aggregate on chain: the
      // model moved, unless the aggregate is then disputed and, if wrong, undone), with every
      // fault fired. Windows that open while nodes are still starting may train nothing;
      // they do not count.
      const trained = new Set(claims.filter((c) => c.kind === 'aggregate').map((c) => c.window))
      if (pending.length === 0 && trained.size >= t.run.windows) return true
      await sleep(this.options.clock, 1000, undefined, { keepAlive: true })
    }
    return false
  }

  async fire(f: FaultPlan, height: number): Promise<FaultRecord> {
    let targets = [...f.nodes]
    if (f.proposer) {
      // The validator that proposed the latest block, as the chain recorded it.
      const r = await this.reader()
      const last =
        (await r?.get<{ proposer: string }[]>(
          `/chain/history?from=${Math.max(1, height)}&to=${Math.max(1, height)}`,
        )) ?? []
      const node = this.nodes.find((n) => n.layout.address === last[0]?.proposer)
      if (node !== undefined) targets.push(node.name)
    }
    targets = [...new Set(targets)]
    const byName = (name: string): NodeProcess | undefined => this.nodes.find((n) => n.name === name)
    this.options.onStage?.(
      'fault',
      `${f.action} ${targets.join(',') || (f.groups ?? []).map((g) => g.join(',')).join(' | ')}`,
    )
    switch (f.action) {
      case 'kill':
        await Promise.all(targets.map((t) => byName(t)?.kill()))
        break
      case 'pause':
        for (const t of targets) byName(t)?.pause()
        break
      case 'resume':
        for (const n of targets.length > 0 ? targets.map(byName) : this.nodes) n?.resume()
        break
      case 'restart':
        for (const n of targets.length > 0 ? targets.map(byName) : this.nodes.filter((m) => !m.running))
          await n?.restart().catch((error: unknown) => this.options.onStage?.('fault', (error as Error).message))
        break
      case 'disconnect':
        for (const t of targets) {
          const others = this.nodes.filter((n) => n.name !== t).map((n) => n.layout.peerId)
          await byName(t)?.post('/admin/faults', { action: 'disconnect', peers: others })
        }
        break
      case 'partition': {
        const groups = f.groups ?? [targets, this.nodes.map((n) => n.name).filter((n) => !targets.includes(n))]
        for (const g of groups) {
          const others = this.nodes.filter((n) => !g.includes(n.name)).map((n) => n.layout.peerId)
          await Promise.all(
            g.map((name) => byName(name)?.post('/admin/faults', { action: 'partition', peers: others })),
          )
        }
        break
      }
      case 'heal':
        await Promise.all(this.nodes.map((n) => n.post('/admin/faults', { action: 'heal' })))
        break
      case 'clockSkew':
        await Promise.all(
          targets.map((t) => byName(t)?.post('/admin/faults', { action: 'clockSkew', ms: f.skewMs ?? 0 })),
        )
        break
    }
    return { fault: f, firedAtMs: this.elapsedMs(), heightAtFire: height, targets }
  }

  /**
   * After the run: poll until the chain has committed `blocks` more blocks than at the last
   * fault, and the verification game has played out for what the run trained: every claim's
   * challenge period is over and no challenge is open. Gives up after `boundMs`; returns
   * whether it got there.
   */
  async settle(blocks: number, boundMs: number): Promise<boolean> {
    const from = this.faults.at(-1)?.heightAtFire ?? 0
    const until = this.elapsedMs() + boundMs
    // The windows the run trained: those closed when it ended (later ones keep coming).
    const reader = await this.reader()
    const trained = ((await reader?.get<{ id: number }>('/query/window'))?.id ?? 1) - 1
    while (this.elapsedMs() < until) {
      if (this.options.signal?.aborted === true) return false
      const live = (await this.statuses()).filter((s): s is NodeStatusView => s !== undefined)
      const height = Math.max(0, ...live.map((s) => s.height))
      this.samples.push({ atMs: this.elapsedMs(), height })
      if (height >= from + blocks && (await this.#disputesSettled(height, trained))) return true
      await sleep(this.options.clock, 1000, undefined, { keepAlive: true })
    }
    return false
  }

  async #disputesSettled(height: number, upToWindow: number): Promise<boolean> {
    const open = await (await this.reader())?.get<unknown[]>('/query/challenges')
    if (open === undefined || open.length > 0) return false
    const claims = await this.claims(Math.max(0, upToWindow))
    if (!claims.every((c) => c.kind !== 'submission' || c.challengeUntil < height)) return false
    // A window whose aggregate was slashed is redone by the next aggregator drawn: wait for it.
    const aggregations = await (await this.reader())?.get<Aggregation[]>('/query/aggregations')
    if (aggregations === undefined) return false
    return !aggregations.some(
      (a) => a.window <= upToWindow && a.attempt > 0 && (a.stage === 'waiting' || a.stage === 'due'),
    )
  }

  /**
   * Block and app hashes per height from every node that answers, page by page (a node answers
   * at most MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST heights a request); a node that stops
   * answering midway is left out.
   */
  async histories(): Promise<Map<string, ChainHistoryRow[]>> {
    type Entry = ChainHistoryRow
    const out = new Map<string, Entry[]>()
    const page = MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST
    for (const n of this.nodes) {
      const top = (await n.get<{ height: number }>('/status', 10_000))?.height
      if (top === undefined) continue
      const entries: Entry[] = []
      let from = 1
      for (; from <= top; from += page) {
        const h = await n.get<Entry[]>(`/chain/history?from=${from}&to=${Math.min(top, from + page - 1)}`, 10_000)
        if (h === undefined) break
        entries.push(...h)
      }
      if (from > top) out.set(n.name, entries)
    }
    return out
  }

  async stop(): Promise<void> {
    this.options.onStage?.('stop', `${this.nodes.filter((n) => n.running).length} running`)
    await Promise.all(this.nodes.map((n) => n.stop()))
  }

  cleanup(): void {
    if (this.options.keep === true || this.layout === undefined) return
    this.options.onStage?.('cleanup', this.layout.dir)
    rmSync(this.layout.dir, { recursive: true, force: true, maxRetries: 3 })
  }
}

/**
 * All stages in order; the nodes are stopped whatever happens. With `chaos`, the network is
 * then given time to settle after its last fault and the invariants are checked before the
 * nodes stop.
 */
export async function runTestnet(
  plan: NetworkPlan,
  options: TestnetOptions & { readonly chaos?: boolean },
): Promise<TestnetRun> {
  const net = new Testnet(plan, options)
  options.onTestnet?.(net)
  const layout = await net.setup()
  try {
    await net.start()
    const finished = await net.run()
    let invariants: InvariantResult[] | undefined
    if (options.chaos === true && options.signal?.aborted !== true) {
      const t = plan.topology
      options.onStage?.('settle', `${t.run.recoveryBlocks} blocks after the last fault, disputes played out`)
      const p = t.chain.params
      const gameBlocks =
        p.challengePeriodBlocks + p.l2DeadlineBlocks + p.appealBlocks + p.l3DeadlineBlocks + p.windowBlocks
      await net.settle(t.run.recoveryBlocks, Math.max(t.run.recoveryBlocks, gameBlocks) * p.blockTimeMs * 4 + 30_000)
      options.onStage?.('check', 'invariants')
      invariants = await checkInvariants(net, net.samples)
      options.onInvariants?.(invariants)
    }
    const report = await buildReport(net, finished)
    const history = await net.histories()
    return {
      layout,
      report,
      faults: net.faults,
      nodes: net.nodes,
      history,
      interrupted: options.signal?.aborted === true,
      ...(invariants === undefined ? {} : { invariants }),
    }
  } finally {
    await net.stop()
    net.destroyHosts()
    net.cleanup()
  }
}
