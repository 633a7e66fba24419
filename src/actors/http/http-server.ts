/**
 * The node's one HTTP server on `node:http`: a router of (method, path) routes, exact or by
 * prefix, JSON bodies read up to a bound, and every error in OpenAI's JSON shape. The node API
 * (node-api.ts: status, events, chain history and queries, admin faults) and the completion API
 * (serving/completions-api.ts) mount their routes on one router behind one server; `r3mes
 * serve` runs the same server with the completion routes alone.
 *
 * A handler that throws never takes the server down: an `HttpError` becomes its status and
 * JSON body, anything else a 500 (logged), and the server goes on serving. An error answered
 * before the request's body was read to its end closes the connection, so the rest of a body
 * nobody wants is never read.
 */

import { lstatSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { R3mesError } from '../../runtime/errors.ts'
import {
  HTTP_HEADERS_TIMEOUT_MS,
  HTTP_MAX_CONNECTIONS,
  HTTP_MAX_HEADER_BYTES,
  HTTP_MAX_HEADERS_COUNT,
  HTTP_REQUEST_TIMEOUT_MS,
  HTTP_TIMEOUT_CHECK_INTERVAL_MS,
} from '../../runtime/limits.ts'
import type { Logger } from '../../runtime/logger.ts'

/** What a failed request gets back: `{ error: { message, type, param, code } }`, as OpenAI sends. */
export class HttpError extends Error {
  readonly status: number
  readonly type: string
  /** The request field at fault, or null when the request as a whole is. */
  readonly param: string | null
  readonly code: string | null

  constructor(status: number, message: string, options: { type?: string; param?: string; code?: string } = {}) {
    super(message)
    this.name = 'HttpError'
    this.status = status
    this.type = options.type ?? (status < 500 ? 'invalid_request_error' : 'server_error')
    this.param = options.param ?? null
    this.code = options.code ?? null
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

/** The server cannot listen where it was asked to (address in use, no permission, unknown host). */
export class ListenError extends R3mesError {
  constructor(address: string, cause: Error) {
    super('ERR_LISTEN', `cannot listen on ${address}: ${cause.message}`, { address }, { cause })
  }
}

export type RouteHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void> | void

/**
 * Routes by method: exact paths, and path prefixes (`/query/` takes `/query/<anything>`; the
 * longest matching prefix wins, an exact path before any prefix). Unknown paths answer 404,
 * known paths with another method 405.
 */
export class Router {
  readonly #exact = new Map<string, Map<string, RouteHandler>>()
  readonly #prefixes = new Map<string, Map<string, RouteHandler>>()

  route(method: string, path: string, handler: RouteHandler): this {
    add(this.#exact, method, path, handler)
    return this
  }

  /** Route every path that starts with `prefix` (which ends with `/`). */
  prefix(method: string, prefix: string, handler: RouteHandler): this {
    if (!prefix.endsWith('/')) throw new Error(`route prefix ${prefix} must end with /`)
    add(this.#prefixes, method, prefix, handler)
    return this
  }

  /** The handler for a request; throws the 404 or 405 HttpError otherwise. */
  resolve(method: string, path: string): RouteHandler {
    const byMethod = this.#exact.get(path) ?? this.#longestPrefix(path)
    if (byMethod === undefined) throw new HttpError(404, `no route ${method} ${path}`, { code: 'not_found' })
    const handler = byMethod.get(method)
    if (handler === undefined) {
      throw new HttpError(405, `${path} accepts ${[...byMethod.keys()].join(', ')}, not ${method}`, {
        code: 'method_not_allowed',
      })
    }
    return handler
  }

  #longestPrefix(path: string): Map<string, RouteHandler> | undefined {
    let best: string | undefined
    for (const prefix of this.#prefixes.keys())
      if (path.startsWith(prefix) && prefix.length > (best?.length ?? -1)) best = prefix
    return best === undefined ? undefined : this.#prefixes.get(best)
  }
}

function add(table: Map<string, Map<string, RouteHandler>>, method: string, path: string, handler: RouteHandler): void {
  const byMethod = table.get(path) ?? new Map<string, RouteHandler>()
  if (byMethod.has(method)) throw new Error(`route ${method} ${path} is already registered`)
  byMethod.set(method, handler)
  table.set(path, byMethod)
}

/** JSON with bigints as decimal strings (chain amounts are bigints). */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  response.end(text)
}

/** The 413 every route answers for a body over its bound. */
export function bodyTooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `the request body exceeds the limit of ${maxBytes} bytes`, { code: 'request_too_large' })
}

/**
 * The request body parsed as JSON, at most `maxBytes` long. A body announced larger is refused
 * before a byte of it is read; one that turns out larger (chunked) is refused at the first
 * chunk past the bound. Either way the error answer closes the connection, so the rest is
 * never read.
 */
export async function readJsonBody(request: IncomingMessage, maxBytes: number): Promise<unknown> {
  if (Number(request.headers['content-length'] ?? 0) > maxBytes) throw bodyTooLarge(maxBytes)
  const text = (await readBody(request, maxBytes)).toString('utf8')
  try {
    return JSON.parse(text)
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error
    throw new HttpError(400, `request body is not valid JSON: ${error.message}`, { code: 'invalid_json' })
  }
}

/**
 * The body's bytes, or the 413 at the first chunk past `maxBytes`. The request is paused, not
 * destroyed, there: destroying it would reset the connection before the 413 is sent.
 */
function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = (): void => {
      request.off('data', onData).off('end', onEnd).off('error', onFailure).off('close', onClose)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size <= maxBytes) {
        chunks.push(chunk)
        return
      }
      done()
      request.pause()
      reject(bodyTooLarge(maxBytes))
    }
    const onEnd = (): void => {
      done()
      resolve(Buffer.concat(chunks))
    }
    const onFailure = (error: Error): void => {
      done()
      reject(error)
    }
    // The client went away (or the request deadline cut it) before the body ended.
    const onClose = (): void =>
      onFailure(new HttpError(400, 'the request body ended early', { code: 'incomplete_body' }))
    request.on('data', onData).on('end', onEnd).on('error', onFailure).on('close', onClose)
  })
}

export interface HttpServerInit {
  /** @default '127.0.0.1' */
  readonly host?: string
  /** 0 picks a free port. @default 0 */
  readonly port?: number
  /**
   * Listen on this Unix socket path instead of TCP (host and port are then ignored). A socket
   * left by a process that died is replaced; any other file there is an error.
   */
  readonly socketPath?: string
  readonly router: Router
  /** Bounds on what a client may make the server hold. @default the limits in src/runtime/limits.ts */
  readonly bounds?: ServerBounds
}

export interface HttpServerComponents {
  readonly logger: Logger
}

export interface RunningHttpServer {
  /** `http://host:port`, with the port actually bound (`unix:<path>` on a Unix socket). */
  readonly url: string
  /** The TCP port bound (0 on a Unix socket). */
  readonly port: number
  /** Stop accepting connections and end the open ones (streams included). */
  close(): Promise<void>
}

/** What one client may make the server hold; each defaults to its bound in src/runtime/limits.ts. */
export interface ServerBounds {
  /** @default HTTP_HEADERS_TIMEOUT_MS */
  readonly headersTimeoutMs?: number
  /** @default HTTP_REQUEST_TIMEOUT_MS */
  readonly requestTimeoutMs?: number
  /** @default HTTP_TIMEOUT_CHECK_INTERVAL_MS */
  readonly timeoutCheckIntervalMs?: number
  /** @default HTTP_MAX_HEADERS_COUNT */
  readonly maxHeadersCount?: number
  /** @default HTTP_MAX_HEADER_BYTES */
  readonly maxHeaderBytes?: number
  /** @default HTTP_MAX_CONNECTIONS */
  readonly maxConnections?: number
}

/**
 * A `node:http` server with every bound a client could otherwise stretch set explicitly
 * (Node's defaults let a client take 60 s to send its headers and 5 min for a request, and
 * hold any number of connections), for every HTTP server of the node.
 */
export function createBoundedServer(listener: RequestListener, bounds: ServerBounds = {}): Server {
  const requestTimeout = bounds.requestTimeoutMs ?? HTTP_REQUEST_TIMEOUT_MS
  const server = createServer(
    {
      // Node requires the headers' deadline to be within the request's.
      headersTimeout: Math.min(bounds.headersTimeoutMs ?? HTTP_HEADERS_TIMEOUT_MS, requestTimeout),
      requestTimeout,
      connectionsCheckingInterval: bounds.timeoutCheckIntervalMs ?? HTTP_TIMEOUT_CHECK_INTERVAL_MS,
      maxHeaderSize: bounds.maxHeaderBytes ?? HTTP_MAX_HEADER_BYTES,
    },
    listener,
  )
  server.maxHeadersCount = bounds.maxHeadersCount ?? HTTP_MAX_HEADERS_COUNT
  server.maxConnections = bounds.maxConnections ?? HTTP_MAX_CONNECTIONS
  return server
}

/** The request's path; a request target that is not a URL path is the client's error. */
export function requestUrl(request: IncomingMessage): URL {
  try {
    return new URL(request.url ?? '/', 'http://localhost')
  } catch (error) {
    if (!(error instanceof TypeError)) throw error
    throw new HttpError(400, `request target ${JSON.stringify(request.url)} is not a path`, { code: 'invalid_url' })
  }
}

/**
 * True when the request announced a body that was not read to its end: the answer then closes
 * the connection rather than make the server read (or the next request parse) the rest.
 */
function bodyLeftUnread(request: IncomingMessage): boolean {
  const announced =
    request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0
  return announced && !request.complete
}

async function handle(
  router: Router,
  logger: Logger,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  try {
    const path = requestUrl(request).pathname
    await router.resolve(request.method ?? 'GET', path)(request, response)
  } catch (error) {
    const httpError =
      error instanceof HttpError ? error : new HttpError(500, 'internal error while serving the request')
    if (!(error instanceof HttpError)) logger.error({ err: error, url: request.url }, 'request handler failed')
    if (response.headersSent) {
      response.end()
      return
    }
    if (bodyLeftUnread(request)) response.setHeader('connection', 'close')
    sendJson(response, httpError.status, httpError.toJSON())
  }
}

export function startHttpServer(init: HttpServerInit, components: HttpServerComponents): Promise<RunningHttpServer> {
  const server: Server = createBoundedServer((request, response) => {
    // `handle` answers every failure itself and never rejects: nothing is left to wait for.
    void handle(init.router, components.logger, request, response)
  }, init.bounds)
  const host = init.host ?? '127.0.0.1'
  const port = init.port ?? 0
  const socketPath = init.socketPath
  const where = socketPath ?? `${host}:${port}`
  return new Promise((resolve, reject) => {
    if (socketPath !== undefined) {
      try {
        removeStaleSocket(socketPath)
      } catch (error) {
        reject(error)
        return
      }
    }
    const failed = (error: Error): void => reject(new ListenError(where, error))
    server.once('error', failed)
    const listening = (): void => {
      server.off('error', failed)
      const bound = socketPath === undefined ? (server.address() as AddressInfo).port : 0
      const shownHost = host.includes(':') ? `[${host}]` : host
      resolve({
        url: socketPath === undefined ? `http://${shownHost}:${bound}` : `unix:${socketPath}`,
        port: bound,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          }),
      })
    }
    if (socketPath === undefined) server.listen(port, host, listening)
    else server.listen(socketPath, listening)
  })
}

/** A Unix socket left at `path` by a server that died (nothing else is removed). */
function removeStaleSocket(path: string): void {
  let isSocket: boolean
  try {
    isSocket = lstatSync(path).isSocket()
  } catch {
    return // nothing there
  }
  if (!isSocket) throw new ListenError(path, new Error('a file that is not a socket is in the way'))
  rmSync(path, { force: true })
}
