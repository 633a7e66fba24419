/**
 * What the dashboard takes from a node's answers, as zod schemas: only the fields the page
 * shows, each bounded in size (a node's API is as hostile as any peer until checked). An
 * answer that does not fit is treated as no answer; unknown fields are dropped.
 */
import { z } from 'zod'

/** Longest text field kept (addresses, ids, CIDs, roles, invariant details). */
const MAX_TEXT = 2048
/** Most entries taken from any list a node answers. */
const MAX_LIST = 4096

const text = z.string().max(MAX_TEXT)
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const list = <T extends z.ZodType>(item: T) => z.array(item).max(MAX_LIST)
/** Chain amounts arrive as decimal strings (bigints). */
const amount = z.string().regex(/^-?[0-9]{1,40}$/)

export const statusAnswer = z.object({
  address: text,
  height: count,
  window: count.nullable(),
  peers: count,
  roles: list(text),
  round: count.nullable().optional(),
  metrics: z.record(text, z.number()).optional(),
  loss: list(z.object({ height: count, window: count, loss: z.number() })).optional(),
})
export type StatusAnswer = z.output<typeof statusAnswer>

export const historyAnswer = list(z.object({ height: count, timeMs: z.number(), proposer: text }))

export const windowAnswer = z
  .object({
    id: count,
    openHeight: count,
    closeHeight: count,
    aggregator: text.nullable(),
    closed: z.boolean(),
  })
  .nullable()
export type WindowAnswer = NonNullable<z.output<typeof windowAnswer>>

export const tasksAnswer = list(z.object({ id: text, shard: count, subnet: count, miners: list(text) }))
export type TaskAnswer = z.output<typeof tasksAnswer>[number]

export const commitsAnswer = list(text)

export const claimAnswer = z.object({
  id: text,
  kind: z.enum(['submission', 'aggregate']),
  owner: text,
  window: count,
  subnet: count,
  taskId: text.nullable(),
  status: z.enum(['revealed', 'accepted', 'flagged', 'challenged', 'slashed']),
  flag: z.enum(['copied', 'mismatch', 'unavailable']).nullable(),
})
export const claimsAnswer = list(claimAnswer)
export type ClaimAnswer = z.output<typeof claimAnswer>

export const challengeAnswer = z.object({
  id: text,
  kind: z.enum(['fault', 'availability']),
  claimId: text,
  challenger: text,
  bond: amount,
  stage: z.enum(['l2', 'appealable', 'l3', 'resolved', 'lapsed']),
  attempt: count,
  verifier: text.nullable(),
  panel: list(text),
  votes: z.record(text, z.enum(['fault', 'no_fault', 'unavailable'])),
  penalized: list(text),
  outcome: z.enum(['owner', 'challenger', 'unavailable', 'lapsed']).nullable(),
  openedHeight: count,
  settledHeight: count.nullable(),
})
export type ChallengeAnswer = z.output<typeof challengeAnswer>
export const challengesAnswer = list(challengeAnswer)

export const stakersAnswer = list(z.object({ address: text, stake: amount }))

export const supplyAnswer = z.object({ minted: amount, slashed: amount })

/** `answer` checked against `schema`, or undefined when it does not fit (or there was none). */
export function checked<T extends z.ZodType>(schema: T, answer: unknown): z.output<T> | undefined {
  if (answer === undefined) return undefined
  const result = schema.safeParse(answer)
  return result.success ? result.data : undefined
}
