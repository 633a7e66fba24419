/**
 * The dashboard's server side on its own, in milliseconds: the server-sent events framing and
 * client bound, the collector's bounded history and its handling of nodes that go down or
 * answer garbage, the pipeline links it draws, the page's files, and the CLI's refusals.
 * The nodes here are canned answers; test/integration/dashboard.test.ts follows a real testnet.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ExitCode } from '../../src/cli/command.ts'
import { optionalValue } from '../../src/cli/options.ts'
import { DashboardCollector, pipelineLinks } from '../../src/dashboard/collector.ts'
import { type DashboardNode, httpNode } from '../../src/dashboard/node-source.ts'
import { unlabelledSamples } from '../../src/dashboard/prometheus-samples.ts'
import { startDashboard } from '../../src/dashboard/server.ts'
import { SseChannel, sseFrame } from '../../src/dashboard/sse.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { createRuntimeComponents } from '../../src/runtime/components.ts'
import { nextTurn } from '../../src/runtime/event-loop.ts'
import { MAX_DASHBOARD_DISPUTES } from '../../src/runtime/limits.ts'
import { cli } from '../helpers/cli.ts'

const components = createRuntimeComponents({ name: 'dashboard-test', logLevel: 'silent' })

/** A node answering from a table of paths; `down` makes it answer nothing. */
function cannedNode(name: string, answers: Record<string, unknown>): DashboardNode & { down: boolean } {
  const node = {
    name,
    down: false,
    get: async (path: string) => (node.down ? undefined : answers[path]),
  }
  return node
}

function validator(height: number): Record<string, unknown> {
  return {
    '/status': {
      address: 'r3v0',
      height,
      window: 1,
      peers: 3,
      roles: ['validator'],
      round: 0,
      metrics: { tokensTrained: 0 },
    },
    [`/chain/history?from=${height - 1}&to=${height}`]: [
      { height: height - 1, timeMs: 10_000, proposer: 'r3v0' },
      { height, timeMs: 11_000, proposer: 'r3v0' },
    ],
    '/query/window': { id: 1, openHeight: 21, closeHeight: 40, aggregator: 'r3v0', closed: false },
    '/query/tasks/1': [
      { id: 't-0-0', shard: 0, subnet: 0, miners: ['r3m0', 'r3m1'] },
      { id: 't-0-1', shard: 0, subnet: 1, miners: ['r3m2'] },
    ],
    '/query/commits/t-0-0': ['r3m0'],
    '/query/commits/t-0-1': [],
    '/query/claims/1': [
      {
        id: 'c1',
        kind: 'submission',
        owner: 'r3m0',
        window: 1,
        subnet: 0,
        taskId: 't-0-0',
        status: 'challenged',
        flag: null,
      },
    ],
    '/query/claims/0': [],
    '/query/challenges': [],
    '/query/challenge/ch-0': {
      id: 'ch-0',
      kind: 'fault',
      claimId: 'c1',
      challenger: 'r3s0',
      bond: '1000000',
      stage: 'resolved',
      attempt: 0,
      verifier: 'r3v0',
      panel: [],
      votes: {},
      penalized: [],
      outcome: 'challenger',
      openedHeight: 30,
      settledHeight: 33,
    },
    '/query/challenge/ch-1': null,
    '/query/claim/c1': {
      id: 'c1',
      kind: 'submission',
      owner: 'r3m0',
      window: 1,
      subnet: 0,
      taskId: 't-0-0',
      status: 'slashed',
      flag: null,
    },
    '/query/stakers': [{ address: 'r3m0', stake: '5000000' }],
    '/query/supply': { minted: '7', slashed: '3' },
  }
}

describe('dashboard: server-sent events', () => {
  it('frames an event with one data line per line of its data', () => {
    assert.equal(sseFrame('snapshot', '{"a":1}'), 'event: snapshot\ndata: {"a":1}\n\n')
    assert.equal(sseFrame('note', 'one\ntwo\r\nthree'), 'event: note\ndata: one\ndata: two\ndata: three\n\n')
    assert.throws(() => sseFrame('bad\nname', 'x'), /plain word/)
  })

  it('refuses a browser past the client bound with 503 and gives a new one the last event at once', async () => {
    const sse = new SseChannel({ maxClients: 1 })
    const server = createServer((req, res) => {
      try {
        sse.open(req, res)
      } catch (error) {
        res.writeHead((error as { status: number }).status).end((error as Error).message)
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
    try {
      sse.send('snapshot', 'first')
      const first = await fetch(url)
      const reader = first.body?.getReader() as ReadableStreamDefaultReader<Uint8Array>
      let text = ''
      while (!text.includes('data: first')) text += new TextDecoder().decode((await reader.read()).value)
      assert.equal(sse.clients, 1)
      const second = await fetch(url)
      assert.equal(second.status, 503)
      assert.match(await second.text(), /already serves 1 live pages/)
      await reader.cancel()
    } finally {
      sse.close()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('dashboard: a browser that does not read', () => {
  it('is disconnected once more than the buffered bound is waiting for it', async () => {
    const sse = new SseChannel({ maxBufferedBytes: 64 * 1024 })
    const server = createServer((req, res) => sse.open(req, res))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    try {
      // A client that takes the headers and then reads nothing.
      const stalled = await new Promise<IncomingMessage>((resolve) =>
        request({ port, host: '127.0.0.1' }, resolve).end(),
      )
      stalled.pause()
      const big = 'x'.repeat(256 * 1024)
      for (let i = 0; i < 256 && sse.clients > 0; i++) {
        sse.send('snapshot', big)
        await nextTurn()
      }
      assert.equal(sse.clients, 0, 'the stalled browser was let go')
      stalled.destroy()
    } finally {
      sse.close()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('dashboard: collector', () => {
  it('keeps at most historyPoints points of each time series', async () => {
    const node = cannedNode('validator-0', validator(40))
    const collector = new DashboardCollector({ title: 't', kind: 'nodes', nodes: [node], historyPoints: 3 }, components)
    for (let i = 0; i < 6; i++) await collector.poll()
    const snapshot = await collector.poll()
    assert.equal(snapshot.heights.length, 3)
    assert.equal(snapshot.tokensPerSecond.length, 3)
  })

  it('measures tokens per second over the network across polls, a restarted node counting from zero', async () => {
    const clock = new SimulatedClock()
    let trained = 0
    const node: DashboardNode = {
      name: 'miner-0',
      get: async (path) =>
        path === '/status'
          ? {
              address: 'r3m0',
              height: 1,
              window: null,
              peers: 1,
              roles: ['miner'],
              metrics: { tokensTrained: trained },
            }
          : undefined,
    }
    const collector = new DashboardCollector({ title: 't', kind: 'nodes', nodes: [node] }, { clock })
    await collector.poll()
    // 2000 tokens over two seconds, in one jump as a stage's pass ends: 1000 a second.
    clock.advance(1000)
    await collector.poll()
    clock.advance(1000)
    trained = 2000
    assert.deepEqual((await collector.poll()).tokensPerSecond.at(-1), [2, 1000])
    // Restarted: its counter is back to 500, all of it new.
    clock.advance(1000)
    trained = 500
    assert.deepEqual((await collector.poll()).tokensPerSecond.at(-1), [3, 833])
  })

  it('reads the window, its pipeline and commits, claims, disputes with stakes and slashes', async () => {
    const collector = new DashboardCollector(
      { title: 't', kind: 'nodes', nodes: [cannedNode('validator-0', validator(40))] },
      components,
    )
    const s = await collector.poll()
    assert.equal(s.height, 40)
    assert.equal(s.proposer, 'validator-0')
    assert.equal(s.nodes[0]?.blockIntervalMs, 1000)
    assert.equal(s.window?.id, 1)
    assert.equal(s.window?.commits, 1)
    assert.equal(s.window?.reveals, 1)
    assert.deepEqual(s.window?.pipelines[0]?.links, [
      { from: 'r3m0', to: 'r3m2', fromSubnet: 0 },
      { from: 'r3m1', to: 'r3m2', fromSubnet: 0 },
    ])
    assert.deepEqual(s.window?.pipelines[0]?.stages[0]?.claims, { r3m0: 'challenged' })
    assert.deepEqual(
      s.claims.map((c) => [c.window, c.revealed, c.challenged]),
      [
        [1, 1, 1],
        [0, 0, 0],
      ],
    )
    assert.equal(s.disputes.length, 1)
    assert.equal(s.disputes[0]?.owner, 'r3m0')
    assert.deepEqual(s.disputes[0]?.slashed, ['r3m0'])
    assert.deepEqual(s.disputes[0]?.stakes, { r3m0: '5000000' })
    assert.deepEqual(s.supply, { minted: '7', slashed: '3' })
  })

  it('reads the end of a dispute that was open at the last poll', async () => {
    const answers = validator(40)
    const settled = answers['/query/challenge/ch-0'] as Record<string, unknown>
    const open = { ...settled, stage: 'l3', outcome: null, settledHeight: null }
    answers['/query/challenge/ch-0'] = open
    answers['/query/challenges'] = [open]
    const collector = new DashboardCollector(
      { title: 't', kind: 'nodes', nodes: [cannedNode('validator-0', answers)] },
      components,
    )
    assert.deepEqual(
      (await collector.poll()).disputes.map((d) => [d.stage, d.outcome]),
      [['l3', null]],
    )
    answers['/query/challenge/ch-0'] = settled
    answers['/query/challenges'] = []
    const s = await collector.poll()
    assert.deepEqual(
      s.disputes.map((d) => [d.stage, d.outcome, d.settledHeight]),
      [['resolved', 'challenger', 33]],
    )
    assert.deepEqual(s.disputes[0]?.slashed, ['r3m0'])
  })

  it('shows a node that stops answering as down and keeps the last chain view, marked stale', async () => {
    const node = cannedNode('validator-0', validator(40))
    const collector = new DashboardCollector({ title: 't', kind: 'nodes', nodes: [node] }, components)
    await collector.poll()
    node.down = true
    const s = await collector.poll()
    assert.equal(s.nodes[0]?.up, false)
    assert.equal(s.nodes[0]?.height, null)
    assert.equal(s.nodes[0]?.address, 'r3v0', 'a node that is down is still named')
    assert.deepEqual(s.nodes[0]?.roles, ['validator'])
    assert.equal(s.chainStale, true)
    assert.equal(s.window?.id, 1, 'the last window read stays')
    assert.equal(s.height, 40)
  })

  it("takes each node's memory and event-loop lag from its /metrics, every few polls", async () => {
    const node = cannedNode('validator-0', validator(40))
    let scrapes = 0
    const withMetrics: DashboardNode = {
      ...node,
      get: node.get,
      getText: async (path) => {
        scrapes++
        return path === '/metrics'
          ? [
              '# HELP process_resident_memory_bytes Resident memory size in bytes.',
              '# TYPE process_resident_memory_bytes gauge',
              'process_resident_memory_bytes 268435456',
              'nodejs_eventloop_lag_p99_seconds 0.0123',
              'r3mes_block_height{node="x"} 40',
            ].join('\n')
          : undefined
      },
    }
    const collector = new DashboardCollector({ title: 't', kind: 'nodes', nodes: [withMetrics] }, components)
    const s = await collector.poll()
    assert.equal(s.nodes[0]?.memoryBytes, 268_435_456)
    assert.equal(s.nodes[0]?.eventLoopLagMs, 12.3)
    for (let i = 0; i < 4; i++) await collector.poll()
    assert.equal(scrapes, 1, 'one scrape in five polls')
    assert.deepEqual(
      [...unlabelledSamples('a 1\nb{l="x"} 2\n# c 3\nc NaN\nd 4', ['a', 'b', 'c']).entries()],
      [['a', 1]],
    )
  })

  it('follows a node that answers a challenge for every id only a page at a time, listing the newest', async () => {
    const answers = validator(40)
    const node: DashboardNode = {
      name: 'endless',
      get: async (path) => {
        const id = /^\/query\/challenge\/(ch-[0-9]+)$/.exec(path)?.[1]
        return id === undefined ? answers[path] : { ...(answers['/query/challenge/ch-0'] as object), id }
      },
    }
    const collector = new DashboardCollector({ title: 't', kind: 'nodes', nodes: [node] }, components)
    await collector.poll()
    const s = await collector.poll()
    assert.equal(s.disputes.length, MAX_DASHBOARD_DISPUTES)
    assert.equal(s.disputes[0]?.id, `ch-${2 * MAX_DASHBOARD_DISPUTES - 1}`, 'newest first')
  })

  it('takes an answer that does not fit the schema as no answer', async () => {
    const node = cannedNode('odd', { '/status': { address: 42, height: 'high' } })
    const s = await new DashboardCollector({ title: 't', kind: 'nodes', nodes: [node] }, components).poll()
    assert.equal(s.nodes[0]?.up, false)
  })

  it('links replica i to replica i mod n of the next stage, and every next replica to its partner', () => {
    assert.deepEqual(pipelineLinks(['a', 'b'], ['c', 'd']), [
      { from: 'a', to: 'c' },
      { from: 'b', to: 'd' },
    ])
    assert.deepEqual(pipelineLinks(['a'], ['c', 'd']), [
      { from: 'a', to: 'c' },
      { from: 'a', to: 'd' },
    ])
    assert.deepEqual(pipelineLinks([], ['c']), [])
  })
})

describe('dashboard: node API over HTTP', () => {
  let server: Server
  let base = ''
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/status') res.end('{"ok":true}')
      else if (req.url === '/big') res.end('x'.repeat(2048))
      else if (req.url === '/garbage') res.end('not json')
      else res.writeHead(404).end('{}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  it('reads JSON, and takes an error, garbage, an answer over the bound or no server as nothing', async () => {
    const node = httpNode(base, components, { maxBytes: 1024 })
    assert.deepEqual(await node.get('/status'), { ok: true })
    assert.equal(await node.get('/missing'), undefined)
    assert.equal(await node.get('/garbage'), undefined)
    assert.equal(await node.get('/big'), undefined)
    assert.equal(await httpNode('http://127.0.0.1:1', components).get('/status'), undefined)
  })
})

describe('dashboard: the page', () => {
  it('serves the page, uPlot and the latest snapshot as JSON and as an event', async () => {
    const collector = new DashboardCollector(
      { title: 'canned', kind: 'nodes', nodes: [cannedNode('validator-0', validator(40))] },
      components,
    )
    const dashboard = await startDashboard({ collector, pollIntervalMs: 50 }, components)
    try {
      const page = await fetch(`${dashboard.url}/`)
      assert.match(page.headers.get('content-type') ?? '', /text\/html/)
      const html = await page.text()
      assert.match(html, /id="loss-chart"/)
      assert.doesNotMatch(html, /https?:\/\//, 'nothing fetched from elsewhere')
      const uplot = await fetch(`${dashboard.url}/vendor/uPlot.esm.js`)
      assert.equal(uplot.status, 200)
      assert.match(await uplot.text(), /export \{ uPlot as default \}|export default/)
      const app = await (await fetch(`${dashboard.url}/app.js`)).text()
      assert.doesNotMatch(app, /https?:\/\//)
      await dashboard.refresh()
      const snapshot = (await (await fetch(`${dashboard.url}/snapshot`)).json()) as { title: string; height: number }
      assert.deepEqual([snapshot.title, snapshot.height], ['canned', 40])
      const events = await fetch(`${dashboard.url}/events`)
      assert.match(events.headers.get('content-type') ?? '', /text\/event-stream/)
      const reader = events.body?.getReader() as ReadableStreamDefaultReader<Uint8Array>
      let text = ''
      while (!/event: snapshot\ndata: \{.*\}\n\n/.test(text))
        text += new TextDecoder().decode((await reader.read()).value)
      await reader.cancel()
      assert.equal((await fetch(`${dashboard.url}/nothing`)).status, 404)
    } finally {
      await dashboard.close()
    }
  })
})

describe('dashboard: command line', () => {
  it('gives --dashboard an optional port', () => {
    const accept = (t: string) => /^[0-9]+$/.test(t)
    assert.deepEqual(optionalValue(['--dashboard'], 'dashboard', '8090', accept), ['--dashboard=8090'])
    assert.deepEqual(optionalValue(['--dashboard', '9000', 'a.yaml'], 'dashboard', '8090', accept), [
      '--dashboard=9000',
      'a.yaml',
    ])
    assert.deepEqual(optionalValue(['--dashboard', 'a.yaml'], 'dashboard', '8090', accept), [
      '--dashboard=8090',
      'a.yaml',
    ])
  })

  it('refuses bad node URLs, a missing --nodes, and bad ports with errors naming them', async () => {
    const none = await cli('dashboard')
    assert.equal(none.code, ExitCode.usage)
    assert.match(none.err, /--nodes URL is required/)
    const bad = await cli('dashboard', '--nodes', 'http://127.0.0.1:26657,ftp://x')
    assert.equal(bad.code, ExitCode.usage)
    assert.match(bad.err, /--nodes: 'ftp:\/\/x' is not the URL of a node's API/)
    const twice = await cli('dashboard', '--nodes', 'http://a:1', '--nodes', 'http://a:1/')
    assert.match(twice.err, /names http:\/\/a:1 twice/)
    const port = await cli('dashboard', '--nodes', 'http://a:1', '--port', '70000')
    assert.match(port.err, /--port must be an integer in \[0, 65535\], got '70000'/)
    const testnet = await cli('testnet', '--dashboard', '99999')
    assert.equal(testnet.code, ExitCode.usage)
    assert.match(testnet.err, /--dashboard must be an integer in \[0, 65535\], got '99999'/)
    const staged = await cli('testnet', '--dashboard', '--stage', 'run', '--dir', '/nonexistent')
    assert.match(staged.err, /--dashboard follows a whole run/)
  })
})
