/** A simulated run's report as text, and the `--until` events a run can stop at. */
import { InvalidArgumentError } from '../runtime/errors.ts'
import type { SimulationReport, StopCondition } from './simulation.ts'

/** `height:N`, `window:N`, `cheat-caught` or `violation`; anything else is refused, naming what is accepted. */
export function parseStopCondition(text: string): StopCondition {
  const [kind, value, ...rest] = text.split(':')
  const count = (): number => {
    const n = value !== undefined && /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN
    if (!Number.isSafeInteger(n) || rest.length > 0)
      throw new InvalidArgumentError(`--until ${text}: ${kind} needs a whole number, as in ${kind}:10`, {
        option: 'until',
      })
    return n
  }
  if (kind === 'height') return { kind: 'height', height: Math.max(1, count()) }
  if (kind === 'window') return { kind: 'window', window: count() }
  if (value === undefined && kind === 'cheat-caught') return { kind: 'cheat-caught' }
  if (value === undefined && kind === 'violation') return { kind: 'violation' }
  throw new InvalidArgumentError(`--until ${text}: the events are height:N, window:N, cheat-caught and violation`, {
    option: 'until',
  })
}

const fixed = (x: number, digits = 1): string => x.toFixed(digits)

/** The report's lines; `wallMs` (host time the run took) adds the speed. */
export function formatReport(r: SimulationReport, wallMs?: number): string[] {
  const c = r.consensus
  const t = r.transactions
  const g = r.game
  const lines = [
    `seed ${r.seed}: ${r.validators} validators, ${r.miners} miners, ${r.subnets} subnets, ${r.windows} windows; ${r.witnesses} validators executing on their own${r.witnesses < r.validators ? `, ${r.validators - r.witnesses} sharing one execution` : ''}`,
    `  stopped at height ${r.heights} (${r.stoppedBy}) after ${fixed(r.simulatedMs / 1000)} simulated s${wallMs === undefined ? '' : ` in ${fixed(wallMs / 1000)} wall s (${fixed(r.simulatedMs / Math.max(1, wallMs))} simulated s per wall s)`}`,
    `  digest ${r.digest}`,
    `  consensus per height per validator: ${fixed(c.messagesPerHeightPerValidator)} messages, ${fixed(c.bytesPerHeightPerValidator / 1024)} KiB sent` +
      (c.consensusCpuMsPerHeightPerValidator === null
        ? ''
        : `, ${fixed(c.consensusCpuMsPerHeightPerValidator, 2)} ms CPU (+ ${fixed(c.appCpuMsPerHeightPerValidator ?? 0, 2)} ms in the chain application)`),
    `  consensus messages received and processed per height per validator: ${fixed(c.messagesProcessedPerHeightPerValidator)}` +
      (c.cpuUsPerMessageProcessed === null ? '' : `, ${fixed(c.cpuUsPerMessageProcessed)} µs CPU each`) +
      `; ${c.duplicatesDropped} duplicate copies dropped undecoded`,
    `  block interval ${fixed(c.meanBlockIntervalMs / 1000, 2)} s; transaction finality mean ${fixed(t.finalityMeanMs / 1000, 2)} s, p99 ${fixed(t.finalityP99Ms / 1000, 2)} s; ${c.dropped} copies dropped`,
    `  cheats ${g.cheats}: ${g.caught} caught, ${g.missed} missed, ${g.open} still open; honest slashed ${g.honestSlashed} (${g.dutyPenalized} paid duty penalties)`,
    `  game workload: ${g.challenges} challenges, ${g.verifierAnswers} verifier answers, ${g.appeals} appeals (${g.overturnedVerifiers} verifiers overturned), ${g.arbiterVotes} arbiter votes, ${g.aggregates} aggregates (${g.declaredUnavailable} gradients declared unavailable); ${g.reexecutions} re-executions by the verifier and arbiter machines`,
    `  miner machines: ${g.tasksTrained} tasks trained, ${g.minerReveals} reveals acknowledged; task outcomes ${outcomes(g.minerOutcomes)}`,
    `  chain state ${fixed(r.chainStateBytes / 1024)} KiB; transactions applied ${sum(t.applied)}, refused ${sum(t.refused)}, pending ${t.pending}`,
  ]
  const m = r.misbehaviours
  if (m !== undefined)
    lines.push(
      `  misbehaviours: copies ${m.copies} (${m.copiesPaid} paid), withheld ${m.withheld} (${m.withheldCaught} caught), wrong aggregates ${m.wrongAggregates} (${m.wrongAggregatesSlashed} slashed), griefing challenges ${m.griefingChallenges}, lazy answers ${m.lazyAnswers}`,
      `  validators: ${m.equivocators} equivocating (${m.equivocatorsJailed} jailed), ${m.byzantineValidators} Byzantine, ${m.seedGrinders} grinding the beacon; ${m.skewedClocks} skewed clocks, ${m.slowDisks} slow disks`,
    )
  const sh = r.sharing
  if (sh !== undefined)
    lines.push(
      `  shared execution: ${sh.executed} blocks executed once for ${r.validators - r.witnesses} validators (${sh.reused} handed on), ${sh.checks} checks (${sh.checkHits} memoized), ${sh.readsBehind} reads behind the newest block`,
    )
  for (const v of r.violations.slice(0, 5))
    lines.push(`  BROKEN ${v.invariant} at height ${v.height} (${fixed(v.atMs / 1000)} s): ${v.detail}`)
  if (r.violations.length > 5) lines.push(`  … and ${r.violations.length - 5} more`)
  return lines
}

function outcomes(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts)
  return entries.length === 0 ? 'none' : entries.map(([code, n]) => `${code} ${n}`).join(', ')
}

function sum(counts: Readonly<Record<string, number>>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0)
}
