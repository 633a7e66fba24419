/**
 * A node's configuration file, `<home>/config.toml`: what `r3mes node` would otherwise be told
 * with flags, one key per flag, so an operator writes it once. The file gives defaults; a flag
 * on the command line wins over the file.
 *
 * The file is checked whole before the node starts: a TOML syntax error names its line and
 * column, an unknown key is refused with the closest known one ("did you mean"), a value of the
 * wrong type names its dotted key. The values then go through the node command's own option
 * checks, as if they had been typed as flags.
 */
import { readFileSync, statSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { closestMatch } from 'leven'
import { parse, stringify, TomlError } from 'smol-toml'
import { z } from 'zod'
import { InvalidArgumentError } from '../runtime/errors.ts'
import { MAX_CONFIG_FILE_BYTES } from '../runtime/limits.ts'
import { NODE_ROLES } from '../topology/roles.ts'

/** Deepest nesting a config file may have: the schema has tables of scalars and lists, two levels. */
const CONFIG_MAX_DEPTH = 4

const text = z.string().min(1, 'must not be empty')
const texts = z.array(text)
const count = z.number().int('must be an integer').min(0, 'must be ≥ 0')

/** Longest moniker: a name for logs and dashboards, not a document. */
const MAX_MONIKER_CHARS = 64

const configSchema = z.strictObject({
  moniker: text
    .max(MAX_MONIKER_CHARS, `must be at most ${MAX_MONIKER_CHARS} characters`)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must have no control characters')
    .optional(),
  p2p: z
    .strictObject({
      listen: texts.optional(),
      announce: texts.optional(),
      bootstrap: texts.optional(),
      lan: z.boolean().optional(),
      relay: z.boolean().optional(),
    })
    .optional(),
  api: z
    .strictObject({
      address: text.optional(),
      admin_token_file: text.optional(),
    })
    .optional(),
  node: z
    .strictObject({
      roles: z.array(z.enum(NODE_ROLES)).min(1, 'must name at least one role').optional(),
      subnet: count.optional(),
      backend: text.optional(),
      challenge_fraction: z.number().min(0, 'must be in [0, 1]').max(1, 'must be in [0, 1]').optional(),
      spot_steps: z.union([z.literal('all'), count]).optional(),
      model: text.optional(),
      genesis: text.optional(),
    })
    .optional(),
  storage: z
    .strictObject({
      snapshot_interval: count.optional(),
      keep_blocks: count.optional(),
      gc_interval: count.optional(),
    })
    .optional(),
  log: z.strictObject({ level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).optional() }).optional(),
})

/** A parsed config.toml: every key optional, absent keys leave the node's defaults. */
export type NodeConfigFile = z.output<typeof configSchema>

/** Option values in the shape `parseArgs` gives them: the `r3mes node` flags a file implies. */
export type NodeFlagValues = Record<string, string | boolean | string[]>

/**
 * Each config key and the `r3mes node` flag it stands for. Keys naming a file are read
 * relative to the home folder when not absolute.
 */
export const FLAG_OF_CONFIG_KEY: Readonly<Record<string, { readonly flag: string; readonly path?: true }>> = {
  moniker: { flag: 'name' },
  'p2p.listen': { flag: 'listen' },
  'p2p.announce': { flag: 'announce' },
  'p2p.bootstrap': { flag: 'bootstrap' },
  'p2p.lan': { flag: 'lan' },
  'p2p.relay': { flag: 'relay' },
  'api.address': { flag: 'api-address' },
  'api.admin_token_file': { flag: 'admin-token-file', path: true },
  'node.roles': { flag: 'role' },
  'node.subnet': { flag: 'subnet' },
  'node.backend': { flag: 'backend' },
  'node.challenge_fraction': { flag: 'challenge-fraction' },
  'node.spot_steps': { flag: 'spot-steps' },
  'node.model': { flag: 'model', path: true },
  'node.genesis': { flag: 'genesis', path: true },
  'storage.snapshot_interval': { flag: 'snapshot-interval' },
  'storage.keep_blocks': { flag: 'keep-blocks' },
  'storage.gc_interval': { flag: 'gc-interval' },
  'log.level': { flag: 'log-level' },
}

/** The config key (dotted) that sets `flag`, if any. */
export function configKeyOfFlag(flag: string): string | undefined {
  return Object.entries(FLAG_OF_CONFIG_KEY).find(([, entry]) => entry.flag === flag)?.[0]
}

/** Keys known in each table of the file ('' is the top level), for "did you mean". */
function knownKeys(table: string): string[] {
  const keys = Object.keys(FLAG_OF_CONFIG_KEY)
  if (table === '') return [...new Set(keys.map((key) => key.split('.')[0] as string))]
  return keys.filter((key) => key.startsWith(`${table}.`)).map((key) => key.slice(table.length + 1))
}

/** The config in `toml`, read from `file` (named in every error). */
export function parseConfig(toml: string, file: string): NodeConfigFile {
  let data: unknown
  try {
    data = parse(toml, { unsafeKeyBehaviour: 'throw', maxDepth: CONFIG_MAX_DEPTH })
  } catch (error) {
    if (!(error instanceof TomlError)) throw error
    const what = (error.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '')
    throw new InvalidArgumentError(`${file}:${error.line}:${error.column}: not valid TOML: ${what}`, {
      file,
      line: error.line,
      column: error.column,
    })
  }
  const result = configSchema.safeParse(data, { reportInput: true })
  if (result.success) return result.data
  const problems = result.error.issues.flatMap((issue) => describeIssue(issue))
  throw new InvalidArgumentError(`${file}: ${problems.join('; ')}`, { file, problems })
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const at = issue.path
    .map((step) => (typeof step === 'number' ? `[${step}]` : `.${String(step)}`))
    .join('')
    .slice(1)
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(at)
    return issue.keys.map((key) => {
      const suggestion = closestMatch(key, known, { maxDistance: Math.max(2, Math.floor(key.length / 3)) })
      const hint = suggestion === undefined ? '' : ` (did you mean '${suggestion}'?)`
      const where = at === '' ? 'at the top level' : `in [${at}]`
      return `${at === '' ? key : `${at}.${key}`}: unknown key ${where}${hint}; known: ${known.join(', ')}`
    })
  }
  const input = (issue as { input?: unknown }).input
  if (issue.code === 'invalid_type') {
    return [`${at}: must be ${TYPE_WORDS[issue.expected] ?? issue.expected}, got ${describeValue(input)}`]
  }
  if (issue.code === 'invalid_value') {
    const allowed = issue.values.map(String)
    const suggestion = typeof input === 'string' ? closestMatch(input, allowed, { maxDistance: 3 }) : undefined
    const hint = suggestion === undefined ? '' : ` (did you mean '${suggestion}'?)`
    return [`${at}: must be one of ${allowed.join(', ')}, got ${describeValue(input)}${hint}`]
  }
  return [`${at}: ${issue.message}, got ${describeValue(input)}`]
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  object: 'a table',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'a list'
  if (value !== null && typeof value === 'object') return 'a table'
  if (typeof value === 'string') return `'${value.length > 64 ? `${value.slice(0, 64)}…` : value}'`
  return String(value)
}

/** The config file at `path`; refused unread over `MAX_CONFIG_FILE_BYTES`. */
export function readConfigFile(path: string): NodeConfigFile {
  let toml: string
  try {
    const size = statSync(path).size
    if (size > MAX_CONFIG_FILE_BYTES) {
      throw new InvalidArgumentError(`${path}: ${size} bytes, over the ${MAX_CONFIG_FILE_BYTES} a config file may have`)
    }
    toml = readFileSync(path, 'utf8')
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error
    throw new InvalidArgumentError(`cannot read the config file ${path}: ${(error as Error).message}`, { file: path })
  }
  return parseConfig(toml, path)
}

/**
 * The `r3mes node` option values `config` implies, keyed by flag name as `parseArgs` gives
 * them (strings, booleans, lists of strings). Only keys present in the file appear. File paths
 * are resolved against `home`.
 */
export function configToNodeFlags(config: NodeConfigFile, home: string): NodeFlagValues {
  const flags: NodeFlagValues = {}
  const tables: Record<string, unknown> = { ...config }
  for (const [key, { flag, path }] of Object.entries(FLAG_OF_CONFIG_KEY)) {
    const [table, name] = key.includes('.') ? key.split('.') : ['', key]
    const holder = table === '' ? tables : (tables[table as string] as Record<string, unknown> | undefined)
    const value = holder?.[name as string]
    if (value === undefined) continue
    if (typeof value === 'boolean') flags[flag] = value
    else if (Array.isArray(value)) flags[flag] = value.map(String)
    else if (path === true) flags[flag] = isAbsolute(String(value)) ? String(value) : join(home, String(value))
    else flags[flag] = String(value)
  }
  return flags
}

/** What `r3mes init` writes into a fresh config.toml; absent fields stay commented out at their defaults. */
export interface ConfigChoices {
  readonly moniker: string
  readonly listen: readonly string[]
  readonly roles: readonly string[]
  readonly apiAddress?: string
}

/** The default listen address `r3mes init` writes: every interface, a fixed port peers can be told. */
export const DEFAULT_INIT_LISTEN = '/ip4/0.0.0.0/tcp/26656'

/** A commented config.toml: the chosen values set, every other key shown commented at its default. */
export function renderConfig(choices: ConfigChoices): string {
  // smol-toml writes each value, so any text comes out escaped as TOML reads it back.
  const line = (key: string, value: string | readonly string[]) => stringify({ [key]: value }).trim()
  const apiAddress =
    choices.apiAddress === undefined ? '# address = "127.0.0.1:0"' : line('address', choices.apiAddress)
  return `# R3MES node configuration, read by \`r3mes node --home <this folder>\`.
# Every key is optional; a commented key shows its default or an example. A flag given to \`r3mes node\`
# wins over the value here (each key names its flag). Relative file paths are read from
# the home folder. docs/OPERATIONS.md describes every key.

# Name in the logs (--name).
${line('moniker', choices.moniker)}

[p2p]
# Multiaddrs to listen on (--listen). Default when absent: /ip4/127.0.0.1/tcp/0.
${line('listen', choices.listen)}
# Public multiaddrs to announce to peers, e.g. "/ip4/203.0.113.7/tcp/26656" (--announce).
# announce = []
# Peers to dial at start, each with /p2p/<peer id> (--bootstrap).
# bootstrap = []
# A LAN network: keep private addresses in the DHT (--lan).
# lan = false
# Reach and be reached through circuit relays when behind NAT (--relay).
# relay = false

[api]
# HOST:PORT of the HTTP API (--api-address); port 0 takes any free port.
${apiAddress}
# A file holding the token that enables the /admin/ routes (--admin-token-file).
# admin_token_file = ""

[node]
# Roles this node runs (--role): ${NODE_ROLES.join(', ')}.
${line('roles', choices.roles)}
# The subnet a subnet peer seeds; a miner's is checked against the chain (--subnet).
# subnet = 0
# Kernels for training and verification: auto, ts, cpu or cuda (--backend).
# backend = "auto"
# Share of submissions a challenger re-executes, 0 to 1 (--challenge-fraction).
# challenge_fraction = 0.25
# Inner steps of a task a challenger re-executes, drawn in secret; "all" or 0: the whole task (--spot-steps).
# spot_steps = 2
# A backbone folder to publish (it must be the genesis model) (--model).
# model = ""
# The chain's genesis file (--genesis).
# genesis = "genesis.json"

[storage]
# Blocks between state snapshots on disk (--snapshot-interval). Example:
# snapshot_interval = 1000
# Recent blocks kept (--keep-blocks). Example:
# keep_blocks = 10000
# Blocks between content garbage collections (--gc-interval). Example:
# gc_interval = 100

[log]
# debug, info, warn, error or silent (--log-level).
# level = "info"
`
}
