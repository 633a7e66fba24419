/**
 * The figures of `npm run bench -- training` computed from what the two runs recorded: the
 * four measures with their goals, the tokens that reached the model from the chain's claims,
 * the chain bytes a submission costs from the blocks' transactions, and the two held-out loss
 * curves as a small SVG chart. Pure functions, so they are tested on their own
 * (test/unit/bench/training-measures.test.ts).
 */
import type { Claim } from '../src/chain/state.ts'

/** One held-out evaluation: seconds since the run began (training time for the central run). */
export interface LossPoint {
  readonly seconds: number
  readonly loss: number
}

export interface Measure {
  /** null: not measured (the run produced nothing to measure it from). */
  readonly value: number | null
  readonly goal: string
  readonly pass: boolean
}

const atLeast = (value: number | null, goal: number): Measure => ({
  value,
  goal: `≥ ${goal}`,
  pass: value !== null && value >= goal,
})
const atMost = (value: number | null, goal: number, shown = String(goal)): Measure => ({
  value,
  goal: `≤ ${shown}`,
  pass: value !== null && value <= goal,
})
const below = (value: number | null, goal: number): Measure => ({
  value,
  goal: `< ${goal}`,
  pass: value !== null && value < goal,
})

/** First evaluation minus last (positive: the model got better); null from fewer than two. */
export function lossDrop(curve: readonly LossPoint[]): number | null {
  const first = curve[0]
  const last = curve.at(-1)
  return curve.length < 2 || first === undefined || last === undefined ? null : first.loss - last.loss
}

export interface MeasureInputs {
  /**
   * Whole-model tokens per second the miners trained (a token crosses every stage of its path;
   * replicas of a task each count): the "tokens trained by the testnet's miners".
   */
  readonly networkTokensPerSecond: number
  /** Whole-model tokens per second that reached the network's model (distinct tasks, aggregated). */
  readonly modelTokensPerSecond: number
  readonly centralTokensPerSecond: number
  readonly networkLossDrop: number | null
  readonly centralLossDrop: number | null
  /** Each miner's backbone bytes fetched over the whole backbone's bytes. */
  readonly minerDownloadFractions: readonly number[]
  readonly subnets: number
  /** null: no submission was revealed. */
  readonly chainBytesPerSubmission: number | null
}

export interface TrainingMeasures {
  readonly networkVsCentralTokens: Measure
  /** The same over the distinct tokens that reached the model: replication and settling lag cost this. */
  readonly modelTokensVsCentral: Measure
  readonly lossDropVsCentral: Measure
  readonly downloadPerMinerVsModel: Measure
  readonly chainBytesPerSubmission: Measure
}

export function trainingMeasures(m: MeasureInputs): TrainingMeasures {
  const ratio = (a: number | null, b: number | null): number | null =>
    a === null || b === null || !(b > 0) ? null : a / b
  return {
    networkVsCentralTokens: atLeast(ratio(m.networkTokensPerSecond, m.centralTokensPerSecond), 0.5),
    modelTokensVsCentral: atLeast(ratio(m.modelTokensPerSecond, m.centralTokensPerSecond), 0.5),
    lossDropVsCentral: atLeast(ratio(m.networkLossDrop, m.centralLossDrop), 0.5),
    downloadPerMinerVsModel: atMost(
      m.minerDownloadFractions.length === 0 ? null : Math.max(...m.minerDownloadFractions),
      1 / m.subnets,
      `1/${m.subnets}`,
    ),
    chainBytesPerSubmission: below(m.chainBytesPerSubmission, 512),
  }
}

export interface TokensReached {
  /** Aggregates on chain that were not slashed. */
  readonly aggregates: number
  /** Distinct tasks those aggregates took in (replicas of a task count once). */
  readonly tasks: number
  /** Submissions those aggregates took in (each replica counted). */
  readonly submissions: number
  /** tasks × tokens a task, summed over subnets, over the subnets: whole-model tokens. */
  readonly modelTokens: number
}

/**
 * The tokens that reached the model: the tasks every aggregate on chain took in (one task's
 * replicas trained the same tokens: counted once), each task's tokens; a token passes through
 * every subnet (pipeline stage) of its path, so the whole-model figure divides by the subnets.
 */
export function tokensReached(claims: readonly Claim[], tokensPerTask: number, subnets: number): TokensReached {
  const byId = new Map(claims.map((c) => [c.id, c]))
  const aggregates = claims.filter((c) => c.kind === 'aggregate' && c.status !== 'slashed')
  const tasks = new Set<string>()
  let submissions = 0
  for (const a of aggregates)
    for (const id of a.claims) {
      const taskId = byId.get(id)?.taskId
      if (taskId === null || taskId === undefined) continue
      submissions++
      tasks.add(taskId)
    }
  return {
    aggregates: aggregates.length,
    tasks: tasks.size,
    submissions,
    modelTokens: (tasks.size * tokensPerTask) / subnets,
  }
}

export interface SubmissionBytes {
  readonly commits: number
  readonly reveals: number
  readonly commitBytes: number
  readonly revealBytes: number
  /** (commit + reveal bytes) / reveals; null when nothing was revealed. */
  readonly perSubmission: number | null
}

/** Chain bytes of submissions: every commit and reveal transaction, as encoded in the blocks. */
export function submissionBytes(txs: readonly { readonly type: string; readonly bytes: number }[]): SubmissionBytes {
  const sum = (type: string) => txs.filter((t) => t.type === type).reduce((n, t) => n + t.bytes, 0)
  const commits = txs.filter((t) => t.type === 'commit').length
  const reveals = txs.filter((t) => t.type === 'reveal').length
  const commitBytes = sum('commit')
  const revealBytes = sum('reveal')
  return {
    commits,
    reveals,
    commitBytes,
    revealBytes,
    perSubmission: reveals === 0 ? null : (commitBytes + revealBytes) / reveals,
  }
}

const WIDTH = 640
const HEIGHT = 360
const PAD = { left: 64, right: 16, top: 32, bottom: 48 }

/**
 * The two held-out loss curves against minutes, as plain SVG text: a charting library would
 * need a browser (or a canvas build) to draw, for two polylines and their axes.
 */
export function lossChartSvg(
  curves: readonly { readonly name: string; readonly color: string; readonly points: readonly LossPoint[] }[],
  title: string,
): string {
  const all = curves.flatMap((c) => c.points)
  const maxMinutes = Math.max(1 / 60, ...all.map((p) => p.seconds / 60))
  const losses = all.map((p) => p.loss)
  let lo = losses.length === 0 ? 0 : Math.min(...losses)
  let hi = losses.length === 0 ? 1 : Math.max(...losses)
  if (hi - lo < 1e-6) {
    lo -= 0.005
    hi += 0.005
  }
  const margin = (hi - lo) * 0.05
  lo -= margin
  hi += margin
  const plotW = WIDTH - PAD.left - PAD.right
  const plotH = HEIGHT - PAD.top - PAD.bottom
  const x = (minutes: number): number => PAD.left + (minutes / maxMinutes) * plotW
  const y = (loss: number): number => PAD.top + ((hi - loss) / (hi - lo)) * plotH
  const f = (v: number): string => v.toFixed(1)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
    `<line x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${PAD.left + plotW}" y2="${PAD.top + plotH}" stroke="black"/>`,
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + plotH}" stroke="black"/>`,
  ]
  for (let i = 0; i <= 4; i++) {
    const minutes = (maxMinutes * i) / 4
    const loss = lo + ((hi - lo) * i) / 4
    out.push(
      `<text x="${f(x(minutes))}" y="${PAD.top + plotH + 16}" text-anchor="middle">${minutes.toFixed(1)}</text>`,
      `<text x="${PAD.left - 6}" y="${f(y(loss) + 4)}" text-anchor="end">${loss.toFixed(3)}</text>`,
      `<line x1="${PAD.left}" y1="${f(y(loss))}" x2="${PAD.left + plotW}" y2="${f(y(loss))}" stroke="#ddd"/>`,
    )
  }
  out.push(
    `<text x="${PAD.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">minutes</text>`,
    `<text x="14" y="${PAD.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${PAD.top + plotH / 2})">held-out loss (nats/byte)</text>`,
  )
  curves.forEach((c, i) => {
    const pts = c.points.map((p) => `${f(x(p.seconds / 60))},${f(y(p.loss))}`).join(' ')
    if (c.points.length > 0) out.push(`<polyline fill="none" stroke="${c.color}" stroke-width="2" points="${pts}"/>`)
    for (const p of c.points)
      out.push(`<circle cx="${f(x(p.seconds / 60))}" cy="${f(y(p.loss))}" r="2.5" fill="${c.color}"/>`)
    const ly = PAD.top + 14 + 16 * i
    out.push(
      `<line x1="${PAD.left + plotW - 170}" y1="${ly - 4}" x2="${PAD.left + plotW - 150}" y2="${ly - 4}" stroke="${c.color}" stroke-width="2"/>`,
      `<text x="${PAD.left + plotW - 144}" y="${ly}">${escapeXml(c.name)}</text>`,
    )
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
