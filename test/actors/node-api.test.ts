/**
 * The node API's routes over real HTTP, on a backend of this test's own (a chain of a few
 * heights, a fault injector that records what it is told) and a real model for the completion
 * routes: every route answers as docs/ARCHITECTURE.md §10 says, and the node routes and the
 * completion routes, mounted on one router, share one error format and one 413. The real
 * backend over a running node is exercised by node-api-admin.test.ts, test/adversarial/
 * http-api.test.ts and test/integration/network.test.ts.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { type HistoryEntry, NodeApi, type NodeApiBackend, type NodeFaults } from '../../src/actors/node-api.ts'
import { loadLocalModel, SwappableModelSource } from '../../src/actors/serving/model-source.ts'
import { UnknownQueryError } from '../../src/chain/query.ts'
import { PrunedError } from '../../src/chain/reader.ts'
import { getKernels } from '../../src/ml/kernels/select.ts'
import { createRuntimeComponents } from '../../src/runtime/components.ts'
import { MAX_HTTP_BODY_BYTES } from '../../src/runtime/limits.ts'
import { SkewedClock } from '../../src/runtime/skewed-clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { writeAdapters, writeMicroBackbone } from '../serving/helpers.ts'

const TOKEN = 'cd'.repeat(32)
const PEER = '12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8'

interface ErrorBody {
  readonly error: {
    readonly message: string
    readonly type: string
    readonly param: string | null
    readonly code: string | null
  }
}

/** A chain of `heights` heights whose hashes name the height, and faults that record each call. */
function testBackend(heights: number, clock: SkewedClock, source: SwappableModelSource) {
  const faultCalls: string[] = []
  const faults: NodeFaults = {
    block: async (peer: PeerId) => void faultCalls.push(`block ${peer}`),
    disconnect: async (peer: PeerId) => void faultCalls.push(`disconnect ${peer}`),
    heal: async () => void faultCalls.push('heal'),
    setDelay: (peer, ms) => void faultCalls.push(`delay ${peer} ${ms}`),
    setLoss: (peer, fraction) => void faultCalls.push(`loss ${peer} ${fraction}`),
  }
  const backend: NodeApiBackend = {
    chainId: 'node-api-test',
    // The transaction routes have their own test (node-api-tx.test.ts).
    submitTx: async (tx) => ({ txId: 'ab'.repeat(32), code: 'ERR_TX_DECODE', log: `${tx.length} bytes` }),
    txResult: () => undefined,
    status: () => ({ height: heights, roles: ['serving'], loss: [] }),
    events: () => [{ atMs: 1, actor: 'serving', kind: 'snapshot', state: 'serving' }],
    height: () => heights,
    history: (height): HistoryEntry | undefined =>
      height >= 1 && height <= heights
        ? {
            blockHash: `b${height}`,
            appHash: `a${height}`,
            proposer: 'v0',
            timeMs: 1000 * height,
            beacon: `c${height}`,
            vrfProof: `p${height}`,
            proposerKey: 'k0',
          }
        : undefined,
    query: (path) => {
      if (path === 'supply') return { supply: 10n ** 30n }
      if (path === 'window/1') throw new PrunedError('window 1', 5, path)
      throw new UnknownQueryError(path)
    },
    faults,
    clock,
    serving: { source },
  }
  return { backend, faultCalls }
}

/** Longest a test waits for the server to close a connection it refused. */
const CLOSE_WITHIN_MS = 2_000

/**
 * One raw request: the status, the body, and whether the server closed the connection soon
 * after answering (rather than keep it alive for the next request).
 */
function raw(port: number, head: string, body = ''): Promise<{ status: number; body: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    const finish = (closed: boolean): void => {
      giveUp.cancel()
      socket.destroy()
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4), closed })
    }
    const giveUp = clock.setTimer(CLOSE_WITHIN_MS, () => finish(false))
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8')
    })
    socket.on('error', () => {})
    socket.on('close', () => finish(true))
    socket.on('connect', () => socket.write(head + body))
  })
}

const clock = new SkewedClock(new SystemClock())

describe('node API: the node routes and the completion routes on one server', function () {
  this.timeout(60_000)
  const components = createRuntimeComponents({ name: 'node-api-test', clock, logLevel: 'silent' })
  let dir = ''
  let api: NodeApi
  let url = ''
  let port = 0
  let faultCalls: string[] = []

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-node-api-'))
    writeMicroBackbone(dir)
    const model = loadLocalModel({
      backboneDir: dir,
      adaptersFile: writeAdapters(dir, 'node-api'),
      kernels: getKernels('ts'),
    })
    const built = testBackend(300, clock, new SwappableModelSource(model))
    faultCalls = built.faultCalls
    api = new NodeApi({ backend: built.backend, components, admin: { token: TOKEN } })
    url = await api.listen()
    port = Number(new URL(url).port)
  })
  after(async () => {
    await api?.close()
    if (dir !== '') rmSync(dir, { recursive: true, force: true })
  })

  const admin = (body: unknown): Promise<Response> =>
    fetch(`${url}/admin/faults`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  const complete = (body: unknown): Promise<Response> =>
    fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  const error = async (response: Response): Promise<ErrorBody['error']> => ((await response.json()) as ErrorBody).error

  it('answers every route as documented', async () => {
    const status = (await (await fetch(`${url}/status`)).json()) as Record<string, unknown>
    assert.equal(status.height, 300)
    assert.equal(status.chainId, 'node-api-test', 'the chain a client signs for')
    assert.equal(status.clockSkewMs, 0)
    assert.equal(typeof status.timeMs, 'number')
    assert.deepEqual(status.loss, [])
    assert.deepEqual(await (await fetch(`${url}/events`)).json(), [
      { atMs: 1, actor: 'serving', kind: 'snapshot', state: 'serving' },
    ])

    const page = (await (await fetch(`${url}/chain/history`)).json()) as { height: number; blockHash: string }[]
    assert.deepEqual(
      [page.length, page[0]?.height, page.at(-1)?.height, page[0]?.blockHash],
      [256, 1, 256, 'b1'],
      'without `to`, the first page',
    )
    const next = (await (await fetch(`${url}/chain/history?from=257`)).json()) as { height: number }[]
    assert.deepEqual(
      next.map((h) => h.height),
      Array.from({ length: 44 }, (_, i) => 257 + i),
      'the next page ends at the last height',
    )
    const two = (await (await fetch(`${url}/chain/history?from=3&to=4`)).json()) as HistoryEntry[]
    assert.deepEqual(two, [
      {
        height: 3,
        blockHash: 'b3',
        appHash: 'a3',
        proposer: 'v0',
        timeMs: 3000,
        beacon: 'c3',
        vrfProof: 'p3',
        proposerKey: 'k0',
      },
      {
        height: 4,
        blockHash: 'b4',
        appHash: 'a4',
        proposer: 'v0',
        timeMs: 4000,
        beacon: 'c4',
        vrfProof: 'p4',
        proposerKey: 'k0',
      },
    ])

    const supply = await fetch(`${url}/query/supply`)
    assert.equal(supply.status, 200)
    assert.deepEqual(await supply.json(), { supply: (10n ** 30n).toString() }, 'bigints as decimal strings')
    const unknown = await fetch(`${url}/query/nothing`)
    assert.deepEqual([unknown.status, (await error(unknown)).code], [404, 'unknown_query'])
    const pruned = await fetch(`${url}/query/window%2F1`)
    assert.deepEqual([pruned.status, (await error(pruned)).code], [410, 'pruned'])
    const undecodable = await fetch(`${url}/query/%E0%A4%A`)
    assert.deepEqual([undecodable.status, (await error(undecodable)).code], [400, 'invalid_query_path'])
    assert.equal((await fetch(`${url}/query/supply`, { method: 'POST' })).status, 405)

    const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }
    assert.equal(models.data.length, 1)
    const completion = await complete({ prompt: 'Once', max_tokens: 4, seed: 1 })
    assert.equal(completion.status, 200)
    const body = (await completion.json()) as { model: string; usage: { completion_tokens: number } }
    assert.equal(body.model, models.data[0]?.id)
    assert.equal(body.usage.completion_tokens, 4)

    for (const fault of [
      { action: 'partition', peers: [PEER] },
      { action: 'disconnect', peers: [PEER] },
      { action: 'delay', peers: [PEER], ms: 250 },
      { action: 'loss', peers: [PEER], fraction: 0.5 },
      { action: 'heal' },
    ]) {
      const response = await admin(fault)
      assert.equal(response.status, 200, JSON.stringify(await response.clone().json()))
    }
    assert.deepEqual(faultCalls, [
      `block ${PEER}`,
      `disconnect ${PEER}`,
      `delay ${PEER} 250`,
      `loss ${PEER} 0.5`,
      'heal',
    ])
    assert.equal((await admin({ action: 'clockSkew', ms: -5_000 })).status, 200)
    assert.equal(((await (await fetch(`${url}/status`)).json()) as { clockSkewMs: number }).clockSkewMs, -5_000)
    clock.offsetMs = 0
  })

  it('names the field a schema refused in `param`, on node routes and completion routes alike', async () => {
    const cases: [string, Promise<Response>, string, RegExp][] = [
      [
        'a fault delay below 0',
        admin({ action: 'delay', peers: [PEER], ms: -1 }),
        'ms',
        /ms: must be in \[0, 600000\]/,
      ],
      [
        'a peer id that is not one',
        admin({ action: 'disconnect', peers: [PEER, 'x'] }),
        'peers',
        /'x' is not a peer id/,
      ],
      // Shaped like a peer id, but peerIdFromString would throw a TypeError on it: a 400, never a 500.
      [
        'a base58 string of the right shape that decodes to no key',
        admin({ action: 'partition', peers: [`12D3KooW${'1'.repeat(44)}`] }),
        'peers',
        /is not a peer id/,
      ],
      ['an unknown fault', admin({ action: 'explode' }), 'action', /must be one of partition/],
      ['a history height that is not one', fetch(`${url}/chain/history?from=1e3`), 'from', /must be a height/],
      ['an upside-down history range', fetch(`${url}/chain/history?from=9&to=3`), 'to', /below 'from'/],
      ['max_tokens out of range', complete({ prompt: 'a', max_tokens: 0 }), 'max_tokens', /must be in \[1, 1024\]/],
      ['a stop string of the wrong type', complete({ prompt: 'a', stop: [1] }), 'stop', /string/],
    ]
    for (const [what, answer, param, message] of cases) {
      const response = await answer
      assert.equal(response.status, 400, what)
      const e = await error(response)
      assert.equal(e.param, param, what)
      assert.equal(e.type, 'invalid_request_error', what)
      assert.match(e.message, message, what)
    }
  })

  it('answers errors of both APIs in the one OpenAI shape', async () => {
    const answers = [
      await fetch(`${url}/query/nothing`),
      await fetch(`${url}/chain/history?from=abc`),
      await fetch(`${url}/nowhere`),
      await fetch(`${url}/admin/faults`, { method: 'POST', body: '{}' }),
      await fetch(`${url}/status`, { method: 'DELETE' }),
      await complete({ prompt: '' }),
      await fetch(`${url}/v1/completions`, { method: 'POST', body: '{"prompt": ' }),
      await fetch(`${url}/v1/nowhere`),
    ]
    for (const response of answers) {
      assert.ok(response.status >= 400 && response.status < 500, `${response.url}: ${response.status}`)
      assert.equal(response.headers.get('content-type'), 'application/json')
      const body = (await response.json()) as ErrorBody
      assert.deepEqual(Object.keys(body), ['error'])
      assert.deepEqual(Object.keys(body.error), ['message', 'type', 'param', 'code'], response.url)
      assert.equal(typeof body.error.message, 'string')
      assert.equal(body.error.type, 'invalid_request_error')
    }
  })

  it('refuses a body over MAX_HTTP_BODY_BYTES with the same 413 on both, and closes the connection', async () => {
    const head = (path: string, headers: string): string =>
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n${headers}\r\n`
    const announced = `Content-Length: ${MAX_HTTP_BODY_BYTES + 1}\r\n`
    // Announced too large: refused before a byte of the body is sent.
    const node = await raw(port, head('/admin/faults', announced))
    const completion = await raw(port, head('/v1/completions', announced))
    // Chunked, found too large at the chunk past the bound.
    const chunk = Buffer.alloc(64 * 1024, 0x20).toString('latin1')
    const chunks = `${(chunk.length).toString(16)}\r\n${chunk}\r\n`.repeat(MAX_HTTP_BODY_BYTES / chunk.length + 1)
    const chunked = await raw(port, head('/v1/completions', 'Transfer-Encoding: chunked\r\n'), `${chunks}0\r\n\r\n`)
    for (const answer of [node, completion, chunked]) {
      assert.equal(answer.status, 413, answer.body)
      assert.ok(answer.closed, 'the server closes the connection rather than read the rest')
      const e = (JSON.parse(answer.body) as ErrorBody).error
      assert.deepEqual(e, {
        message: `the request body exceeds the limit of ${MAX_HTTP_BODY_BYTES} bytes`,
        type: 'invalid_request_error',
        param: null,
        code: 'request_too_large',
      })
    }
    assert.equal((await fetch(`${url}/status`)).status, 200, 'the server is still up')
  })
})
