/**
 * Attacks on the node API (src/actors/node-api.ts) of one validator of a 4-validator network,
 * from raw TCP clients sending what no honest HTTP client sends: headers a byte at a time, a
 * body trickled past the request deadline, oversized headers and bodies, malformed request
 * lines, junk and deeply nested JSON, bad percent-encoding, huge history ranges, pipelined
 * requests never read, connection floods, and admin requests without the token, with
 * text/plain or with a foreign (DNS-rebinding) Host. For each: every answer is the right 4xx
 * (never a 500, never a hang), a slow client is cut by the server's deadlines, an honest
 * client's GET /status still answers, and the network keeps committing with the victim's
 * memory bounded.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { deadlineSignal } from '../../src/runtime/clock.ts'
import { MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST, MAX_HTTP_BODY_BYTES } from '../../src/runtime/limits.ts'
import { clock } from '../net/helpers.ts'
import { breathe, underAttack } from './attack.ts'
import { startValidatorNetwork, type ValidatorNetwork } from './network.ts'
import { type ServedApi, serveNodeApi } from './node-api.ts'

/** Deadlines small enough for a test, the same mechanism as the production ones. */
const BOUNDS = {
  headersTimeoutMs: 1_000,
  requestTimeoutMs: 2_000,
  timeoutCheckIntervalMs: 100,
  maxConnections: 32,
}
/** The longest a slow client may hold a connection: the request deadline, one check, and slack for a busy machine. */
const CUT_WITHIN_MS = BOUNDS.requestTimeoutMs + 1_500
const TOKEN = 'ab'.repeat(32)

interface RawAnswer {
  /** The status of the first response, or 0 if none came. */
  readonly status: number
  readonly text: string
  /** The server closed (or reset) the connection before the client gave up. */
  readonly closed: boolean
  readonly afterMs: number
}

interface RawOptions {
  /** Write this many bytes at a time... @default all at once */
  readonly chunkBytes?: number
  /** ...this far apart. */
  readonly gapMs?: number
  /** Give up (and close) after this long without the server closing. @default 5000 */
  readonly waitMs?: number
  /** Stop at the first whole response head rather than wait for the close. @default true */
  readonly untilAnswer?: boolean
}

/** One raw TCP client: writes `bytes` as told, returns what came back and whether the server closed. */
function raw(port: number, bytes: string | Buffer, options: RawOptions = {}): Promise<RawAnswer> {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes
  const start = clock.monotonicMs()
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    let done = false
    const finish = (closed: boolean): void => {
      if (done) return
      done = true
      giveUp.cancel()
      socket.destroy()
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      resolve({ status: m === null ? 0 : Number(m[1]), text, closed, afterMs: clock.monotonicMs() - start })
    }
    const giveUp = clock.setTimer(options.waitMs ?? 5_000, () => finish(false))
    socket.on('error', () => finish(true))
    socket.on('close', () => finish(true))
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1')
      if ((options.untilAnswer ?? true) && text.includes('\r\n\r\n')) finish(false)
    })
    const chunk = options.chunkBytes ?? data.length
    let offset = 0
    const writeNext = (): void => {
      if (done || socket.destroyed || offset >= data.length) return
      socket.write(data.subarray(offset, offset + chunk))
      offset += chunk
      if (options.gapMs === undefined) writeNext()
      else clock.setTimer(options.gapMs, writeNext)
    }
    socket.on('connect', writeNext)
  })
}

/**
 * Pipeline `requests` requests on one connection and read nothing for `unreadMs`, so the
 * answers pile up on the server's side; then read. Returns how many answers came, and how long
 * after the client started reading the connection was closed (the server cut it meanwhile).
 */
function unreadPipeline(
  port: number,
  bytes: Buffer,
  unreadMs: number,
): Promise<{ answers: number; closedAfterReadingMs: number }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.pause()
    let readingSince = Number.POSITIVE_INFINITY
    let answers = 0
    // The reset of a cut connection: 'close' follows, which is what is measured.
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      // A status line split across chunks goes uncounted: the count is a lower bound.
      answers += (chunk.toString('latin1').match(/HTTP\/1\.1 \d{3} /g) ?? []).length
    })
    socket.on('close', () => resolve({ answers, closedAfterReadingMs: clock.monotonicMs() - readingSince }))
    socket.on('connect', () => socket.write(bytes))
    clock.setTimer(unreadMs, () => {
      readingSince = clock.monotonicMs()
      socket.resume()
    })
  })
}

/** An honest GET /status: must answer 200 within `withinMs`. */
async function honestStatus(url: string, withinMs = 3_000): Promise<void> {
  const response = await fetch(`${url}/status`, { signal: deadlineSignal(clock, withinMs, 'GET /status') })
  assert.equal(response.status, 200)
  const body = (await response.json()) as { height: number }
  assert.ok(body.height > 0, 'the status names the height')
}

/**
 * `underAttack`, with the attack's own assertions kept: underAttack takes an attack that ends
 * in an error as cut off by the victim, while here every answer the attack checks must hold.
 */
async function attackChecking(
  network: ValidatorNetwork,
  what: string,
  attack: (running: () => boolean) => Promise<void>,
): Promise<void> {
  let failure: unknown
  let attacking: Promise<void> = Promise.resolve()
  await underAttack(network, what, (running) => {
    attacking = attack(running).catch((error: unknown) => {
      failure ??= error
    })
    return attacking
  })
  // underAttack waits a bounded time for the attack to wind down; its checks must all run.
  await attacking
  if (failure !== undefined) throw failure
}

function request(method: string, path: string, headers: Record<string, string>, body = ''): string {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`)
  return `${method} ${path} HTTP/1.1\r\n${lines.join('')}\r\n${body}`
}

describe('adversarial: the node API over HTTP', function () {
  this.timeout(120_000)
  let network: ValidatorNetwork
  let api: ServedApi
  let host = ''

  before(async () => {
    network = await startValidatorNetwork()
    api = await serveNodeApi(network, 0, { bounds: BOUNDS, admin: { token: TOKEN } })
    host = new URL(api.url).host
  })
  after(async () => {
    await api?.close()
    await network?.stop()
  })

  const admin = (headers: Record<string, string>, body: string): string =>
    request('POST', '/admin/faults', { 'content-length': String(Buffer.byteLength(body)), ...headers }, body)
  const authorized = { host: '', authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }

  it('hostile requests each get their 4xx, never a 500 or a hang; the network commits', async () => {
    const json = { ...authorized, host }
    const cases: { what: string; bytes: string; status: number }[] = [
      // The request line and headers.
      { what: 'a request line that is not HTTP', bytes: 'GARBAGE\r\n\r\n', status: 400 },
      { what: 'a TLS client hello', bytes: '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', status: 400 },
      { what: 'a NUL in the request target', bytes: `GET /sta\x00tus HTTP/1.1\r\nHost: ${host}\r\n\r\n`, status: 400 },
      { what: 'an unknown HTTP version', bytes: `GET /status HTTP/7.3\r\nHost: ${host}\r\n\r\n`, status: 400 },
      {
        what: 'headers over the size bound',
        bytes: request('GET', '/status', { host, 'x-junk': 'a'.repeat(20 * 1024) }),
        status: 431,
      },
      {
        what: 'both Content-Length and Transfer-Encoding (a smuggling attempt)',
        bytes: request(
          'POST',
          '/admin/faults',
          { host, 'content-length': '4', 'transfer-encoding': 'chunked' },
          '0\r\n\r\n',
        ),
        status: 400,
      },
      {
        what: 'a negative Content-Length',
        bytes: request('POST', '/admin/faults', { host, 'content-length': '-1' }),
        status: 400,
      },
      // Paths and parameters.
      { what: 'an unknown route', bytes: request('GET', '/nothing/here', { host }), status: 404 },
      { what: 'bad percent-encoding in a query path', bytes: request('GET', '/query/%E0%A4%A', { host }), status: 400 },
      { what: 'an unknown query', bytes: request('GET', '/query/no-such-thing', { host }), status: 404 },
      { what: 'a query with an encoded NUL', bytes: request('GET', '/query/%00', { host }), status: 404 },
      { what: 'a claim id that is junk', bytes: request('GET', '/query/claim/%FF%FE', { host }), status: 400 },
      { what: 'a window that is not a number', bytes: request('GET', '/query/window/abc', { host }), status: 200 },
      { what: 'a task id that is junk', bytes: request('GET', '/query/task/-1/x/../..', { host }), status: 200 },
      {
        what: 'a query path of 8 KiB',
        bytes: request('GET', `/query/${'claims/'.repeat(1_170)}`, { host }),
        status: 200,
      },
      {
        what: 'a history height that is not a number',
        bytes: request('GET', '/chain/history?from=abc', { host }),
        status: 400,
      },
      {
        what: 'a history range upside down',
        bytes: request('GET', '/chain/history?from=9&to=3', { host }),
        status: 400,
      },
      {
        what: 'a history range over the bound',
        bytes: request('GET', `/chain/history?from=1&to=${MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST + 1}`, { host }),
        status: 400,
      },
      {
        what: 'a history range of 2^53',
        bytes: request('GET', '/chain/history?from=1&to=9007199254740993', { host }),
        status: 400,
      },
      // The admin route: who may call it.
      {
        what: 'admin without a token',
        bytes: admin({ host, 'content-type': 'application/json' }, '{"action":"heal"}'),
        status: 401,
      },
      {
        what: 'admin with a wrong token',
        bytes: admin({ ...json, authorization: `Bearer ${'cd'.repeat(32)}` }, '{"action":"heal"}'),
        status: 403,
      },
      {
        what: "admin as a page's simple text/plain POST",
        bytes: admin({ ...json, 'content-type': 'text/plain' }, '{"action":"heal"}'),
        status: 415,
      },
      {
        what: 'admin with a foreign Host',
        bytes: admin({ ...json, host: 'evil.example' }, '{"action":"heal"}'),
        status: 421,
      },
      {
        what: 'admin with a DNS-rebinding Host (a name that resolves to the loopback)',
        bytes: admin({ ...json, host: `127.0.0.1.nip.io:${api.port}` }, '{"action":"heal"}'),
        status: 421,
      },
      { what: 'admin with an empty Host', bytes: admin({ ...json, host: '' }, '{"action":"heal"}'), status: 421 },
      {
        what: 'admin without a Host header',
        bytes: 'POST /admin/faults HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}',
        status: 400,
      },
      // The admin route's body, with the token.
      { what: 'a body that is not JSON', bytes: admin(json, '{"action": heal'), status: 400 },
      { what: 'an unclosed deeply nested body', bytes: admin(json, '['.repeat(60_000)), status: 400 },
      {
        what: 'a closed deeply nested body',
        bytes: admin(json, `${'['.repeat(30_000)}${']'.repeat(30_000)}`),
        status: 400,
      },
      { what: 'an unknown action', bytes: admin(json, '{"action":"explode"}'), status: 400 },
      { what: 'peers that are not peer ids', bytes: admin(json, '{"action":"disconnect","peers":["x"]}'), status: 400 },
      {
        what: 'a body over the bound, announced and not sent',
        bytes: request('POST', '/admin/faults', { ...json, 'content-length': String(64 * MAX_HTTP_BODY_BYTES) }),
        status: 413,
      },
    ]
    const wrong = new Set<string>()
    await attackChecking(network, 'hostile HTTP requests', async (running) => {
      for (let i = 0; running(); i++) {
        const c = cases[i % cases.length] as (typeof cases)[number]
        const answer = await raw(api.port, c.bytes, { waitMs: 3_000 })
        if (answer.status !== c.status)
          wrong.add(`${c.what}: expected ${c.status}, got ${JSON.stringify(answer.text.slice(0, 300))}`)
        if (i % cases.length === 0) await honestStatus(api.url)
        await breathe(2)
      }
    })
    assert.deepEqual([...wrong], [], 'every hostile request gets its 4xx')
    await honestStatus(api.url)
  })

  it('a body over the bound is refused with 413 without being read to its end', async () => {
    const body = Buffer.alloc(32 * MAX_HTTP_BODY_BYTES, 0x20)
    const head = request('POST', '/admin/faults', {
      ...authorized,
      host,
      'content-length': String(body.length),
    })
    const answer = await raw(api.port, Buffer.concat([Buffer.from(head, 'latin1'), body]), { untilAnswer: false })
    assert.equal(answer.status, 413, answer.text.slice(0, 300))
    assert.ok(answer.closed, 'the server closes the connection rather than read the rest')
  })

  it('slow-loris headers and bodies trickled past the deadline: cut by the server, /status answers meanwhile', async () => {
    let cut = 0
    await attackChecking(network, 'slow HTTP clients', async (running) => {
      while (running()) {
        const slow: Promise<RawAnswer>[] = []
        for (let k = 0; k < 4; k++) {
          // Headers a byte at a time, never ending.
          slow.push(
            raw(api.port, `GET /status HTTP/1.1\r\nHost: ${host}\r\n${'x-slow: 1\r\n'.repeat(1000)}`, {
              chunkBytes: 1,
              gapMs: 20,
              waitMs: 2 * CUT_WITHIN_MS,
              untilAnswer: false,
            }),
          )
          // Whole headers, then a body a byte at a time, slower than the request deadline allows.
          const body = `{"action":"clockSkew","ms":1${' '.repeat(2_000)}}`
          slow.push(
            raw(api.port, admin({ ...authorized, host }, body), {
              chunkBytes: 1,
              gapMs: 20,
              waitMs: 2 * CUT_WITHIN_MS,
              untilAnswer: false,
            }),
          )
        }
        await honestStatus(api.url)
        for (const answer of await Promise.all(slow)) {
          assert.ok(answer.closed, `the server cut the slow client (after ${answer.afterMs} ms: ${answer.text})`)
          assert.ok(answer.afterMs <= CUT_WITHIN_MS, `cut within ${CUT_WITHIN_MS} ms, took ${answer.afterMs}`)
          assert.ok(answer.status === 0 || answer.status === 408, `no answer or 408, got ${answer.text}`)
          cut++
        }
      }
    })
    assert.ok(cut >= 8)
    assert.equal(api.node.status().height > 0, true)
  })

  it('pipelined /chain/history and /events requests never read: memory stays bounded, the connection is cut', async () => {
    const round = [
      request('GET', '/chain/history', { host }),
      request('GET', `/chain/history?from=1&to=${MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST}`, { host }),
      request('GET', '/events', { host }),
      request('GET', '/status', { host }),
    ]
    const rounds = 2_000
    const pipelined = Buffer.from(round.join('').repeat(rounds), 'latin1')
    // Node stops parsing a connection's pipelined requests while its answers queue up unread,
    // so the queue holds a few answers; the next request, left half parsed, runs into the
    // headers deadline and the connection is cut.
    let cut = 0
    await attackChecking(network, 'unread pipelined requests', async (running) => {
      while (running()) {
        const readers: ReturnType<typeof unreadPipeline>[] = []
        for (let k = 0; k < 4; k++) readers.push(unreadPipeline(api.port, pipelined, BOUNDS.requestTimeoutMs + 3_000))
        await honestStatus(api.url)
        for (const r of await Promise.all(readers)) {
          // Cut while unread: what reaches the client then is what sat in the socket buffers.
          assert.ok(r.answers < round.length * rounds, `cut before answering all (${r.answers} answers)`)
          assert.ok(r.closedAfterReadingMs < 1_000, `already cut when the client read (${r.closedAfterReadingMs} ms)`)
          cut++
        }
      }
    })
    assert.ok(cut >= 4)
  })

  it('a flood of connections past maxConnections: the excess closed on arrival, the rest by the deadline', async () => {
    await attackChecking(network, 'HTTP connection flood', async (running) => {
      while (running()) {
        const flood: Promise<RawAnswer>[] = []
        // Connections that send a partial request line and nothing more.
        for (let k = 0; k < 3 * BOUNDS.maxConnections; k++)
          flood.push(raw(api.port, 'GET /sta', { untilAnswer: false, waitMs: 2 * CUT_WITHIN_MS }))
        const answers = await Promise.all(flood)
        for (const a of answers) assert.ok(a.closed, `every flooding connection is closed (after ${a.afterMs} ms)`)
        for (const a of answers) assert.ok(a.afterMs <= CUT_WITHIN_MS, `closed within ${CUT_WITHIN_MS} ms`)
        const early = answers.filter((a) => a.afterMs < BOUNDS.headersTimeoutMs / 2).length
        assert.ok(early >= BOUNDS.maxConnections, `the excess is closed on arrival (${early} early)`)
        await honestStatus(api.url)
      }
    })
  })
})
