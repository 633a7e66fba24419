/**
 * The dashboard's HTTP server: the page (static files, served from this folder and uPlot from
 * its package, nothing from outside the machine), `GET /snapshot` (the latest picture as JSON)
 * and `GET /events` (server-sent events: a `snapshot` event at every poll). It polls the nodes
 * through the collector once per interval for as long as it runs; a poll that fails is logged
 * and the next one tried.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Router, type RunningHttpServer, sendJson, startHttpServer } from '../actors/http/http-server.ts'
import { type Clock, sleep } from '../runtime/clock.ts'
import type { Logger } from '../runtime/logger.ts'
import type { DashboardCollector } from './collector.ts'
import type { DashboardSnapshot } from './snapshot.ts'
import { type SseBounds, SseChannel } from './sse.ts'

/** How often the nodes are polled and the page updated. */
export const DASHBOARD_POLL_INTERVAL_MS = 1000

/** The files of the page: path → [file, content type]. */
const STATIC_FILES: Readonly<Record<string, readonly [URL, string]>> = {
  '/': [new URL('./static/index.html', import.meta.url), 'text/html; charset=utf-8'],
  '/app.js': [new URL('./static/app.js', import.meta.url), 'text/javascript; charset=utf-8'],
  '/style.css': [new URL('./static/style.css', import.meta.url), 'text/css; charset=utf-8'],
  '/vendor/uPlot.esm.js': [new URL(import.meta.resolve('uplot/dist/uPlot.esm.js')), 'text/javascript; charset=utf-8'],
  '/vendor/uPlot.min.css': [new URL(import.meta.resolve('uplot/dist/uPlot.min.css')), 'text/css; charset=utf-8'],
}

export interface DashboardServerInit {
  readonly collector: DashboardCollector
  /** @default 127.0.0.1 */
  readonly host?: string
  /** 0 picks a free port. @default 0 */
  readonly port?: number
  /** @default DASHBOARD_POLL_INTERVAL_MS */
  readonly pollIntervalMs?: number
  readonly sse?: SseBounds
}

export interface DashboardServerComponents {
  readonly clock: Clock
  readonly logger: Logger
}

export interface RunningDashboard {
  /** `http://host:port`. */
  readonly url: string
  /** The latest picture (undefined before the first poll ends). */
  latest(): DashboardSnapshot | undefined
  /** Poll now, send the result, and return it (the run's last state before the nodes stop). */
  refresh(): Promise<DashboardSnapshot>
  close(): Promise<void>
}

export async function startDashboard(
  init: DashboardServerInit,
  components: DashboardServerComponents,
): Promise<RunningDashboard> {
  const files = new Map(
    Object.entries(STATIC_FILES).map(([path, [file, type]]) => [
      path,
      { body: readFileSync(fileURLToPath(file)), type },
    ]),
  )
  const sse = new SseChannel(init.sse)
  let latest: DashboardSnapshot | undefined
  const router = new Router()
  for (const [path, file] of files)
    router.route('GET', path, (_req, res) => {
      res.writeHead(200, {
        'content-type': file.type,
        'content-length': file.body.length,
        'cache-control': 'no-cache',
      })
      res.end(file.body)
    })
  router.route('GET', '/snapshot', (_req, res) => sendJson(res, 200, latest ?? null))
  router.route('GET', '/events', (req, res) => sse.open(req, res))
  const server: RunningHttpServer = await startHttpServer(
    { router, host: init.host ?? '127.0.0.1', port: init.port ?? 0 },
    components,
  )

  const stop = new AbortController()
  const interval = init.pollIntervalMs ?? DASHBOARD_POLL_INTERVAL_MS
  const poll = async (): Promise<DashboardSnapshot> => {
    const snapshot = await init.collector.poll()
    latest = snapshot
    sse.send('snapshot', JSON.stringify(snapshot))
    return snapshot
  }
  const loop = (async () => {
    while (!stop.signal.aborted) {
      try {
        await poll()
      } catch (error) {
        components.logger.warn({ err: error }, 'dashboard poll failed')
      }
      await sleep(components.clock, interval, stop.signal).catch(() => undefined)
    }
  })()

  return {
    url: server.url,
    latest: () => latest,
    refresh: poll,
    async close() {
      stop.abort()
      await loop
      sse.close()
      await server.close()
    },
  }
}
