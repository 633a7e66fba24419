/**
 * A client of a node's public HTTP API (src/actors/node-api.ts), for `r3mes tx` and
 * `r3mes query`: the chain id and height from `/status`, chain queries, `POST /tx` and
 * `GET /tx/<id>`. Every failure is an error that names the node's URL and what went wrong:
 * a node that cannot be reached, one that does not answer in time, an answer that is not the
 * API's.
 */
import { type Clock, DeadlineError, deadlineSignal } from '../runtime/clock.ts'
import { InvalidArgumentError, R3mesError } from '../runtime/errors.ts'

/** Longest one request to the node may take. */
export const NODE_REQUEST_TIMEOUT_MS = 15_000

/** The node could not be reached or did not answer in time. */
export class NodeUnreachableError extends R3mesError {
  constructor(url: string, reason: string) {
    super('ERR_NODE_UNREACHABLE', `cannot reach the node at ${url}: ${reason}`, { url })
  }
}

/** The node answered, but with an error (a 4xx/5xx in the API's error shape) or not as the API does. */
export class NodeAnswerError extends R3mesError {
  readonly status: number
  readonly apiCode: string | null
  constructor(url: string, status: number, apiCode: string | null, message: string) {
    super('ERR_NODE_ANSWER', `the node at ${url} answered ${status}: ${message}`, { url, status, apiCode })
    this.status = status
    this.apiCode = apiCode
  }
}

/** What `POST /tx` answers. */
export interface TxAdmission {
  readonly txId: string
  readonly code: string
  readonly log: string
}

/** What `GET /tx/<id>` answers. */
export interface TxLanding extends TxAdmission {
  readonly height: number
}

export interface NodeStatusSummary {
  readonly chainId: string
  readonly height: number
}

export interface NodeClientComponents {
  readonly clock: Clock
}

/** `--node URL` as a base URL: http(s), a host, no query; a trailing slash is dropped. */
export function parseNodeUrl(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new InvalidArgumentError(
      `--node must be the URL of a node's API, e.g. http://127.0.0.1:26657, got '${text}'`,
      {
        option: 'node',
      },
    )
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '')
    throw new InvalidArgumentError(
      `--node must be an http:// or https:// URL without a query, e.g. http://127.0.0.1:26657, got '${text}'`,
      { option: 'node' },
    )
  return url.toString().replace(/\/+$/, '')
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export class NodeClient {
  readonly url: string
  readonly #c: NodeClientComponents

  constructor(url: string, components: NodeClientComponents) {
    this.url = parseNodeUrl(url)
    this.#c = components
  }

  /** The chain id and height the node reports. */
  async status(): Promise<NodeStatusSummary> {
    const { body } = await this.#request('GET', '/status', [200])
    if (!isObject(body) || typeof body.chainId !== 'string' || typeof body.height !== 'number')
      throw new NodeAnswerError(this.url, 200, null, '/status has no chainId and height: is this an r3mes node?')
    return { chainId: body.chainId, height: body.height }
  }

  /** A chain query (chain/query.ts); an unknown path or a pruned entry is a NodeAnswerError. */
  async query(path: string): Promise<unknown> {
    const encoded = path
      .split('/')
      .map((segment) => encodeURIComponent(segment))
      .join('%2F')
    return (await this.#request('GET', `/query/${encoded}`, [200])).body
  }

  /** Hand a signed transaction to the node: its admission, taken ('OK') or refused (the chain's code). */
  async submitTx(tx: Uint8Array): Promise<TxAdmission> {
    const { body } = await this.#request('POST', '/tx', [200, 422], { tx: Buffer.from(tx).toString('hex') })
    if (!isObject(body) || typeof body.txId !== 'string' || typeof body.code !== 'string')
      throw new NodeAnswerError(this.url, 200, null, 'POST /tx did not answer {txId, code, log}')
    return { txId: body.txId, code: body.code, log: typeof body.log === 'string' ? body.log : '' }
  }

  /** Where transaction `txId` landed, or undefined while the node knows of no block holding it. */
  async txResult(txId: string): Promise<TxLanding | undefined> {
    const { status, body } = await this.#request('GET', `/tx/${encodeURIComponent(txId)}`, [200, 404])
    if (status === 404) return undefined
    if (!isObject(body) || typeof body.height !== 'number' || typeof body.code !== 'string')
      throw new NodeAnswerError(this.url, 200, null, 'GET /tx/<id> did not answer {txId, height, code, log}')
    return { txId, height: body.height, code: body.code, log: typeof body.log === 'string' ? body.log : '' }
  }

  async #request(
    method: 'GET' | 'POST',
    path: string,
    accepted: readonly number[],
    json?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const target = `${this.url}${path}`
    let response: Response
    let text: string
    try {
      response = await fetch(target, {
        method,
        ...(json === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }),
        signal: deadlineSignal(this.#c.clock, NODE_REQUEST_TIMEOUT_MS, `${method} ${target}`),
      })
      text = await response.text()
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
      const reason =
        cause instanceof DeadlineError
          ? `no answer within ${NODE_REQUEST_TIMEOUT_MS} ms`
          : cause instanceof Error
            ? cause.message
            : String(cause)
      throw new NodeUnreachableError(this.url, reason)
    }
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      throw new NodeAnswerError(this.url, response.status, null, `${method} ${path} did not answer JSON`)
    }
    if (accepted.includes(response.status)) return { status: response.status, body }
    const error = isObject(body) && isObject(body.error) ? body.error : undefined
    const message = typeof error?.message === 'string' ? error.message : text.slice(0, 200)
    const code = typeof error?.code === 'string' ? error.code : null
    throw new NodeAnswerError(this.url, response.status, code, message)
  }
}
