/**
 * What the node API's requests may carry, as zod schemas: the bodies of `POST /admin/faults` and
 * `POST /tx`, the query parameters of `GET /chain/history` and the id of `GET /tx/<id>`. A bad value is a 400 naming its field
 * (request-schema.ts).
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import { isPeerId } from '../../chain/keys.ts'
import { MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST } from '../../runtime/limits.ts'
import { HttpError } from './http-server.ts'
import { parseRequest, quoted, rangeMessage, typeMessage } from './request-schema.ts'

/** Longest a fault delay may be: ten minutes, longer than any test waits. */
export const MAX_FAULT_DELAY_MS = 600_000
/** Furthest a node's clock may be skewed either way: one day. */
export const MAX_CLOCK_SKEW_MS = 86_400_000

const peerId = z
  .string({ error: typeMessage('a peer id') })
  .refine(isPeerId, { error: (issue) => `'${quoted(issue.input)}' is not a peer id` })
  .transform((text): PeerId => peerIdFromString(text))

const peers = z.array(peerId, { error: typeMessage('a list of peer ids') })

function numberIn(min: number, max: number) {
  return z
    .number({ error: typeMessage('a number') })
    .min(min, { error: rangeMessage(min, max) })
    .max(max, { error: rangeMessage(min, max) })
}

const FAULT_ACTIONS = ['partition', 'disconnect', 'heal', 'delay', 'loss', 'clockSkew'] as const

/**
 * `POST /admin/faults`: `partition` (cut this node off from `peers`), `disconnect` (hang up on
 * `peers`, who may come back), `heal` (undo both), `delay` (`ms` on every message to and from
 * `peers`), `loss` (drop that `fraction` of them), `clockSkew` (move this node's clock `ms`).
 */
const faultRequest = z.discriminatedUnion(
  'action',
  [
    z.object({ action: z.literal('partition'), peers }),
    z.object({ action: z.literal('disconnect'), peers }),
    z.object({ action: z.literal('heal') }),
    z.object({ action: z.literal('delay'), peers, ms: numberIn(0, MAX_FAULT_DELAY_MS) }),
    z.object({ action: z.literal('loss'), peers, fraction: numberIn(0, 1) }),
    z.object({ action: z.literal('clockSkew'), ms: numberIn(-MAX_CLOCK_SKEW_MS, MAX_CLOCK_SKEW_MS) }),
  ],
  { error: (issue) => actionMessage(issue.input) },
)

function actionMessage(body: unknown): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'request body must be a JSON object'
  const action = (body as { action?: unknown }).action
  return `must be one of ${FAULT_ACTIONS.join(', ')}; got ${action === undefined ? 'nothing' : quoted(action)}`
}

export type FaultRequest = z.output<typeof faultRequest>

export function parseFaultRequest(body: unknown): FaultRequest {
  return parseRequest(faultRequest, body)
}

/** A height as a query parameter: a canonical decimal ≥ 1 that is a safe integer. */
const height = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, {
    error: (issue) => `must be a height (a whole number ≥ 1), not '${quoted(issue.input)}'`,
  })
  .transform(Number)
  .pipe(z.number().max(Number.MAX_SAFE_INTEGER, { error: 'must be at most 2^53 - 1' }))

const historyParams = z.object({ from: height.optional(), to: height.optional() })

/**
 * The heights `GET /chain/history` answers: `from` (default 1) to `to` (default the last
 * height `latest`, at most one page of MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST from `from`).
 */
export function parseHistoryRange(params: URLSearchParams, latest: number): { from: number; to: number } {
  const given = parseRequest(historyParams, Object.fromEntries(params))
  const from = given.from ?? 1
  const to = given.to ?? Math.max(from, Math.min(latest, from + MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST - 1))
  if (to < from)
    throw new HttpError(400, `to: must not be below 'from' (${from}), got ${to}`, {
      param: 'to',
      code: 'invalid_value',
    })
  if (to - from + 1 > MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST)
    throw new HttpError(
      400,
      `to: 'from'..'to' spans ${to - from + 1} heights; one request answers at most ${MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST}, page with 'from'`,
      { param: 'to', code: 'range_too_large' },
    )
  return { from, to }
}

/**
 * `POST /tx`: `{"tx": "<lowercase hex of the encoded transaction>"}`. Only the envelope is
 * checked here; what the bytes say is the chain's to judge (its refusal is a result, not a 400).
 */
const txRequest = z.object(
  {
    tx: z
      .string({ error: typeMessage('a string of hex') })
      .min(2, { error: 'must hold the hex of an encoded transaction, got an empty string' })
      .regex(/^(?:[0-9a-f]{2})+$/, {
        error: (issue) => `must be lowercase hex of whole bytes, got '${quoted(issue.input)}'`,
      }),
  },
  { error: 'request body must be a JSON object {"tx": "<hex>"}' },
)

/** The transaction bytes of a `POST /tx` body. */
export function parseTxRequest(body: unknown): Uint8Array {
  return new Uint8Array(Buffer.from(parseRequest(txRequest, body).tx, 'hex'))
}

/** A transaction id in a path: the hex SHA-256 of its bytes. */
export function parseTxId(text: string): string {
  if (!/^[0-9a-f]{64}$/.test(text))
    throw new HttpError(400, `'${quoted(text)}' is not a transaction id (64 lowercase hex digits)`, {
      code: 'invalid_tx_id',
    })
  return text
}
