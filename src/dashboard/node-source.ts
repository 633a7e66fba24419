/**
 * Where the dashboard reads a node from: its HTTP API (`r3mes dashboard --nodes URL`), or a
 * testnet's node process (which may sit behind a Unix socket in its own network namespace).
 * Either way a node that does not answer, answers an error, or answers more than the
 * dashboard reads is `undefined`: it shows as down, and nothing it sends is trusted before
 * the collector's schemas have checked it.
 */
import { type Clock, deadlineSignal } from '../runtime/clock.ts'
import { DASHBOARD_NODE_REQUEST_TIMEOUT_MS, MAX_DASHBOARD_NODE_ANSWER_BYTES } from '../runtime/limits.ts'

export interface DashboardNode {
  /** How the page names the node (its testnet name, or its URL's host and port). */
  readonly name: string
  /** The parsed JSON of a GET on the node's API, or undefined when there is none to have. */
  get(path: string): Promise<unknown>
  /** The text of a GET (`/metrics`), where the node can be read so; undefined as for `get`. */
  getText?(path: string): Promise<string | undefined>
}

export interface HttpNodeComponents {
  readonly clock: Clock
}

/** The body of `response`, or undefined once it passes `maxBytes` (the rest is not read). */
async function boundedText(response: Response, maxBytes: number): Promise<string | undefined> {
  if (Number(response.headers.get('content-length') ?? 0) > maxBytes) {
    await response.body?.cancel()
    return undefined
  }
  const reader = response.body?.getReader()
  if (reader === undefined) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel()
      return undefined
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** A node read over its HTTP API at `url` (a base URL, already checked). */
export function httpNode(
  url: string,
  components: HttpNodeComponents,
  bounds: { timeoutMs?: number; maxBytes?: number } = {},
): DashboardNode {
  const timeoutMs = bounds.timeoutMs ?? DASHBOARD_NODE_REQUEST_TIMEOUT_MS
  const maxBytes = bounds.maxBytes ?? MAX_DASHBOARD_NODE_ANSWER_BYTES
  const getText = async (path: string): Promise<string | undefined> => {
    try {
      const response = await fetch(`${url}${path}`, {
        signal: deadlineSignal(components.clock, timeoutMs, `GET ${url}${path}`),
      })
      if (response.ok) return await boundedText(response, maxBytes)
      await response.body?.cancel()
      return undefined
    } catch {
      // Unreachable, too slow or cut off: all the same to the page, a node that is down.
      return undefined
    }
  }
  return {
    name: new URL(url).host,
    getText,
    async get(path) {
      const text = await getText(path)
      if (text === undefined) return undefined
      try {
        return JSON.parse(text) as unknown
      } catch {
        return undefined
      }
    },
  }
}
