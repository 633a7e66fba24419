import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  HttpError,
  ListenError,
  type RouteHandler,
  Router,
  type RunningHttpServer,
  readJsonBody,
  sendJson,
  startHttpServer,
} from '../../src/actors/http/http-server.ts'
import { sleep } from '../../src/runtime/clock.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'

const clock = new SystemClock()

/** A raw client: whatever the server sends until it closes the connection, and when it closed. */
function rawClient(port: number): { socket: Socket; closed: Promise<{ text: string; afterMs: number }> } {
  const start = clock.monotonicMs()
  const socket = connect(port, '127.0.0.1')
  let text = ''
  socket.on('data', (chunk) => {
    text += chunk.toString('latin1')
  })
  socket.on('error', () => {})
  const closed = new Promise<{ text: string; afterMs: number }>((resolve) =>
    socket.on('close', () => resolve({ text, afterMs: clock.monotonicMs() - start })),
  )
  return { socket, closed }
}

/** Write `text` to `socket` every `everyMs` on the clock until stopped. */
function trickle(socket: Socket, text: string, everyMs: number): { stop(): void } {
  let timer = clock.setTimer(everyMs, tick)
  function tick(): void {
    socket.write(text)
    timer = clock.setTimer(everyMs, tick)
  }
  return { stop: () => timer.cancel() }
}

describe('http server: the router', () => {
  const handlers = {
    exact: (() => {}) as RouteHandler,
    query: (() => {}) as RouteHandler,
    claims: (() => {}) as RouteHandler,
    complete: (() => {}) as RouteHandler,
  }
  const router = new Router()
    .route('GET', '/query/height', handlers.exact)
    .prefix('GET', '/query/', handlers.query)
    .prefix('GET', '/query/claims/', handlers.claims)
    .route('POST', '/v1/completions', handlers.complete)
  const named = (): RouteHandler => () => {}

  const resolved = (method: string, path: string): RouteHandler => router.resolve(method, path)
  const refusal = (method: string, path: string): { status: number; code: string | null } => {
    try {
      router.resolve(method, path)
    } catch (error) {
      if (!(error instanceof HttpError)) throw error
      return { status: error.status, code: error.code }
    }
    assert.fail(`${method} ${path} resolved`)
  }

  it('takes an exact path before a prefix, and the longest prefix that matches', () => {
    assert.equal(resolved('GET', '/query/height'), handlers.exact)
    assert.equal(resolved('GET', '/query/supply'), handlers.query)
    assert.equal(resolved('GET', '/query/height/1'), handlers.query)
    assert.equal(resolved('GET', '/query/claims/3'), handlers.claims)
    assert.equal(resolved('GET', '/query/claims/'), handlers.claims)
    assert.equal(resolved('POST', '/v1/completions'), handlers.complete)
  })

  it('answers an unknown path 404 and a known path with another method 405, prefix routes included', () => {
    assert.deepEqual(refusal('GET', '/nothing'), { status: 404, code: 'not_found' })
    assert.deepEqual(refusal('GET', '/query'), { status: 404, code: 'not_found' }, 'the prefix needs its slash')
    assert.deepEqual(refusal('POST', '/query/supply'), { status: 405, code: 'method_not_allowed' })
    assert.deepEqual(refusal('GET', '/v1/completions'), { status: 405, code: 'method_not_allowed' })
    assert.throws(() => new Router().prefix('GET', '/query', named()), /must end with \//)
    assert.throws(() => new Router().route('GET', '/a', named()).route('GET', '/a', named()), /already registered/)
  })
})

describe('http server: hostile clients', function () {
  this.timeout(20_000)
  let server: RunningHttpServer
  before(async () => {
    const router = new Router()
      .route('GET', '/ok', (_request, response) => sendJson(response, 200, { ok: true }))
      .route('POST', '/echo', async (request, response) => sendJson(response, 200, await readJsonBody(request, 1024)))
    server = await startHttpServer(
      {
        router,
        bounds: { headersTimeoutMs: 300, requestTimeoutMs: 600, timeoutCheckIntervalMs: 50, maxConnections: 8 },
      },
      { logger: createLogger({ name: 'http', level: 'silent', clock }) },
    )
  })
  after(async () => server?.close())

  it('closes a slow-loris connection that never finishes its headers, and serves others meanwhile', async () => {
    const loris = rawClient(server.port)
    loris.socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n')
    const trickling = trickle(loris.socket, 'X-a: b\r\n', 100)
    try {
      const ok = await fetch(`${server.url}/ok`)
      assert.equal(ok.status, 200, 'another client is served while the loris waits')
      const { text, afterMs } = await loris.closed
      assert.ok(afterMs < 3_000, `closed after ${afterMs} ms`)
      assert.match(text, /^HTTP\/1\.1 408/, 'the loris is told it timed out')
    } finally {
      trickling.stop()
    }
  })

  it('closes a connection whose body trickles in past the request deadline', async () => {
    const slow = rawClient(server.port)
    slow.socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n')
    const trickling = trickle(slow.socket, ' ', 100)
    try {
      const { afterMs } = await slow.closed
      assert.ok(afterMs < 3_000, `closed after ${afterMs} ms`)
    } finally {
      trickling.stop()
    }
  })

  it('refuses headers over HTTP_MAX_HEADER_BYTES with 431', async () => {
    const response = await fetch(`${server.url}/ok`, { headers: { 'x-big': 'a'.repeat(20 * 1024) } })
    assert.equal(response.status, 431)
  })

  it('answers a request target that is not a path, or a body that is not JSON, with 400, not 500', async () => {
    const odd = rawClient(server.port)
    odd.socket.end('GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    const { text } = await odd.closed
    assert.match(text, /^HTTP\/1\.1 400/, text)
    assert.match(text, /invalid_url/)
    const bad = await fetch(`${server.url}/echo`, { method: 'POST', body: '{"a": ' })
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'invalid_json')
  })

  it('holds at most maxConnections connections; past it new ones are closed on arrival', async () => {
    const idle = Array.from({ length: 8 }, () => rawClient(server.port))
    try {
      await sleep(clock, 100)
      const extra = rawClient(server.port)
      extra.socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n')
      const { text } = await extra.closed
      assert.equal(text, '', 'the connection past the bound is closed unanswered')
    } finally {
      for (const c of idle) c.socket.destroy()
    }
  })
})

describe('http server: on a Unix socket', () => {
  const logger = createLogger({ name: 'http-socket', level: 'silent', clock })
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-http-socket-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  /** GET `path` over the socket at `socketPath`: status and body. */
  function getOverSocket(socketPath: string, path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath, path }, (res) => {
        let body = ''
        res.on('data', (c: Buffer) => {
          body += c.toString('utf8')
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      req.on('error', reject)
      req.end()
    })
  }

  it('serves the router on the socket, and replaces a socket left by a server that died', async () => {
    const path = join(dir, 'api.sock')
    const router = new Router().route('GET', '/status', (_req, res) => sendJson(res, 200, { ok: true }))
    // A socket file left behind, as by a process killed without closing it.
    spawnSync(process.execPath, [
      '-e',
      "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))",
      path,
    ])
    assert.ok(lstatSync(path).isSocket())
    const server = await startHttpServer({ router, socketPath: path }, { logger })
    try {
      assert.equal(server.url, `unix:${path}`)
      assert.deepEqual(await getOverSocket(path, '/status'), { status: 200, body: '{"ok":true}' })
      assert.equal((await getOverSocket(path, '/nope')).status, 404)
    } finally {
      await server.close()
    }
  })

  it('refuses to listen where a file that is not a socket is, and leaves the file', async () => {
    const path = join(dir, 'not-a-socket')
    writeFileSync(path, 'keep me')
    await assert.rejects(startHttpServer({ router: new Router(), socketPath: path }, { logger }), (error: Error) => {
      assert.ok(error instanceof ListenError)
      assert.match(error.message, /not a socket/)
      return true
    })
    assert.equal(readFileSync(path, 'utf8'), 'keep me')
  })
})
