/**
 * `r3mes query <what> [args] --node URL`: read the chain through a node's public API, as a
 * Cosmos `appd query …` does. Each query maps onto one `GET /query/<path>` (chain/query.ts)
 * or `GET /tx/<id>`; the answer prints as `key: value` lines or a table, or with --json as the
 * node sent it.
 */
import { isAddress } from '../../chain/keys.ts'
import { InvalidArgumentError, R3mesError } from '../../runtime/errors.ts'
import { SystemClock } from '../../runtime/system-clock.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { NodeAnswerError, NodeClient } from '../node-client.ts'
import { stringOption } from '../options.ts'

/** One query: its arguments, and the API path they name. */
interface QuerySpec {
  readonly args: readonly string[]
  /** How many of `args` may be left out (from the end). */
  readonly optional?: number
  readonly summary: string
  path(args: readonly string[]): string
}

function addressArg(text: string): string {
  if (!isAddress(text)) throw new InvalidArgumentError(`<addr> must be an account address (r3mes1…), got '${text}'`)
  return text
}

function windowArg(text: string): string {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text))
    throw new InvalidArgumentError(`<window> must be a window id (0, 1, …), got '${text}'`)
  return text
}

const QUERIES: Readonly<Record<string, QuerySpec>> = {
  account: {
    args: ['addr'],
    summary: 'balance and nonce of an account',
    path: ([a]) => `account/${addressArg(a as string)}`,
  },
  validators: { args: [], summary: 'the validator set and its power', path: () => 'validators' },
  stakers: { args: [], summary: 'every staker: stake, roles, subnet', path: () => 'stakers' },
  staker: { args: ['addr'], summary: 'one staker', path: ([a]) => `staker/${addressArg(a as string)}` },
  window: {
    args: ['id'],
    optional: 1,
    summary: 'the current training window, or window <id>',
    path: ([id]) => (id === undefined ? 'window' : `window/${windowArg(id)}`),
  },
  claims: { args: ['window'], summary: "a window's claims", path: ([w]) => `claims/${windowArg(w as string)}` },
  claim: { args: ['id'], summary: 'one claim', path: ([id]) => `claim/${id}` },
  challenges: { args: [], summary: 'the open challenges', path: () => 'challenges' },
  challenge: { args: ['id'], summary: 'one challenge', path: ([id]) => `challenge/${id}` },
  params: { args: [], summary: "the chain's parameters", path: () => 'params' },
  proposals: { args: [], summary: 'governance proposals', path: () => 'proposals' },
  proposal: { args: ['id'], summary: 'one proposal', path: ([id]) => `proposal/${id}` },
  height: { args: [], summary: 'the last executed height', path: () => 'height' },
  model: { args: [], summary: 'the model and its adapter pointers', path: () => 'model' },
  supply: { args: [], summary: 'token supply, minted and slashed', path: () => 'supply' },
  unbonding: {
    args: ['addr'],
    summary: "an account's unbonding entries",
    path: ([a]) => `unbonding/${addressArg(a as string)}`,
  },
  tx: { args: ['id'], summary: 'where a recent transaction landed', path: ([id]) => `tx/${id}` },
}

export const QUERY_NAMES = Object.keys(QUERIES)

/** The answer is null: the chain has no such entry. */
export class NotFoundError extends R3mesError {
  constructor(what: string) {
    super('ERR_NOT_FOUND', `the chain has no ${what}`, { what })
  }
}

/** A scalar as one cell or value. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return '-'
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

/** Rows of objects as an aligned table, one column per key any row has. */
function table(rows: readonly Record<string, unknown>[]): string {
  if (rows.length === 0) return '(none)'
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))]
  const cells = rows.map((r) => keys.map((k) => cell(r[k])))
  const widths = keys.map((k, i) => Math.max(k.length, ...cells.map((c) => (c[i] as string).length)))
  const line = (values: readonly string[]) =>
    values
      .map((x, i) => x.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd()
  return [line(keys), ...cells.map(line)].join('\n')
}

/** Human output: a scalar as is, an object as `key: value` lines, a list of objects as a table. */
export function formatAnswer(answer: unknown): string {
  if (Array.isArray(answer)) {
    if (answer.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x)))
      return table(answer as Record<string, unknown>[])
    return answer.map(cell).join('\n')
  }
  if (typeof answer === 'object' && answer !== null) {
    const entries = Object.entries(answer)
    const width = Math.max(0, ...entries.map(([k]) => k.length))
    return entries.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${cell(v)}`).join('\n')
  }
  return cell(answer)
}

function knownQueries(): string {
  return QUERY_NAMES.map((name) => {
    const spec = QUERIES[name] as QuerySpec
    const args = spec.args.map((a, i) => (i >= spec.args.length - (spec.optional ?? 0) ? `[${a}]` : `<${a}>`))
    return `  ${[name, ...args].join(' ').padEnd(20)}  ${spec.summary}`
  }).join('\n')
}

async function run(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const [what, ...rest] = args.positionals
  const spec = what === undefined ? undefined : QUERIES[what]
  if (spec === undefined || !Object.hasOwn(QUERIES, what as string))
    throw new InvalidArgumentError(
      `${what === undefined ? 'r3mes query needs a query' : `unknown query '${what}'`}; known queries: ${QUERY_NAMES.join(', ')}`,
    )
  const least = spec.args.length - (spec.optional ?? 0)
  if (rest.length < least || rest.length > spec.args.length)
    throw new InvalidArgumentError(
      `r3mes query ${what} takes ${spec.args.map((a) => `<${a}>`).join(' ') || 'no arguments'}; got ${rest.length} argument(s)`,
    )
  const path = spec.path(rest)
  const nodeUrl = stringOption(args.values, 'node', '')
  if (nodeUrl === '')
    throw new InvalidArgumentError("--node URL is required: the API of a node to ask (its ready line's 'api')", {
      option: 'node',
    })
  const client = new NodeClient(nodeUrl, { clock: new SystemClock() })
  let answer: unknown
  try {
    answer = what === 'tx' ? await client.txResult(rest[0] as string) : await client.query(path)
  } catch (error) {
    if (error instanceof NodeAnswerError && error.status === 404)
      throw new NodeAnswerError(
        client.url,
        404,
        error.apiCode,
        `no ${path} (${error.message.replace(/^.*answered 404: /, '')})`,
      )
    throw error
  }
  if (answer === null || answer === undefined)
    throw new NotFoundError(
      what === 'tx' ? `recent transaction ${rest[0]} on this node (not yet in a block, or forgotten)` : path,
    )
  io.out(args.values.json === true ? JSON.stringify(answer, null, 2) : formatAnswer(answer))
  return ExitCode.ok
}

export const queryCommand: Command = {
  name: 'query',
  summary: "read the chain's state through a node",
  usage: 'r3mes query <what> [args] --node URL [--json]',
  help: `Asks a node's API (GET /query/<path>, GET /tx/<id>) and prints the answer as key: value
lines or a table, or with --json as the node sent it (amounts in ur3mes, 10^6 to a R3MES).

Queries:
${knownQueries()}

Options:
  --node URL   the node's API, e.g. http://127.0.0.1:26657 (required)
  --json       print the node's JSON`,
  options: {
    node: { type: 'string' },
    json: { type: 'boolean' },
  },
  allowPositionals: true,
  run,
}
