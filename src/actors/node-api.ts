/**
 * A node's HTTP API on loopback (node:http): what operators, `r3mes testnet` and `r3mes chaos`
 * read and steer.
 *
 *   GET  /status              height, window, peers, roles, metrics, held-out loss history
 *   GET  /events              recent actor events (the XState inspection log)
 *   GET  /chain/history       block hash and app hash per height (?from=&to=, at most
 *                             MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST heights a request)
 *   GET  /query/<path>        a chain query, e.g. /query/supply, /query/claims/3
 *   POST /admin/faults        fault injection on this node's real connections, and clock skew:
 *                             only with `admin` set (the testnet harness), and then only with
 *                             its bearer token, a loopback Host and a JSON body (admin-access.ts)
 *   POST /v1/completions      (serving nodes) the completion API on the latest model, and
 *   GET  /v1/models           the model it serves (serving/completions-api.ts)
 *
 * Every bad request gets a 4xx JSON error naming what is wrong; the node carries on.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { PrunedError, UnknownQueryError } from '../chain/query.ts'
import type { RuntimeComponents } from '../runtime/components.ts'
import { MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST, MAX_NODE_API_BODY_BYTES } from '../runtime/limits.ts'
import type { SkewedClock } from '../runtime/skewed-clock.ts'
import { type AdminAccess, checkAdminRequest } from './http/admin-access.ts'
import { createBoundedServer, HttpError, Router, requestUrl, type ServerBounds } from './http/http-server.ts'
import type { R3mesNode } from './node.ts'
import { type CompletionsApi, completionsApi } from './serving/completions-api.ts'

function bodyTooLarge(): HttpError {
  return new HttpError(413, `the request body is over ${MAX_NODE_API_BODY_BYTES} bytes`, { code: 'request_too_large' })
}

/**
 * The request's JSON object body, at most MAX_NODE_API_BODY_BYTES. A body announced larger is
 * refused before a byte of it is read (the error answer closes the connection, so the rest is
 * never read either); one that turns out larger is refused at the first byte past the bound.
 */
async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_NODE_API_BODY_BYTES) throw bodyTooLarge()
  let size = 0
  const parts: Buffer[] = []
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_NODE_API_BODY_BYTES) throw bodyTooLarge()
    parts.push(chunk as Buffer)
  }
  let body: unknown
  try {
    body = JSON.parse(Buffer.concat(parts).toString('utf8'))
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error
    throw new HttpError(400, `the request body is not JSON: ${error.message}`, { code: 'invalid_json' })
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new HttpError(400, 'body must be an object')
  return body as Record<string, unknown>
}

function num(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw new HttpError(400, `'${field}' must be a number in [${min}, ${max}]`)
  return v
}

function peers(v: unknown, field: string) {
  if (!Array.isArray(v) || v.some((p) => typeof p !== 'string'))
    throw new HttpError(400, `'${field}' must be a list of peer ids`)
  return v.map((p: string) => {
    try {
      return peerIdFromString(p)
    } catch {
      throw new HttpError(400, `'${field}' holds '${p}', which is not a peer id`)
    }
  })
}

/**
 * The heights `GET /chain/history` answers: `from` (default 1) to `to` (default the last
 * height, at most one page of MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST from `from`).
 */
function historyRange(params: URLSearchParams, height: number): { from: number; to: number } {
  const heightParam = (name: string, fallback: number): number => {
    const text = params.get(name)
    if (text === null) return fallback
    const n = Number(text)
    if (text.trim() === '' || !Number.isSafeInteger(n) || n < 1)
      throw new HttpError(400, `'${name}' must be a height (a whole number ≥ 1), not '${text}'`, { param: name })
    return n
  }
  const from = heightParam('from', 1)
  const to = heightParam('to', Math.max(from, Math.min(height, from + MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST - 1)))
  if (to < from) throw new HttpError(400, `'to' (${to}) must not be below 'from' (${from})`, { param: 'to' })
  if (to - from + 1 > MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST)
    throw new HttpError(
      400,
      `'from'..'to' spans ${to - from + 1} heights; one request answers at most ${MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST}, page with 'from'`,
      { param: 'to', code: 'range_too_large' },
    )
  return { from, to }
}

/** A `/query/` path, percent-decoded; one that does not decode is the client's error. */
function queryPath(encoded: string): string {
  try {
    return decodeURIComponent(encoded)
  } catch (error) {
    if (!(error instanceof URIError)) throw error
    throw new HttpError(400, `query path '${encoded}' is not percent-encoded text`)
  }
}

export interface NodeApiInit {
  readonly node: R3mesNode
  readonly clock: SkewedClock
  readonly components: RuntimeComponents
  /** @default 127.0.0.1 */
  readonly host?: string
  /** @default 0 (any free port) */
  readonly port?: number
  /** Serve the admin routes to requests that pass these checks. @default undefined (no admin routes: 404) */
  readonly admin?: AdminAccess
  /** Bounds on what a client may make the server hold. @default the HTTP limits in src/runtime/limits.ts */
  readonly bounds?: ServerBounds
}

export class NodeApi {
  readonly #server: Server
  readonly #init: NodeApiInit
  /** The serving role's completion routes, on a node that serves. */
  readonly #completions: { router: Router; api: CompletionsApi } | undefined

  constructor(init: NodeApiInit) {
    this.#init = init
    const source = init.node.servingSource
    if (source !== undefined) {
      const router = new Router()
      const api = completionsApi({ source })(init.components)
      api.mount(router)
      this.#completions = { router, api }
    }
    const log = init.components.logger.child({ component: 'node-api' })
    this.#server = createBoundedServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!(error instanceof HttpError)) log.error({ err: error, url: req.url }, 'request handler failed')
        const e = error instanceof HttpError ? error : new HttpError(500, 'internal error while serving the request')
        if (res.headersSent) res.end()
        else {
          // Answered before its body was read to the end (refused, too large): close rather
          // than read the rest of a body nobody wants.
          if (!req.complete) res.setHeader('connection', 'close')
          this.#send(res, e.status, e.toJSON())
        }
      })
    }, init.bounds)
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(this.#init.port ?? 0, this.#init.host ?? '127.0.0.1', () => resolve())
    })
    const a = this.#server.address() as AddressInfo
    return `http://${a.address}:${a.port}`
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
    await this.#completions?.api.close()
  }

  #send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body, (_, v) => (typeof v === 'bigint' ? v.toString() : v))
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(text)
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req)
    const node = this.#init.node
    const route = `${req.method} ${url.pathname}`
    if (route === 'GET /status') {
      this.#send(res, 200, {
        ...node.status(),
        timeMs: this.#init.clock.nowMs(),
        clockSkewMs: this.#init.clock.offsetMs,
        loss: node.lossHistory(),
      })
    } else if (route === 'GET /events') {
      this.#send(res, 200, node.events)
    } else if (route === 'GET /chain/history') {
      const { from, to } = historyRange(url.searchParams, node.chain.height)
      const out = []
      for (let h = from; h <= to; h++) {
        const entry = node.chain.history.get(h)
        if (entry !== undefined) out.push({ height: h, ...entry })
      }
      this.#send(res, 200, out)
    } else if (req.method === 'GET' && url.pathname.startsWith('/query/')) {
      const path = queryPath(url.pathname.slice('/query/'.length))
      let answer: unknown
      try {
        answer = node.chain.queryJson(path)
      } catch (error) {
        if (error instanceof UnknownQueryError) throw new HttpError(404, error.message, { code: 'unknown_query' })
        if (error instanceof PrunedError) throw new HttpError(410, error.message, { code: 'pruned' })
        throw error
      }
      this.#send(res, 200, answer)
    } else if (route === 'POST /admin/faults' && this.#init.admin !== undefined) {
      checkAdminRequest(this.#init.admin, req)
      await this.#fault(await readJson(req))
      this.#send(res, 200, { ok: true })
    } else if (this.#completions !== undefined && url.pathname.startsWith('/v1/')) {
      await this.#completions.router.resolve(req.method ?? 'GET', url.pathname)(req, res)
    } else {
      throw new HttpError(404, `no route ${route}`)
    }
  }

  async #fault(body: Record<string, unknown>): Promise<void> {
    const faults = this.#init.node.net.faults
    switch (body.action) {
      case 'partition':
        // Cut this node off from `peers` (the other side of the partition).
        for (const p of peers(body.peers, 'peers')) await faults.block(p)
        return
      case 'disconnect':
        for (const p of peers(body.peers, 'peers')) await faults.disconnect(p)
        return
      case 'heal':
        await faults.heal()
        return
      case 'delay':
        for (const p of peers(body.peers, 'peers')) faults.setDelay(p.toString(), num(body.ms, 'ms', 0, 600_000))
        return
      case 'loss':
        for (const p of peers(body.peers, 'peers')) faults.setLoss(p.toString(), num(body.fraction, 'fraction', 0, 1))
        return
      case 'clockSkew':
        this.#init.clock.offsetMs = num(body.ms, 'ms', -86_400_000, 86_400_000)
        return
      default:
        throw new HttpError(
          400,
          `'action' must be one of partition, disconnect, heal, delay, loss, clockSkew; got ${JSON.stringify(body.action)}`,
        )
    }
  }
}
