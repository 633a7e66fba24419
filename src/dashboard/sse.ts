/**
 * Server-sent events (the WHATWG `text/event-stream` format) to the page's browsers: one
 * stream per browser, each event written to every stream. Bounded: at most
 * MAX_DASHBOARD_SSE_CLIENTS streams (one more is answered 503), and a browser that leaves more
 * than MAX_DASHBOARD_SSE_BUFFERED_BYTES unread is disconnected (it reconnects by itself, as
 * EventSource does, and gets the latest event at once).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { HttpError } from '../actors/http/http-server.ts'
import { MAX_DASHBOARD_SSE_BUFFERED_BYTES, MAX_DASHBOARD_SSE_CLIENTS } from '../runtime/limits.ts'

/**
 * One event in the stream format: `event:` then one `data:` line per line of `data` (a
 * newline inside the data would otherwise end the field), then a blank line.
 */
export function sseFrame(event: string, data: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(event)) throw new Error(`an SSE event name is a plain word, not '${event}'`)
  const lines = data.split(/\r\n|\r|\n/).map((line) => `data: ${line}\n`)
  return `event: ${event}\n${lines.join('')}\n`
}

export interface SseBounds {
  /** @default MAX_DASHBOARD_SSE_CLIENTS */
  readonly maxClients?: number
  /** @default MAX_DASHBOARD_SSE_BUFFERED_BYTES */
  readonly maxBufferedBytes?: number
}

export class SseChannel {
  readonly #clients = new Set<ServerResponse>()
  readonly #maxClients: number
  readonly #maxBuffered: number
  /** The last frame sent, given at once to a browser that connects. */
  #last: string | undefined

  constructor(bounds: SseBounds = {}) {
    this.#maxClients = bounds.maxClients ?? MAX_DASHBOARD_SSE_CLIENTS
    this.#maxBuffered = bounds.maxBufferedBytes ?? MAX_DASHBOARD_SSE_BUFFERED_BYTES
  }

  get clients(): number {
    return this.#clients.size
  }

  /** Take a browser's `GET /events`: the stream stays open until it goes away or `close`. */
  open(request: IncomingMessage, response: ServerResponse): void {
    if (this.#clients.size >= this.#maxClients)
      throw new HttpError(503, `the dashboard already serves ${this.#maxClients} live pages; close one`, {
        code: 'too_many_clients',
      })
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    })
    // Reconnect after a second when the stream drops (EventSource's own default is ~3 s).
    response.write('retry: 1000\n\n')
    if (this.#last !== undefined) response.write(this.#last)
    this.#clients.add(response)
    const forget = (): void => {
      this.#clients.delete(response)
    }
    request.once('close', forget)
    response.once('close', forget)
  }

  /** Send one event to every browser. */
  send(event: string, data: string): void {
    const frame = sseFrame(event, data)
    this.#last = frame
    for (const client of this.#clients) {
      if (client.writableLength > this.#maxBuffered) {
        this.#clients.delete(client)
        client.destroy()
        continue
      }
      client.write(frame)
    }
  }

  /** End every stream. */
  close(): void {
    for (const client of this.#clients) client.end()
    this.#clients.clear()
  }
}
