/**
 * The end-of-run report, read from the nodes: blocks, windows, held-out loss per window,
 * submissions and their verification, rewards and slashes, bytes moved, and the sharding
 * saving (what miners fetched against each downloading the whole backbone).
 */
import { fullBackboneBytes } from '../actors/training/model-store.ts'
import type { Challenge, Claim } from '../chain/state.ts'
import type { Testnet } from './testnet.ts'

export interface TestnetReport {
  readonly name: string
  readonly seed: number
  readonly finished: boolean
  readonly elapsedMs: number
  readonly blocks: number
  /** Windows whose aggregate moved the model pointer. */
  readonly windows: number
  /** Held-out loss (nats/token): the initial model first, then after each move of the pointer. */
  readonly lossPerWindow: readonly { window: number; height: number; loss: number }[]
  /** What the run took off the held-out loss: its first evaluation against its last (null: fewer than two). */
  readonly lossDrop: LossDrop | null
  readonly submissions: {
    readonly total: number
    readonly accepted: number
    readonly flagged: number
    /** Of those flagged: revealed after the same CID was public (a copy, or a replica too late to commit). */
    readonly flaggedCopied: number
    /** Of those flagged: outvoted by, or tied with, the task's other replicas at L1. */
    readonly flaggedMismatch: number
    readonly challenged: number
    readonly slashed: number
  }
  readonly challenges: {
    readonly total: number
    /** Ruled a fault. */
    readonly upheld: number
    /** Ruled 'unavailable': the owner withheld the content (a challenge's or an availability dispute's). */
    readonly unavailable: number
    readonly rejected: number
    readonly lapsed: number
    /** Of all: availability disputes the chain opened for work an aggregate left out. */
    readonly availability: number
  }
  readonly supply: { readonly minted: string; readonly slashed: string }
  readonly honestSlashed: number
  readonly cheatersSlashed: number
  readonly cheaters: readonly string[]
  readonly bytesMoved: number
  readonly sharding: {
    readonly minerBackboneBytes: number
    readonly fullModelBytes: number
    /** 1 − fetched / (miners × whole model). */
    readonly saving: number
  }
}

export interface LossDrop {
  readonly first: number
  readonly last: number
  /** first − last, nats/byte: positive when the model got better. */
  readonly drop: number
  /** drop / first. */
  readonly relative: number
}

/** The held-out loss drop over a run, from its first and last evaluations. */
export function lossDropOf(losses: readonly { readonly loss: number }[]): LossDrop | null {
  const first = losses[0]?.loss
  const last = losses.at(-1)?.loss
  if (losses.length < 2 || first === undefined || last === undefined) return null
  return { first, last, drop: first - last, relative: (first - last) / first }
}

export async function buildReport(net: Testnet, finished: boolean): Promise<TestnetReport> {
  const layout = net.layout
  if (layout === undefined) throw new Error('no testnet layout')
  const answered = await net.statuses()
  const statuses = answered.map((s, i) => s ?? net.lastStatuses[i])
  const reader = await net.reader()
  const window = (await reader?.get<{ id: number }>('/query/window'))?.id ?? 0
  const claims = await net.claims(window)
  const submissions = claims.filter((c: Claim) => c.kind === 'submission')
  const aggregates = claims.filter((c: Claim) => c.kind === 'aggregate')
  const challenges: Challenge[] = []
  for (let i = 0; ; i++) {
    const c = await reader?.get<Challenge | null>(`/query/challenge/ch-${i}`)
    if (c === undefined || c === null) break
    challenges.push(c)
  }
  const supply = (await reader?.get<{ minted: string; slashed: string }>('/query/supply')) ?? {
    minted: '0',
    slashed: '0',
  }
  const cheaters = layout.nodes.filter((n) => n.misbehaviours.length > 0).map((n) => n.address)
  // Submissions and aggregates alike: a wrong aggregate slashes its aggregator.
  const slashedOwners = claims.filter((c) => c.status === 'slashed').map((c) => c.owner)
  const serving = statuses.find((s) => s?.roles.includes('serving'))
  const metrics = statuses.map((s) => s?.metrics ?? {})
  const minerIdx = layout.nodes.map((n, i) => (n.roles.includes('miner') ? i : -1)).filter((i) => i >= 0)
  const minerBackboneBytes = minerIdx.reduce((n, i) => n + (metrics[i]?.backboneBytes ?? 0), 0)
  const fullModelBytes = fullBackboneBytes(layout.modelDir)
  const moved = metrics.reduce((n, m) => n + (m.backboneBytes ?? 0) + (m.adapterBytes ?? 0), 0)
  const heights = statuses.map((s) => s?.height ?? 0)
  const lossPerWindow = (serving?.loss ?? []).map((l) => ({ window: l.window, height: l.height, loss: l.loss }))
  return {
    name: net.plan.topology.name,
    seed: net.plan.topology.seed,
    finished,
    elapsedMs: Math.round(net.elapsedMs()),
    blocks: Math.max(0, ...heights),
    windows: new Set(aggregates.map((a) => a.window)).size,
    lossPerWindow,
    lossDrop: lossDropOf(lossPerWindow),
    submissions: {
      total: submissions.length,
      accepted: submissions.filter((c) => c.status === 'accepted').length,
      flagged: submissions.filter((c) => c.status === 'flagged').length,
      flaggedCopied: submissions.filter((c) => c.status === 'flagged' && c.flag === 'copied').length,
      flaggedMismatch: submissions.filter((c) => c.status === 'flagged' && c.flag === 'mismatch').length,
      challenged: submissions.filter((c) => c.status === 'challenged').length,
      slashed: submissions.filter((c) => c.status === 'slashed').length,
    },
    challenges: {
      total: challenges.length,
      upheld: challenges.filter((c) => c.outcome === 'challenger').length,
      unavailable: challenges.filter((c) => c.outcome === 'unavailable').length,
      rejected: challenges.filter((c) => c.outcome === 'owner').length,
      lapsed: challenges.filter((c) => c.outcome === 'lapsed').length,
      availability: challenges.filter((c) => c.kind === 'availability').length,
    },
    supply,
    honestSlashed: slashedOwners.filter((o) => !cheaters.includes(o)).length,
    cheatersSlashed: new Set(slashedOwners.filter((o) => cheaters.includes(o))).size,
    cheaters,
    bytesMoved: moved,
    sharding: {
      minerBackboneBytes,
      fullModelBytes,
      saving: minerIdx.length === 0 ? 0 : 1 - minerBackboneBytes / (minerIdx.length * fullModelBytes),
    },
  }
}

export function formatReport(r: TestnetReport): string {
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`
  const losses = r.lossPerWindow.map((l) => l.loss.toFixed(4)).join(' → ')
  const d = r.lossDrop
  const drop =
    d === null
      ? 'held-out loss drop not measured (fewer than two evaluations)'
      : `held-out loss ${d.drop >= 0 ? 'down' : 'up'} ${Math.abs(d.drop).toFixed(4)} nats/byte (${(100 * Math.abs(d.relative)).toFixed(2)}%: ${d.first.toFixed(4)} → ${d.last.toFixed(4)})`
  return [
    `testnet ${r.name} (seed ${r.seed}): ${r.finished ? 'finished' : 'stopped early'} after ${(r.elapsedMs / 1000).toFixed(0)} s, ${drop}`,
    `  blocks ${r.blocks}, windows trained ${r.windows}`,
    `  held-out loss (nats/token): ${losses || 'not measured'}`,
    `  submissions ${r.submissions.total}: ${r.submissions.accepted} accepted, ${r.submissions.flagged} flagged (${r.submissions.flaggedCopied} as copies, ${r.submissions.flaggedMismatch} at L1), ${r.submissions.challenged} under challenge, ${r.submissions.slashed} slashed`,
    `  challenges ${r.challenges.total} (${r.challenges.availability} availability disputes): ${r.challenges.upheld} upheld, ${r.challenges.unavailable} ruled unavailable, ${r.challenges.rejected} rejected, ${r.challenges.lapsed} lapsed`,
    `  minted ${r.supply.minted} ur3mes, slashed ${r.supply.slashed} ur3mes; cheaters slashed ${r.cheatersSlashed}/${r.cheaters.length}, honest slashed ${r.honestSlashed}`,
    `  bytes moved (model pieces) ${r.bytesMoved}; miners fetched ${r.sharding.minerBackboneBytes} bytes of backbone vs ${r.sharding.fullModelBytes} each for the whole model: sharding saves ${pct(r.sharding.saving)}`,
  ].join('\n')
}
