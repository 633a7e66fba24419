/**
 * Polls the nodes a dashboard follows and keeps the page's picture of the network: every
 * node's status and last block times, and from the first validator that answers (the chain is
 * the same on every node) the current window's tasks, commits and claims, the disputes, the
 * supply; the serving node's held-out loss; and, for a testnet, what the run itself knows (its
 * stage, the faults fired, the invariants). A node that does not answer shows as down; when
 * none answers the chain queries the last chain view stays, marked stale.
 *
 * What it holds is bounded: DASHBOARD_HISTORY_POINTS per time series, MAX_DASHBOARD_DISPUTES
 * disputes, MAX_DASHBOARD_PIPELINES pipelines.
 */
import type { Clock } from '../runtime/clock.ts'
import { DASHBOARD_HISTORY_POINTS, MAX_DASHBOARD_DISPUTES, MAX_DASHBOARD_PIPELINES } from '../runtime/limits.ts'
import {
  type ChallengeAnswer,
  type ClaimAnswer,
  challengeAnswer,
  challengesAnswer,
  checked,
  claimAnswer,
  claimsAnswer,
  commitsAnswer,
  historyAnswer,
  type StatusAnswer,
  stakersAnswer,
  statusAnswer,
  supplyAnswer,
  type TaskAnswer,
  tasksAnswer,
  type WindowAnswer,
  windowAnswer,
} from './node-answers.ts'
import type { DashboardNode } from './node-source.ts'
import { unlabelledSamples } from './prometheus-samples.ts'
import type {
  ClaimCounts,
  DashboardSnapshot,
  DisputeView,
  FaultView,
  InvariantView,
  NodeView,
  PipelineView,
  WindowView,
} from './snapshot.ts'

/** What a testnet or chaos run tells the dashboard beyond its nodes' APIs. */
export interface RunFeed {
  /** The stage the run is in. */
  stage(): string | null
  /** Faults fired so far (chaos), oldest first. */
  faults(): readonly FaultView[]
  /** The invariants' results once checked (chaos), else undefined. */
  invariants(): readonly InvariantView[] | undefined
}

export interface CollectorInit {
  readonly title: string
  readonly kind: 'testnet' | 'chaos' | 'nodes'
  /** The nodes, or a function giving them (a testnet's are known only after its setup). */
  readonly nodes: readonly DashboardNode[] | (() => readonly DashboardNode[])
  readonly run?: RunFeed
  /** @default DASHBOARD_HISTORY_POINTS */
  readonly historyPoints?: number
}

export interface CollectorComponents {
  readonly clock: Clock
}

/** Windows whose claim counts the page lists: the current one and the two before it (disputes land after a window closes). */
const CLAIM_WINDOWS = 3

/** `/metrics` is read every this many polls: a scrape is large next to a status. */
const METRICS_EVERY_POLLS = 5
const MEMORY_SAMPLE = 'process_resident_memory_bytes'
const LAG_SAMPLE = 'nodejs_eventloop_lag_p99_seconds'

/** The span over which tokens per second is measured. */
const TOKEN_RATE_SPAN_MS = 10_000

/** Keep the last `max` entries of `series` (in place). */
export function pushBounded<T>(series: T[], point: T, max: number): void {
  series.push(point)
  if (series.length > max) series.splice(0, series.length - max)
}

/**
 * Which replica sends activations to which between two neighbouring stages of a pipeline
 * (actors/training/pipeline.ts): replica i sends to replica i mod n of the next task, and every
 * replica of the next task hears from its partner j mod m.
 */
export function pipelineLinks(
  from: readonly string[],
  to: readonly string[],
): { readonly from: string; readonly to: string }[] {
  const links = new Map<string, { from: string; to: string }>()
  const add = (a: string | undefined, b: string | undefined): void => {
    if (a !== undefined && b !== undefined) links.set(`${a}>${b}`, { from: a, to: b })
  }
  if (from.length === 0 || to.length === 0) return []
  for (const [i, m] of from.entries()) add(m, to[i % to.length])
  for (const [j, m] of to.entries()) add(from[j % from.length], m)
  return [...links.values()]
}

/** The claims of one window counted by status. */
export function countClaims(window: number, claims: readonly ClaimAnswer[]): ClaimCounts {
  const submissions = claims.filter((c) => c.kind === 'submission')
  const by = (status: string): number => submissions.filter((c) => c.status === status).length
  return {
    window,
    revealed: submissions.length,
    accepted: by('accepted'),
    flagged: by('flagged'),
    challenged: by('challenged'),
    slashed: claims.filter((c) => c.status === 'slashed').length,
    aggregates: claims.filter((c) => c.kind === 'aggregate').length,
  }
}

/** Who lost stake or bond over a dispute, as far as its record says. */
export function slashedBy(challenge: ChallengeAnswer, owner: string | null): string[] {
  const out = new Set<string>(challenge.penalized)
  if ((challenge.outcome === 'challenger' || challenge.outcome === 'unavailable') && owner !== null) out.add(owner)
  if (challenge.outcome === 'owner' && challenge.kind === 'fault') out.add(challenge.challenger)
  return [...out]
}

interface NodeRead {
  readonly node: DashboardNode
  readonly status: StatusAnswer | undefined
  readonly blocks: readonly { height: number; timeMs: number; proposer: string }[]
}

interface ChainView {
  readonly proposer: string | null
  readonly window: WindowView | null
  readonly claims: readonly ClaimCounts[]
  readonly supply: { minted: string; slashed: string } | null
}

export class DashboardCollector {
  readonly #init: CollectorInit
  readonly #c: CollectorComponents
  readonly #startedMs: number
  readonly #historyPoints: number
  readonly #heights: [number, number][] = []
  readonly #tokensPerSecond: [number, number][] = []
  /** Each node's tokens-trained counter at the last poll that had it, and when. */
  readonly #lastTokens = new Map<string, number>()
  /** Tokens trained over the network since the first poll. */
  #trainedTotal = 0
  /** [ms, #trainedTotal] over the last TOKEN_RATE_SPAN_MS (at least two points: bounded by the span). */
  readonly #trained: [number, number][] = []
  /** Disputes by id, newest last; a settled one is not read again. */
  readonly #disputes = new Map<string, DisputeView>()
  /** The next challenge id to look for (`ch-<n>`). */
  #nextChallenge = 0
  #chain: ChainView = { proposer: null, window: null, claims: [], supply: null }
  #loss: DashboardSnapshot['loss'] = []
  #maxHeight = 0
  #polls = 0
  /** Each node's address and roles as it last answered (one entry per node followed). */
  readonly #identities = new Map<string, { address: string; roles: readonly string[] }>()
  /** Each node's process figures from its last `/metrics` read (one entry per node followed). */
  readonly #process = new Map<string, { memoryBytes: number | null; eventLoopLagMs: number | null }>()

  constructor(init: CollectorInit, components: CollectorComponents) {
    this.#init = init
    this.#c = components
    this.#startedMs = components.clock.monotonicMs()
    this.#historyPoints = init.historyPoints ?? DASHBOARD_HISTORY_POINTS
  }

  #nodes(): readonly DashboardNode[] {
    const nodes = this.#init.nodes
    return typeof nodes === 'function' ? nodes() : nodes
  }

  /** Read every node once and return the page's new picture. */
  async poll(): Promise<DashboardSnapshot> {
    const reads = await Promise.all(this.#nodes().map((node) => this.#readNode(node)))
    if (this.#polls++ % METRICS_EVERY_POLLS === 0)
      await Promise.all(reads.filter((r) => r.status !== undefined).map((r) => this.#readMetrics(r.node)))
    const nowMs = this.#c.clock.monotonicMs()
    const seconds = Math.round((nowMs - this.#startedMs) / 100) / 10
    const names = new Map<string, string>()
    for (const r of reads)
      if (r.status !== undefined)
        this.#identities.set(r.node.name, { address: r.status.address, roles: r.status.roles })
    // A node that is down keeps the address and roles it last answered with: the page still names it.
    for (const [name, { address }] of this.#identities) names.set(address, name)
    const live = reads.filter((r) => r.status !== undefined)
    this.#maxHeight = Math.max(this.#maxHeight, ...live.map((r) => r.status?.height ?? 0))
    pushBounded(this.#heights, [seconds, this.#maxHeight], this.#historyPoints)
    this.#recordTokens(reads, nowMs, seconds)
    const serving = live.find((r) => r.status?.roles.includes('serving'))
    if (serving?.status?.loss !== undefined)
      this.#loss = serving.status.loss
        .slice(-this.#historyPoints)
        .map((l) => ({ window: l.window, height: l.height, loss: l.loss }))
    const reader =
      live.find((r) => r.status?.roles.includes('validator')) ??
      live.find((r) => r.status?.roles.includes('serving')) ??
      live[0]
    let chainStale = true
    if (reader !== undefined) {
      const chain = await this.#readChain(reader, names)
      if (chain !== undefined) {
        this.#chain = chain
        chainStale = false
      }
    }
    const run = this.#init.run
    return {
      title: this.#init.title,
      kind: this.#init.kind,
      elapsedMs: Math.round(nowMs - this.#startedMs),
      stage: run?.stage() ?? null,
      height: this.#maxHeight,
      proposer: this.#chain.proposer,
      nodes: reads.map((r) =>
        nodeView(
          r,
          this.#identities.get(r.node.name),
          r.status === undefined ? undefined : this.#process.get(r.node.name),
        ),
      ),
      window: this.#chain.window,
      claims: this.#chain.claims,
      disputes: [...this.#disputes.values()].reverse(),
      supply: this.#chain.supply,
      loss: this.#loss,
      tokensPerSecond: [...this.#tokensPerSecond],
      heights: [...this.#heights],
      faults: run === undefined || this.#init.kind !== 'chaos' ? null : [...run.faults()],
      invariants: run?.invariants()?.slice() ?? null,
      chainStale,
    }
  }

  async #readNode(node: DashboardNode): Promise<NodeRead> {
    const status = checked(statusAnswer, await node.get('/status'))
    if (status === undefined || status.height === 0) return { node, status, blocks: [] }
    const from = Math.max(1, status.height - 1)
    const blocks = checked(historyAnswer, await node.get(`/chain/history?from=${from}&to=${status.height}`)) ?? []
    return { node, status, blocks }
  }

  async #readMetrics(node: DashboardNode): Promise<void> {
    const text = await node.getText?.('/metrics')
    if (text === undefined) return
    const samples = unlabelledSamples(text, [MEMORY_SAMPLE, LAG_SAMPLE])
    const lag = samples.get(LAG_SAMPLE)
    this.#process.set(node.name, {
      memoryBytes: samples.get(MEMORY_SAMPLE) ?? null,
      eventLoopLagMs: lag === undefined ? null : Math.round(lag * 10_000) / 10,
    })
  }

  /**
   * Network-wide tokens trained per second over the last TOKEN_RATE_SPAN_MS, from each node's
   * counter (a node adds its tokens when a stage's pass ends, so a rate between two polls would
   * jump between zero and peaks).
   */
  #recordTokens(reads: readonly NodeRead[], nowMs: number, seconds: number): void {
    for (const r of reads) {
      const now = r.status?.metrics?.tokensTrained
      if (now === undefined) continue
      const before = this.#lastTokens.get(r.node.name)
      // A restarted node counts from zero again: all it has is new.
      if (before !== undefined) this.#trainedTotal += now >= before ? now - before : now
      this.#lastTokens.set(r.node.name, now)
    }
    this.#trained.push([nowMs, this.#trainedTotal])
    while (this.#trained.length > 2 && nowMs - (this.#trained[1] as [number, number])[0] >= TOKEN_RATE_SPAN_MS)
      this.#trained.shift()
    const [fromMs, fromTotal] = this.#trained[0] as [number, number]
    if (nowMs <= fromMs) return
    const rate = Math.round(((this.#trainedTotal - fromTotal) * 1000) / (nowMs - fromMs))
    pushBounded(this.#tokensPerSecond, [seconds, rate], this.#historyPoints)
  }

  async #readChain(reader: NodeRead, names: ReadonlyMap<string, string>): Promise<ChainView | undefined> {
    const get = (path: string): Promise<unknown> => reader.node.get(path)
    const current = await get('/query/window')
    if (current === undefined) return undefined
    const window = checked(windowAnswer, current) ?? null
    const proposerAddress = reader.blocks.at(-1)?.proposer ?? null
    const proposer = proposerAddress === null ? null : (names.get(proposerAddress) ?? proposerAddress)
    const claims: ClaimCounts[] = []
    let windowView: WindowView | null = null
    if (window !== null) {
      for (let w = window.id; w >= Math.max(0, window.id - CLAIM_WINDOWS + 1); w--) {
        const answered = checked(claimsAnswer, await get(`/query/claims/${w}`))
        if (answered === undefined) continue
        claims.push(countClaims(w, answered))
        if (w === window.id) windowView = await this.#windowView(reader.node, window, answered)
      }
    }
    await this.#readDisputes(reader.node)
    const supply = checked(supplyAnswer, await get('/query/supply')) ?? null
    return {
      proposer,
      window: windowView,
      claims,
      supply: supply === null ? null : { minted: supply.minted, slashed: supply.slashed },
    }
  }

  async #windowView(node: DashboardNode, window: WindowAnswer, claims: readonly ClaimAnswer[]): Promise<WindowView> {
    const tasks = checked(tasksAnswer, await node.get(`/query/tasks/${window.id}`)) ?? []
    const shards = [...new Set(tasks.map((t) => t.shard))].sort((a, b) => a - b)
    const shown = shards.slice(0, MAX_DASHBOARD_PIPELINES)
    const byTask = new Map<string, Record<string, string>>()
    for (const c of claims)
      if (c.taskId !== null) byTask.set(c.taskId, { ...(byTask.get(c.taskId) ?? {}), [c.owner]: c.status })
    let commits = 0
    const pipelines: PipelineView[] = []
    for (const shard of shown) {
      const path = tasks.filter((t) => t.shard === shard).sort((a, b) => a.subnet - b.subnet)
      const stages = []
      for (const task of path) {
        const committed = checked(commitsAnswer, await node.get(`/query/commits/${encodeURIComponent(task.id)}`)) ?? []
        commits += committed.length
        stages.push({
          subnet: task.subnet,
          taskId: task.id,
          miners: task.miners,
          committed,
          claims: byTask.get(task.id) ?? {},
        })
      }
      pipelines.push({ shard, stages, links: linksOf(path) })
    }
    return {
      id: window.id,
      openHeight: window.openHeight,
      closeHeight: window.closeHeight,
      aggregator: window.aggregator,
      tasks: tasks.length,
      commits,
      reveals: claims.filter((c) => c.kind === 'submission').length,
      pipelines,
      pipelinesNotShown: shards.length - shown.length,
    }
  }

  /** New challenges (`ch-<n>` on from the last one seen) and the open ones again; settled ones stay as they were. */
  async #readDisputes(node: DashboardNode): Promise<void> {
    const open = checked(challengesAnswer, await node.get('/query/challenges')) ?? []
    const found: ChallengeAnswer[] = [...open]
    // At most a page's worth of new ids a poll: a node that answers for every id is not followed forever.
    for (let probed = 0; probed < MAX_DASHBOARD_DISPUTES; probed++) {
      const next = checked(challengeAnswer.nullable(), await node.get(`/query/challenge/ch-${this.#nextChallenge}`))
      if (next === null || next === undefined) {
        // A pruned or unreadable id: skip to the oldest open one past it, if any.
        const ahead = open.map((c) => challengeNumber(c.id)).filter((n) => n > this.#nextChallenge)
        if (next === undefined && ahead.length > 0) {
          this.#nextChallenge = Math.min(...ahead)
          continue
        }
        break
      }
      found.push(next)
      this.#nextChallenge++
    }
    // Those open at the last poll that are open no more: read their end (upheld, rejected, lapsed).
    const seen = new Set(found.map((c) => c.id))
    for (const d of this.#disputes.values()) {
      if (seen.has(d.id) || (d.stage !== 'l2' && d.stage !== 'appealable' && d.stage !== 'l3')) continue
      const settled = checked(challengeAnswer.nullable(), await node.get(`/query/challenge/${d.id}`))
      if (settled !== null && settled !== undefined) found.push(settled)
    }
    if (found.length === 0) return
    // The newest only: more than the page lists would be read for nothing.
    found.sort((a, b) => challengeNumber(a.id) - challengeNumber(b.id))
    found.splice(0, Math.max(0, found.length - MAX_DASHBOARD_DISPUTES))
    const stakers = checked(stakersAnswer, await node.get('/query/stakers')) ?? []
    const stakeOf = new Map(stakers.map((s) => [s.address, s.stake]))
    for (const c of found) {
      const known = this.#disputes.get(c.id)
      const owner =
        known?.owner ?? checked(claimAnswer, await node.get(`/query/claim/${encodeURIComponent(c.claimId)}`))?.owner
      const parties = [owner, c.challenger, c.verifier, ...c.panel].filter((p): p is string => typeof p === 'string')
      this.#disputes.delete(c.id)
      this.#disputes.set(c.id, {
        id: c.id,
        kind: c.kind,
        claimId: c.claimId,
        owner: owner ?? null,
        challenger: c.challenger,
        bond: c.bond,
        stage: c.stage,
        attempt: c.attempt,
        verifier: c.verifier,
        panel: c.panel,
        votes: c.votes,
        outcome: c.outcome,
        openedHeight: c.openedHeight,
        settledHeight: c.settledHeight,
        slashed: slashedBy(c, owner ?? null),
        stakes: Object.fromEntries(parties.flatMap((p) => (stakeOf.has(p) ? [[p, stakeOf.get(p) as string]] : []))),
      })
    }
    // Newest by id last; drop the oldest past the bound.
    const ordered = [...this.#disputes.values()].sort((a, b) => challengeNumber(a.id) - challengeNumber(b.id))
    this.#disputes.clear()
    for (const d of ordered.slice(-MAX_DASHBOARD_DISPUTES)) this.#disputes.set(d.id, d)
  }
}

/** The n of a challenge id `ch-<n>` (-1 for an id not of that form). */
function challengeNumber(id: string): number {
  const match = /^ch-(0|[1-9][0-9]{0,15})$/.exec(id)
  return match === null ? -1 : Number(match[1])
}

function linksOf(path: readonly TaskAnswer[]): PipelineView['links'] {
  const out: { from: string; to: string; fromSubnet: number }[] = []
  for (let i = 0; i + 1 < path.length; i++) {
    const a = path[i] as TaskAnswer
    const b = path[i + 1] as TaskAnswer
    for (const l of pipelineLinks(a.miners, b.miners)) out.push({ ...l, fromSubnet: a.subnet })
  }
  return out
}

function nodeView(
  r: NodeRead,
  identity: { address: string; roles: readonly string[] } | undefined,
  process: { memoryBytes: number | null; eventLoopLagMs: number | null } | undefined,
): NodeView {
  const s = r.status
  const [before, last] = r.blocks.length >= 2 ? r.blocks.slice(-2) : [undefined, r.blocks.at(-1)]
  return {
    name: r.node.name,
    up: s !== undefined,
    address: identity?.address ?? null,
    roles: identity?.roles ?? [],
    height: s?.height ?? null,
    window: s?.window ?? null,
    peers: s?.peers ?? null,
    round: s?.round ?? null,
    blockIntervalMs: before !== undefined && last !== undefined ? last.timeMs - before.timeMs : null,
    lastBlockTimeMs: last?.timeMs ?? null,
    tokensTrained: s?.metrics?.tokensTrained ?? null,
    memoryBytes: process?.memoryBytes ?? null,
    eventLoopLagMs: process?.eventLoopLagMs ?? null,
  }
}
