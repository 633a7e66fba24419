/**
 * Who may use a node's admin routes (fault injection, clock skew). They can partition a
 * validator or skew its clock, so they are off unless the node is given a token, and when on
 * a request must pass three checks, each against a different attacker:
 *
 *   - Host names the loopback (or a configured name): a DNS-rebinding page reaches the port
 *     under its own host name, which is refused (421).
 *   - `Authorization: Bearer <token>` with the node's token: anything else on the machine or
 *     the network that can reach the port but cannot read the node's token file (401, 403).
 *   - `Content-Type: application/json`: a browser sends that cross-origin only after a CORS
 *     preflight this server never answers, so a page's "simple" text/plain POST is refused (415).
 *
 * The token is random per node, kept in a file of mode 0600 in the node's home; the testnet
 * harness writes it and sends it with each fault.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { HttpError } from './http-server.ts'

/** Random bytes in a token: 256 bits, beyond guessing. */
const ADMIN_TOKEN_BYTES = 32

/** The file in a node's home that holds its admin token, when the harness enables the routes. */
export const ADMIN_TOKEN_FILE = 'admin.token'

export interface AdminAccess {
  /** The bearer token (hex) a request must carry. */
  readonly token: string
  /** Host names (without port) a request may name, besides the loopback names. */
  readonly hosts?: readonly string[]
}

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]']

/** A fresh random token, written to `path` readable by its owner only; returns the token. */
export function writeAdminToken(path: string): string {
  const token = randomBytes(ADMIN_TOKEN_BYTES).toString('hex')
  writeFileSync(path, `${token}\n`, { mode: 0o600 })
  return token
}

/** The token in `path`; a file without a whole token is refused rather than used. */
export function readAdminToken(path: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8').trim()
  } catch (error) {
    throw new InvalidArgumentError(`cannot read the admin token file ${path}: ${(error as Error).message}`)
  }
  if (!new RegExp(`^[0-9a-f]{${2 * ADMIN_TOKEN_BYTES}}$`).test(text))
    throw new InvalidArgumentError(`the admin token file ${path} does not hold ${ADMIN_TOKEN_BYTES} bytes of hex`)
  return text
}

/** The host name of a Host header (`name:port`, `[v6]:port`), lower case. */
function hostName(header: string): string {
  const h = header.trim().toLowerCase()
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1)
  const colon = h.indexOf(':')
  return colon < 0 ? h : h.slice(0, colon)
}

/** Throws the HttpError a request to an admin route deserves, or returns when it may proceed. */
export function checkAdminRequest(access: AdminAccess, req: IncomingMessage): void {
  const host = req.headers.host
  const allowed = [...LOOPBACK_HOSTS, ...(access.hosts ?? []).map((h) => h.toLowerCase())]
  if (host === undefined || !allowed.includes(hostName(host)))
    throw new HttpError(
      421,
      `admin routes answer only to the hosts ${allowed.join(', ')}; Host was ${host ?? 'absent'}`,
      {
        code: 'misdirected_request',
      },
    )
  const auth = req.headers.authorization
  if (auth === undefined || !auth.startsWith('Bearer '))
    throw new HttpError(401, 'admin routes need an Authorization: Bearer <token> header', { code: 'unauthorized' })
  if (!sameSecret(auth.slice('Bearer '.length).trim(), access.token))
    throw new HttpError(403, 'the admin token is wrong', { code: 'forbidden' })
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json')
    throw new HttpError(415, `admin routes take Content-Type: application/json, not '${type ?? ''}'`, {
      code: 'unsupported_media_type',
    })
}

/** Constant-time comparison (only the length, public anyway, can end it early). */
function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}
