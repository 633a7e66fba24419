/**
 * The live network page in a real headless Chromium (Debian's `chromium`, driven by
 * puppeteer-core) during a real testnet: `r3mes testnet --dashboard 0` on the default
 * topology, one `r3mes node` process per node. The test opens the page, waits until the loss
 * chart shows at least two windows, checks the heights, window and loss the page shows against
 * the nodes' own `/status`, and saves a screenshot in test-output/dashboard.png (and, with
 * R3MES_DASHBOARD_SCREENSHOT=FILE, also there: `docs/dashboard.png` is made this way). Skips,
 * saying why, when no browser is installed.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import puppeteer, { type Browser } from 'puppeteer-core'
import { runCli } from '../../src/cli/main.ts'
import { DashboardCollector } from '../../src/dashboard/collector.ts'
import { httpNode } from '../../src/dashboard/node-source.ts'
import { startDashboard } from '../../src/dashboard/server.ts'
import { sleep } from '../../src/runtime/clock.ts'
import { createRuntimeComponents } from '../../src/runtime/components.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { RUN_FILE } from '../../src/testnet/layout.ts'
import { repo } from './helpers/r3mes-process.ts'

const clock = new SystemClock()

/** The browser to drive: $CHROME_PATH, or Debian's chromium, or another usual place. */
function browserPath(): string | undefined {
  const candidates = [
    process.env.CHROME_PATH,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
  ]
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p))
}

interface Status {
  readonly height: number
  readonly window: number | null
  readonly roles: readonly string[]
  readonly loss?: readonly { loss: number }[]
}

async function statusOf(apiPort: number): Promise<Status | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${apiPort}/status`)
    return res.ok ? ((await res.json()) as Status) : undefined
  } catch {
    return undefined
  }
}

describe('the live network page in a headless browser, during a testnet', function () {
  this.timeout(12 * 60_000)
  const executablePath = browserPath()
  let root = ''
  let browser: Browser | undefined
  const stop = new AbortController()
  let run: Promise<number> | undefined
  let progress = ''

  before(async function () {
    if (executablePath === undefined) {
      // biome-ignore lint/suspicious/noConsole: the reason a test skips belongs in its output
      console.log(
        '      skipped: no Chromium found (set CHROME_PATH, or `apt-get install chromium`; .ci/run installs it)',
      )
      this.skip()
    }
    browser = await puppeteer.launch({
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      // A wait for the testnet's second window outlasts puppeteer's default of 180 s on a loaded machine.
      protocolTimeout: 15 * 60_000,
    })
  })

  it("draws a chaos run's faults and invariants, a dispute, the pipeline links and a node that is down", async () => {
    // The page alone, on canned node answers: the testnet below has no faults or disputes to show.
    const components = createRuntimeComponents({ name: 'dashboard-test', logLevel: 'silent' })
    const answers: Record<string, unknown> = {
      '/status': { address: 'r3v0', height: 7, window: 0, peers: 1, roles: ['validator'], round: 0 },
      '/query/window': { id: 0, openHeight: 1, closeHeight: 20, aggregator: 'r3v0', closed: false },
      '/query/tasks/0': [
        { id: 't0', shard: 0, subnet: 0, miners: ['r3m0'] },
        { id: 't1', shard: 0, subnet: 1, miners: ['r3m1'] },
      ],
      '/query/claims/0': [],
      '/query/challenges': [],
      '/query/challenge/ch-0': {
        id: 'ch-0',
        kind: 'fault',
        claimId: 'c0',
        challenger: 'r3s0',
        bond: '2000000',
        stage: 'l3',
        attempt: 1,
        verifier: 'r3v0',
        panel: ['r3a0', 'r3a1', 'r3a2'],
        votes: { r3a0: 'fault' },
        penalized: [],
        outcome: null,
        openedHeight: 5,
        settledHeight: null,
      },
      '/query/challenge/ch-1': null,
    }
    const collector = new DashboardCollector(
      {
        title: 'chaos canned',
        kind: 'chaos',
        nodes: [
          { name: 'validator-0', get: async (path) => answers[path] },
          { name: 'miner-0', get: async () => undefined },
        ],
        run: {
          stage: () => 'check',
          faults: () => [{ action: 'kill', targets: ['miner-0'], heightAtFire: 5, firedAtMs: 12_000 }],
          invariants: () => [
            { name: 'agreement', ok: true, detail: '7 heights' },
            { name: 'recovery', ok: false, detail: 'stalled' },
          ],
        },
      },
      components,
    )
    const dashboard = await startDashboard({ collector, pollIntervalMs: 200 }, components)
    try {
      const page = await (browser as Browser).newPage()
      const errors: string[] = []
      page.on('pageerror', (error) => errors.push(String(error)))
      await page.goto(dashboard.url)
      await page.waitForFunction("document.querySelectorAll('#invariants li[data-invariant]').length === 2")
      const shown = (await page.evaluate(`({
        stage: document.getElementById('stage').textContent,
        faults: [...document.querySelectorAll('#faults li')].map((li) => li.textContent),
        invariants: [...document.querySelectorAll('#invariants li')].map((li) => li.dataset.ok + ' ' + li.textContent),
        dispute: document.querySelector('#disputes tr[data-dispute="ch-0"]').textContent,
        links: document.querySelector('#pipelines .links').textContent,
        down: document.querySelector('#nodes tr[data-node="miner-0"]').dataset.up,
      })`)) as Record<string, unknown>
      assert.deepEqual(shown, {
        stage: 'check',
        faults: ['12 s at height 5: kill miner-0'],
        invariants: ['true ok agreement: 7 heights', 'false FAIL recovery: stalled'],
        dispute: 'ch-0c0–r3s0 (2 R3MES)L3 panelvalidator-0r3a0: fault, r3a1, r3a2open––',
        links: 'r3m0 → r3m1',
        down: 'false',
      })
      assert.deepEqual(errors, [])
      await page.close()
    } finally {
      await dashboard.close()
    }
  })

  after(async () => {
    await browser?.close()
    stop.abort()
    await run
    if (root !== '') await rm(root, { recursive: true, force: true, maxRetries: 5 })
  })

  it('shows the loss of at least two windows and the heights and window the nodes report', async () => {
    root = await mkdtemp(join(tmpdir(), 'r3mes-dashboard-'))
    const dir = join(root, 'run')
    run = runCli(['testnet', '--dashboard', '0', '--dir', dir], {
      out: () => undefined,
      err: (t) => (progress += `${t}\n`),
      progress: { isTTY: false, write: (t) => (progress += t) },
      signal: stop.signal,
    })
    let url: string | undefined
    while (url === undefined) {
      url = /dashboard: (http:\/\/\S+)/.exec(progress)?.[1]
      if (url === undefined) await sleep(clock, 200)
    }
    const page = await (browser as Browser).newPage()
    await page.setViewport({ width: 1400, height: 1100 })
    const pageErrors: string[] = []
    page.on('pageerror', (error) => pageErrors.push(String(error)))
    await page.goto(url)
    // Browser-side code as text: the test is compiled without the DOM's types.
    await page.waitForFunction("Number(document.getElementById('loss-chart').dataset.points) >= 2", {
      timeout: 10 * 60_000,
      polling: 1000,
    })
    const ports = JSON.parse(readFileSync(join(dir, RUN_FILE), 'utf8')).ports as Record<string, { api: number }>
    const before = new Map<string, Status | undefined>()
    for (const [name, p] of Object.entries(ports)) before.set(name, await statusOf(p.api))
    const shown = (await page.evaluate(`({
      height: Number(document.getElementById('height').textContent),
      window: Number(document.getElementById('window-id').textContent),
      lastLoss: Number(document.getElementById('loss-chart').dataset.last),
      nodes: [...document.querySelectorAll('#nodes tbody tr')].map((tr) => ({
        name: tr.dataset.node,
        up: tr.dataset.up === 'true',
        height: Number(tr.dataset.height),
        cell: Number(tr.querySelector('.height').textContent),
      })),
    })`)) as {
      height: number
      window: number
      lastLoss: number
      nodes: { name: string; up: boolean; height: number; cell: number }[]
    }
    const after = new Map<string, Status | undefined>()
    for (const [name, p] of Object.entries(ports)) after.set(name, await statusOf(p.api))

    assert.deepEqual(shown.nodes.map((n) => n.name).sort(), Object.keys(ports).sort(), 'every node has its row')
    // The page is at most a poll (a second, a few on a loaded machine) behind the nodes.
    const slack = 10
    for (const n of shown.nodes) {
      const b = before.get(n.name)
      const a = after.get(n.name)
      if (b === undefined || a === undefined) continue
      assert.ok(n.up, `${n.name} answers /status but shows as down`)
      assert.equal(n.cell, n.height, `${n.name}: the height shown is the one sent`)
      assert.ok(
        n.height <= a.height && n.height >= b.height - slack,
        `${n.name}: page shows height ${n.height}, /status said ${b.height} then ${a.height}`,
      )
    }
    const heights = [...after.values()].map((s) => s?.height ?? 0)
    assert.ok(shown.height <= Math.max(...heights) && shown.height >= Math.max(...heights) - slack, 'headline height')
    const windows = [...after.values(), ...before.values()].map((s) => s?.window ?? 0)
    assert.ok(
      shown.window >= Math.min(...windows) - 1 && shown.window <= Math.max(...windows),
      `page shows window ${shown.window}, the nodes ${windows.join(',')}`,
    )
    const serving = [...after.values()].find((s) => s?.roles.includes('serving'))
    const losses = (serving?.loss ?? []).map((l) => l.loss)
    assert.ok(losses.length >= 2, `the serving node evaluated ${losses.length} times`)
    assert.ok(losses.includes(shown.lastLoss), `the page's last loss ${shown.lastLoss} is one of ${losses.join(', ')}`)
    assert.deepEqual(pageErrors, [], 'the page ran without errors')

    // `r3mes dashboard --nodes` reads the same nodes over their HTTP APIs.
    const components = createRuntimeComponents({ name: 'dashboard-test', logLevel: 'silent' })
    const byHand = await new DashboardCollector(
      {
        title: 'by hand',
        kind: 'nodes',
        nodes: Object.values(ports).map((p) => httpNode(`http://127.0.0.1:${p.api}`, components)),
      },
      components,
    ).poll()
    const latest = Math.max(...heights)
    assert.ok(
      byHand.nodes.every((n) => n.up),
      `every node answers: ${byHand.nodes.map((n) => n.up).join(',')}`,
    )
    assert.ok(byHand.height >= latest, `by hand: height ${byHand.height}, the nodes ${latest}`)
    assert.ok(byHand.window !== null && byHand.window.tasks > 0, 'the current window and its tasks are read')
    assert.ok(
      byHand.nodes.every((n) => (n.memoryBytes ?? 0) > 0),
      `each node's memory from its /metrics: ${byHand.nodes.map((n) => n.memoryBytes).join(',')}`,
    )
    assert.ok(byHand.loss.length >= 2, "and the serving node's loss")

    const out = join(repo, 'test-output')
    mkdirSync(out, { recursive: true })
    const shot = join(out, 'dashboard.png')
    await page.screenshot({ path: shot, fullPage: true })
    const copy = process.env.R3MES_DASHBOARD_SCREENSHOT
    if (copy !== undefined && copy !== '') await copyFile(shot, copy)
  })
})
