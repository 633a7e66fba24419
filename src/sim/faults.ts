/**
 * A simulated run's faults: the network profile, scheduled partitions and validator crashes,
 * and how many more of each to draw at random from the seed (BUGGIFY style), all within the
 * first half of the run so the second half shows whether the network recovers. Read from a
 * JSON file (`r3mes sim --faults FILE`); bad input is refused with the field that is wrong.
 */
import { z } from 'zod'
import { InvalidArgumentError } from '../runtime/errors.ts'
import type { SeededRandom } from '../runtime/random.ts'
import { CALM_NETWORK, type NetworkProfile } from './network.ts'

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

export interface FaultPlan {
  readonly network: NetworkProfile
  readonly partitions: readonly ScheduledPartition[]
  readonly crashes: readonly ScheduledCrash[]
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
  return { network, partitions, crashes }
}

/** When the last fault ends (0: none). */
export function healedAtMs(plan: FaultPlan): number {
  return Math.max(0, ...plan.partitions.map((p) => p.atMs + p.forMs), ...plan.crashes.map((c) => c.atMs + c.forMs))
}
