/**
 * A node's HTTP API (on loopback unless the operator names another address): what operators,
 * `r3mes tx`/`r3mes query`, `r3mes testnet` and `r3mes chaos` read and steer, and on a serving
 * node the completion API, all on one router behind one server (http/http-server.ts).
 *
 *   GET  /status              chain id, height, window, peers, roles, metrics, held-out loss
 *                             history, the node's clock and its skew
 *   GET  /events              recent actor events (the XState inspection log)
 *   GET  /chain/history       block hash, app hash and beacon per height (?from=&to=, at most
 *                             MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST heights a request)
 *   GET  /query/<path>        a chain query, e.g. /query/supply, /query/claims/3
 *   POST /tx                  a signed transaction, `{"tx": "<hex>"}`: checked against the
 *                             committed state and relayed only when it passes; answers
 *                             `{txId, code, log}`, 200 when taken, 422 with the chain's code
 *                             when refused. The only public route that changes anything.
 *   GET  /tx/<id>             where a recent transaction landed: `{txId, height, code, log}`
 *   GET  /metrics             the node's and its process's Prometheus metrics, in the text
 *                             exposition format (services/prometheus.ts)
 *   POST /admin/faults        fault injection on this node's real connections, and clock skew:
 *                             only with `admin` set (the testnet harness), and then only with
 *                             its bearer token, a loopback Host and a JSON body (admin-access.ts)
 *   POST /v1/completions      (serving nodes) the completion API on the latest model, and
 *   GET  /v1/models           the model it serves (serving/completions-api.ts)
 *
 * Every bad request gets a 4xx in OpenAI's error shape naming what is wrong; the node carries
 * on. The API reads the node only through `NodeApiBackend` (node-api-backend.ts builds one
 * from a running node), so it does not depend on how the node is put together.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { PeerId } from '@libp2p/interface'
import { PrunedError, UnknownQueryError } from '../chain/query.ts'
import type { RuntimeComponents } from '../runtime/components.ts'
import { MAX_HTTP_BODY_BYTES } from '../runtime/limits.ts'
import type { SkewedClock } from '../runtime/skewed-clock.ts'
import { type AdminAccess, checkAdminRequest } from './http/admin-access.ts'
import {
  HttpError,
  Router,
  type RunningHttpServer,
  readJsonBody,
  requestUrl,
  type ServerBounds,
  sendJson,
  startHttpServer,
} from './http/http-server.ts'
import {
  type FaultRequest,
  parseFaultRequest,
  parseHistoryRange,
  parseTxId,
  parseTxRequest,
} from './http/node-api-requests.ts'
import type { TxRecord } from './recent-tx-results.ts'
import type { MetricsScrape } from './services/prometheus.ts'
import { type CompletionsApi, completionsApi } from './serving/completions-api.ts'
import type { ModelSource } from './serving/model-source.ts'

/** One executed height as `GET /chain/history` shows it. */
export interface HistoryEntry {
  readonly blockHash: string
  readonly appHash: string
  readonly proposer: string
  readonly timeMs: number
  /** Hex of the block's beacon, its proposer's VRF proof over the previous beacon, and the proposer's public key. */
  readonly beacon: string
  readonly vrfProof: string
  readonly proposerKey: string
}

/** The faults `POST /admin/faults` sets on the node's real connections (net/faults.ts). */
export interface NodeFaults {
  /** Cut `peer` off: connections close, new ones are refused. */
  block(peer: PeerId): Promise<void>
  /** Close the connections to `peer`; it may come back. */
  disconnect(peer: PeerId): Promise<void>
  /** Lift every block, delay and loss. */
  heal(): Promise<void>
  setDelay(peer: string, delayMs: number): void
  setLoss(peer: string, loss: number): void
}

/** What `POST /tx` answers: the transaction's id and whether the node took it. */
export interface TxAdmission {
  readonly txId: string
  /** 'OK' when checked and relayed, or the chain's rejection code (chain/errors.ts). */
  readonly code: string
  readonly log: string
}

/** What the API reads and steers of a node: all it knows of one. */
export interface NodeApiBackend {
  /** The chain this node runs (`/status` shows it: a client signs for it). */
  readonly chainId: string
  /** The body of `GET /status`, less the clock fields the API adds. */
  status(): object
  /** The body of `GET /events`, oldest first. */
  events(): readonly unknown[]
  /** The last executed height. */
  height(): number
  /** The block hash and app hash at `height`, if this node executed it. */
  history(height: number): HistoryEntry | undefined
  /** A chain query by path; throws UnknownQueryError or PrunedError (chain/query.ts). */
  query(path: string): unknown
  /** Check a signed transaction against the committed state; relay it only when it passes. */
  submitTx(tx: Uint8Array): Promise<TxAdmission>
  /** Where a recent transaction landed, if this node still remembers it. */
  txResult(txId: string): TxRecord | undefined
  /** The node's Prometheus metrics, for `GET /metrics`. @default undefined (no such route: 404) */
  metrics?(): Promise<MetricsScrape>
  readonly faults: NodeFaults
  /** The node's clock, which the clock-skew fault moves. */
  readonly clock: SkewedClock
  /** Present on a serving node: the completion routes serve this model source. */
  readonly serving?: { readonly source: ModelSource }
}

export interface NodeApiInit {
  readonly backend: NodeApiBackend
  readonly components: RuntimeComponents
  /** @default 127.0.0.1 */
  readonly host?: string
  /** @default 0 (any free port) */
  readonly port?: number
  /**
   * Also serve on this Unix socket path: a path in the node's home reaches the node from any
   * network namespace of the machine (the `--hosts` testnet's harness reads nodes through it).
   */
  readonly socketPath?: string
  /** Serve the admin routes to requests that pass these checks. @default undefined (no admin routes: 404) */
  readonly admin?: AdminAccess
  /** Bounds on what a client may make the server hold. @default the HTTP limits in src/runtime/limits.ts */
  readonly bounds?: ServerBounds
}

/** A `/query/` path, percent-decoded; one that does not decode is the client's error. */
function queryPath(encoded: string): string {
  try {
    return decodeURIComponent(encoded)
  } catch (error) {
    if (!(error instanceof URIError)) throw error
    throw new HttpError(400, `query path '${encoded}' is not percent-encoded text`, { code: 'invalid_query_path' })
  }
}

export class NodeApi {
  readonly #init: NodeApiInit
  /** Every route of the node, the completion routes included on a serving node. */
  readonly router = new Router()
  readonly #completions: CompletionsApi | undefined
  #server: RunningHttpServer | undefined
  #socketServer: RunningHttpServer | undefined

  constructor(init: NodeApiInit) {
    this.#init = init
    const backend = init.backend
    this.router
      .route('GET', '/status', (_req, res) => this.#status(res))
      .route('GET', '/events', (_req, res) => sendJson(res, 200, backend.events()))
      .route('GET', '/chain/history', (req, res) => this.#history(req, res))
      .prefix('GET', '/query/', (req, res) => this.#query(req, res))
      .route('POST', '/tx', async (req, res) => {
        const admission = await backend.submitTx(parseTxRequest(await readJsonBody(req, MAX_HTTP_BODY_BYTES)))
        sendJson(res, admission.code === 'OK' ? 200 : 422, admission)
      })
      .prefix('GET', '/tx/', (req, res) => {
        const txId = parseTxId(requestUrl(req).pathname.slice('/tx/'.length))
        const found = backend.txResult(txId)
        if (found === undefined)
          throw new HttpError(404, `no recent transaction ${txId} on this node (not yet in a block, or forgotten)`, {
            code: 'unknown_tx',
          })
        sendJson(res, 200, found)
      })
    if (backend.metrics !== undefined) {
      const scrape = backend.metrics.bind(backend)
      this.router.route('GET', '/metrics', async (_req, res) => {
        const { contentType, body } = await scrape()
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) })
        res.end(body)
      })
    }
    if (init.admin !== undefined) {
      const admin = init.admin
      this.router.route('POST', '/admin/faults', async (req, res) => {
        checkAdminRequest(admin, req)
        await this.#fault(parseFaultRequest(await readJsonBody(req, MAX_HTTP_BODY_BYTES)))
        sendJson(res, 200, { ok: true })
      })
    }
    if (backend.serving !== undefined) {
      this.#completions = completionsApi({ source: backend.serving.source })(init.components)
      this.#completions.mount(this.router)
    }
  }

  /** Start serving; returns the URL (`http://host:port`, with the port actually bound). */
  async listen(): Promise<string> {
    if (this.#server !== undefined) return this.#server.url
    const bounds = this.#init.bounds !== undefined ? { bounds: this.#init.bounds } : {}
    this.#server = await startHttpServer(
      {
        router: this.router,
        ...(this.#init.host !== undefined ? { host: this.#init.host } : {}),
        ...(this.#init.port !== undefined ? { port: this.#init.port } : {}),
        ...bounds,
      },
      this.#init.components,
    )
    if (this.#init.socketPath !== undefined)
      this.#socketServer = await startHttpServer(
        { router: this.router, socketPath: this.#init.socketPath, ...bounds },
        this.#init.components,
      )
    return this.#server.url
  }

  async close(): Promise<void> {
    await this.#server?.close()
    await this.#socketServer?.close()
    await this.#completions?.close()
  }

  #status(res: ServerResponse): void {
    const { backend } = this.#init
    sendJson(res, 200, {
      ...backend.status(),
      chainId: backend.chainId,
      timeMs: backend.clock.nowMs(),
      clockSkewMs: backend.clock.offsetMs,
    })
  }

  #history(req: IncomingMessage, res: ServerResponse): void {
    const { backend } = this.#init
    const { from, to } = parseHistoryRange(requestUrl(req).searchParams, backend.height())
    const heights = []
    for (let height = from; height <= to; height++) {
      const entry = backend.history(height)
      if (entry !== undefined) heights.push({ height, ...entry })
    }
    sendJson(res, 200, heights)
  }

  #query(req: IncomingMessage, res: ServerResponse): void {
    const path = queryPath(requestUrl(req).pathname.slice('/query/'.length))
    let answer: unknown
    try {
      answer = this.#init.backend.query(path)
    } catch (error) {
      if (error instanceof UnknownQueryError) throw new HttpError(404, error.message, { code: 'unknown_query' })
      if (error instanceof PrunedError) throw new HttpError(410, error.message, { code: 'pruned' })
      throw error
    }
    sendJson(res, 200, answer)
  }

  async #fault(fault: FaultRequest): Promise<void> {
    const { faults, clock } = this.#init.backend
    switch (fault.action) {
      case 'partition':
        // Cut this node off from `peers` (the other side of the partition).
        for (const peer of fault.peers) await faults.block(peer)
        return
      case 'disconnect':
        for (const peer of fault.peers) await faults.disconnect(peer)
        return
      case 'heal':
        await faults.heal()
        return
      case 'delay':
        for (const peer of fault.peers) faults.setDelay(peer.toString(), fault.ms)
        return
      case 'loss':
        for (const peer of fault.peers) faults.setLoss(peer.toString(), fault.fraction)
        return
      case 'clockSkew':
        clock.offsetMs = fault.ms
        return
    }
  }
}
