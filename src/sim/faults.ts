/**
 * A simulated run's faults: the network profile, scheduled partitions and validator crashes,
 * and how many more of each to draw at random from the seed (BUGGIFY style), all within the
 * first half of the run so the second half shows whether the network recovers. Read from a
 * JSON file (`r3mes sim --faults FILE`); bad input is refused with the field that is wrong.
 */
import { z } from 'zod'
import { InvalidArgumentError } from '../runtime/errors.ts'
import type { SeededRandom } from '../runtime/random.ts'
import { MISBEHAVIOURS } from '../topology/roles.ts'
import { CALM_NETWORK, type NetworkProfile } from './network.ts'

/** The misbehaviours the topology format knows, each a rate in the fault file. */
export const SIM_MISBEHAVIOURS = MISBEHAVIOURS
export type SimMisbehaviour = (typeof SIM_MISBEHAVIOURS)[number]

const probability = z.number().min(0).max(1)
const seconds = z.number().min(0).max(86_400)

const faultFileSchema = z.strictObject({
  network: z
    .strictObject({
      baseLatencyMs: z.number().min(0).max(60_000).optional(),
      jitterMs: z.number().min(0).max(60_000).optional(),
      loss: probability.optional(),
      duplicate: probability.optional(),
      uploadBytesPerS: z.number().int().min(0).optional(),
    })
    .optional(),
  partitions: z
    .array(z.strictObject({ atS: seconds, forS: seconds, groups: z.number().int().min(2).max(16) }))
    .optional(),
  crashes: z.array(z.strictObject({ validator: z.number().int().min(0), atS: seconds, forS: seconds })).optional(),
  random: z
    .strictObject({
      partitions: z.number().int().min(0).max(100).optional(),
      crashes: z.number().int().min(0).max(1000).optional(),
      /** Longest a drawn fault lasts. */
      maxS: seconds.optional(),
    })
    .optional(),
  /**
   * Rates of each misbehaviour (misbehaviours.ts says what each rate is a share of). Absent:
   * only the `--cheaters` share of miners misbehaves (wrong gradients).
   */
  misbehaviours: z
    .strictObject(
      Object.fromEntries(SIM_MISBEHAVIOURS.map((k) => [k, probability.optional()])) as {
        [K in SimMisbehaviour]: z.ZodOptional<typeof probability>
      },
    )
    .optional(),
  /** Validators whose wall clock is off by up to `maxOffsetMs` and drifts by up to `maxDriftPpm`, both drawn per validator. */
  clockSkew: z
    .strictObject({
      validators: probability,
      maxOffsetMs: z.number().int().min(0).max(3_600_000),
      maxDriftPpm: z.number().int().min(0).max(100_000).optional(),
    })
    .optional(),
  /** Validators with a slow disk: each input waits its WAL write, from `minMs` to `maxMs` (drawn per validator). */
  slowDisks: z
    .strictObject({
      validators: probability,
      minMs: z.number().int().min(0).max(10_000).optional(),
      maxMs: z.number().int().min(0).max(10_000),
    })
    .optional(),
})

export type FaultFile = z.infer<typeof faultFileSchema>

export interface ScheduledPartition {
  readonly atMs: number
  readonly forMs: number
  readonly groups: number
}

export interface ScheduledCrash {
  readonly validator: number
  readonly atMs: number
  readonly forMs: number
}

/** One validator's wall clock: `offsetMs` off the true time, gaining `driftPpm` millionths of every millisecond. */
export interface ClockSkew {
  readonly validator: number
  readonly offsetMs: number
  readonly driftPpm: number
}

/** One validator's slow disk: every input it takes waits `delayMs` (its WAL write) before the node acts on it. */
export interface SlowDisk {
  readonly validator: number
  readonly delayMs: number
}

export interface FaultPlan {
  readonly network: NetworkProfile
  readonly partitions: readonly ScheduledPartition[]
  readonly crashes: readonly ScheduledCrash[]
  readonly clockSkews: readonly ClockSkew[]
  readonly slowDisks: readonly SlowDisk[]
}

/** Check a fault file's parsed JSON; `source` names it in errors. */
export function parseFaultFile(json: unknown, source: string): FaultFile {
  const parsed = faultFileSchema.safeParse(json)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  const where = issue === undefined || issue.path.length === 0 ? '(top level)' : issue.path.join('.')
  throw new InvalidArgumentError(`${source}: ${where}: ${issue?.message ?? 'invalid'}`, { field: where })
}

/**
 * The faults of a run of `validators` expected to last about `runMs`: the file's own, plus
 * its random ones drawn from `random`. A crash of a validator that does not exist is refused.
 */
export function planFaults(file: FaultFile, validators: number, runMs: number, random: SeededRandom): FaultPlan {
  const network: NetworkProfile = { ...CALM_NETWORK, ...file.network }
  const partitions: ScheduledPartition[] = (file.partitions ?? []).map((p) => ({
    atMs: p.atS * 1000,
    forMs: p.forS * 1000,
    groups: p.groups,
  }))
  const crashes: ScheduledCrash[] = (file.crashes ?? []).map((c, i) => {
    if (c.validator >= validators)
      throw new InvalidArgumentError(
        `crashes[${i}].validator: ${c.validator} is not one of the ${validators} validators`,
        {
          field: `crashes.${i}.validator`,
        },
      )
    return { validator: c.validator, atMs: c.atS * 1000, forMs: c.forS * 1000 }
  })
  const maxMs = Math.max(1000, (file.random?.maxS ?? 20) * 1000)
  const span = Math.max(1, Math.floor(runMs / 2))
  for (let i = 0; i < (file.random?.partitions ?? 0); i++)
    partitions.push({ atMs: random.nextInt(span), forMs: 1000 + random.nextInt(maxMs), groups: 2 })
  for (let i = 0; i < (file.random?.crashes ?? 0); i++)
    crashes.push({
      validator: random.nextInt(validators),
      atMs: random.nextInt(span),
      forMs: 1000 + random.nextInt(maxMs),
    })
  return {
    network,
    partitions,
    crashes,
    clockSkews: drawClockSkews(file, validators, random.fork('clock-skew')),
    slowDisks: drawSlowDisks(file, validators, random.fork('slow-disks')),
  }
}

/** The skewed validators (a `clockSkew.validators` share of them) and each one's offset (either way) and drift. */
function drawClockSkews(file: FaultFile, validators: number, random: SeededRandom): ClockSkew[] {
  const skew = file.clockSkew
  if (skew === undefined) return []
  const chosen = random
    .shuffle(Array.from({ length: validators }, (_, i) => i))
    .slice(0, Math.round(validators * skew.validators))
  return chosen
    .sort((a, b) => a - b)
    .map((validator) => ({
      validator,
      offsetMs: random.nextInt(2 * skew.maxOffsetMs + 1) - skew.maxOffsetMs,
      driftPpm: random.nextInt(2 * (skew.maxDriftPpm ?? 0) + 1) - (skew.maxDriftPpm ?? 0),
    }))
}

/** The validators with slow disks (a `slowDisks.validators` share) and each one's write latency. */
function drawSlowDisks(file: FaultFile, validators: number, random: SeededRandom): SlowDisk[] {
  const slow = file.slowDisks
  if (slow === undefined) return []
  const min = slow.minMs ?? 0
  if (min > slow.maxMs)
    throw new InvalidArgumentError(`slowDisks.minMs: ${min} is above slowDisks.maxMs (${slow.maxMs})`, {
      field: 'slowDisks.minMs',
    })
  const chosen = random
    .shuffle(Array.from({ length: validators }, (_, i) => i))
    .slice(0, Math.round(validators * slow.validators))
  return chosen
    .sort((a, b) => a - b)
    .map((validator) => ({ validator, delayMs: min + random.nextInt(slow.maxMs - min + 1) }))
}

/** When the last fault ends (0: none). */
export function healedAtMs(plan: FaultPlan): number {
  return Math.max(0, ...plan.partitions.map((p) => p.atMs + p.forMs), ...plan.crashes.map((c) => c.atMs + c.forMs))
}
