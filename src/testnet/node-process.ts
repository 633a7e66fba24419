/**
 * One testnet node as an operating-system process: `r3mes node` started with the same Node
 * binary, its output in `<home>/node.log`, its readiness taken from the ready file it writes.
 * Faults act on it as they would on a real machine: kill (SIGKILL), pause and resume
 * (SIGSTOP, SIGCONT), restart (a new process on the same home, key and stores).
 *
 * A node started `detached` outlives the command that started it (the testnet's stages run
 * on their own: `start` leaves the nodes running, a later `run` or `stop` adopts them by the
 * pid in `<home>/node.pid`), so everything here acts on the pid, not on a child handle.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ADMIN_TOKEN_FILE, readAdminToken, writeAdminToken } from '../actors/http/admin-access.ts'
import { type Clock, deadlineSignal, sleep } from '../runtime/clock.ts'
import { R3mesError } from '../runtime/errors.ts'
import { DEFAULT_CHALLENGE_FRACTION, DEFAULT_SPOT_STEPS } from '../topology/roles.ts'
import type { NodeLayout, TestnetLayout } from './layout.ts'

const bin = fileURLToPath(new URL('../../bin/r3mes.js', import.meta.url))

/** Whether a process exists (signal 0 checks without signalling; EPERM means it exists). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export class NodeStartError extends R3mesError {
  constructor(name: string, reason: string, log: string) {
    const tail = logTail(log, 20)
    super('ERR_NODE_START', `node ${name} did not start: ${reason} (log: ${log})${tail ? `\n${tail}` : ''}`, {
      name,
      log,
    })
  }
}

/** The last `lines` lines of a log, indented; empty when it cannot be read (the reason must not hide). */
export function logTail(file: string, lines: number): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd()
    if (text === '') return ''
    return text
      .split('\n')
      .slice(-lines)
      .map((l) => `  | ${l.length > 400 ? `${l.slice(0, 400)}…` : l}`)
      .join('\n')
  } catch {
    return ''
  }
}

/** The Unix socket a node run in its own network namespace also serves its API on. */
export const API_SOCKET_FILE = 'api.sock'

/** Status and JSON body of one HTTP request over a Unix socket. */
function unixRequest(
  socketPath: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
  signal: AbortSignal,
): Promise<{ ok: boolean; json: () => unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { host: 'localhost', ...headers }, signal }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const status = res.statusCode ?? 0
        resolve({ ok: status >= 200 && status < 300, json: () => JSON.parse(Buffer.concat(chunks).toString('utf8')) })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** The ready file's content, or undefined while it is missing or not yet whole. */
function readReady(file: string): ReadyInfo | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ReadyInfo
  } catch {
    return undefined
  }
}

export interface ReadyInfo {
  readonly address: string
  readonly peerId: string
  readonly multiaddrs: readonly string[]
  readonly api: string
}

/**
 * Threads each node's native kernels may use when `nodes` node processes share `cores`: the
 * cores split between them, at least one. Each node otherwise starts a thread per core for
 * every kernel call, and nine nodes on two cores spend their time switching between threads.
 */
export function kernelThreadsPerNode(cores: number, nodes: number): number {
  return Math.max(1, Math.floor(cores / Math.max(1, nodes)))
}

export class NodeProcess {
  readonly layout: NodeLayout
  readonly #net: TestnetLayout
  readonly #clock: Clock
  readonly #bootstrap: readonly string[]
  readonly #logLevel: string
  readonly #kernelThreads: number | undefined
  #child: ChildProcess | undefined
  #pid: number | undefined
  /** Started (or adopted) to outlive the command: a restart keeps it so. */
  #detached = false
  ready: ReadyInfo | undefined
  paused = false
  /** Times this node was started (1 after the first start). */
  starts = 0
  /** When the current start began waiting for the ready file (undefined once ready, or before any start). */
  #waitingSinceMs: number | undefined

  constructor(init: {
    layout: NodeLayout
    net: TestnetLayout
    clock: Clock
    bootstrap: readonly string[]
    logLevel?: string
    /** `R3MES_NATIVE_THREADS` for the node, unless this process's environment sets it. */
    kernelThreads?: number
  }) {
    this.layout = init.layout
    this.#net = init.net
    this.#clock = init.clock
    this.#bootstrap = init.bootstrap
    this.#logLevel = init.logLevel ?? 'info'
    this.#kernelThreads = init.kernelThreads
  }

  get name(): string {
    return this.layout.name
  }

  get logFile(): string {
    return join(this.layout.home, 'node.log')
  }

  get pidFile(): string {
    return join(this.layout.home, 'node.pid')
  }

  /**
   * The node's admin token file: made once per home (kept across restarts, so a node adopted by
   * a later stage takes the same token), handed to the node with --admin-token-file.
   */
  get adminTokenFile(): string {
    const file = join(this.layout.home, ADMIN_TOKEN_FILE)
    if (!existsSync(file)) writeAdminToken(file)
    return file
  }

  get running(): boolean {
    if (this.#pid === undefined) return false
    const child = this.#child
    if (child !== undefined) return child.exitCode === null && child.signalCode === null
    return isAlive(this.#pid)
  }

  /** Take over a node a previous command started (detached); false when it is not running. */
  adopt(): boolean {
    const ready = readReady(join(this.layout.home, 'ready.json'))
    if (!existsSync(this.pidFile) || ready === undefined) return false
    const pid = Number(readFileSync(this.pidFile, 'utf8'))
    if (!Number.isSafeInteger(pid) || pid <= 0 || !isAlive(pid)) return false
    this.#pid = pid
    this.#child = undefined
    this.#detached = true
    this.ready = ready
    this.starts = Math.max(1, this.starts)
    return true
  }

  /** Resolves once the process is gone (polling: an adopted process is not our child). */
  async #gone(timeoutMs: number): Promise<boolean> {
    const until = this.#clock.monotonicMs() + timeoutMs
    while (this.running) {
      if (this.#clock.monotonicMs() > until) return false
      // Kept alive: the process may have nothing else to wait on (`--stage stop`).
      await sleep(this.#clock, 50, undefined, { keepAlive: true })
    }
    return true
  }

  #signal(signal: NodeJS.Signals): void {
    if (this.#pid === undefined) return
    try {
      process.kill(this.#pid, signal)
    } catch {
      // Already gone.
    }
  }

  /** `--hosts`: the socket the harness reads the node through, from outside its namespace. */
  get apiSocket(): string | undefined {
    return this.layout.host === undefined ? undefined : join(this.layout.home, API_SOCKET_FILE)
  }

  args(): string[] {
    const l = this.layout
    const ip = l.host?.address ?? '127.0.0.1'
    const a = [
      'node',
      '--home',
      l.home,
      '--genesis',
      this.#net.genesisFile,
      '--name',
      l.name,
      '--role',
      l.roles.join(','),
      '--listen',
      `/ip4/${ip}/tcp/${l.p2pPort}`,
      // Every testnet is a LAN: loopback, or the private addresses of --hosts.
      '--lan',
      '--api-address',
      `${ip}:${l.apiPort}`,
      '--ready-file',
      join(l.home, 'ready.json'),
      '--log-level',
      this.#logLevel,
      '--challenge-fraction',
      String(l.plan.challengeFraction ?? DEFAULT_CHALLENGE_FRACTION),
      '--spot-steps',
      String(l.plan.spotSteps ?? DEFAULT_SPOT_STEPS),
      '--admin-token-file',
      this.adminTokenFile,
      '--backend',
      l.backend,
    ]
    for (const b of this.#bootstrap) if (!b.endsWith(l.peerId)) a.push('--bootstrap', b)
    for (const m of l.misbehaviours) a.push('--misbehave', m)
    if (l.seedsModel) a.push('--model', this.#net.modelDir)
    // A subnet peer seeds the subnet named here; a miner's is checked against the chain.
    if (l.plan.subnet !== undefined) a.push('--subnet', String(l.plan.subnet))
    if (this.apiSocket !== undefined) a.push('--api-socket', this.apiSocket)
    return a
  }

  /** Start the process and wait until it is ready (or fails, or `timeoutMs` passes). */
  async start(timeoutMs = 120_000, options: { detached?: boolean } = {}): Promise<ReadyInfo> {
    const readyFile = join(this.layout.home, 'ready.json')
    rmSync(readyFile, { force: true })
    const log = openSync(this.logFile, 'a')
    const detached = options.detached ?? this.#detached
    this.#detached = detached
    // In its own namespace through `ip netns exec`, which execs the node in place: the pid is the node's.
    const [cmd, ...prefix] = this.layout.host === undefined ? [process.execPath] : this.#inHost(process.execPath)
    const env =
      this.#kernelThreads === undefined || process.env.R3MES_NATIVE_THREADS !== undefined
        ? process.env
        : { ...process.env, R3MES_NATIVE_THREADS: String(this.#kernelThreads) }
    const child = spawn(cmd as string, [...prefix, bin, ...this.args()], { stdio: ['ignore', log, log], detached, env })
    closeSync(log)
    if (detached) child.unref()
    this.#child = child
    this.#pid = child.pid
    writeFileSync(this.pidFile, `${child.pid}\n`)
    this.paused = false
    this.starts++
    const started = this.#clock.monotonicMs()
    this.#waitingSinceMs = started
    for (;;) {
      // A node writes its ready file whole (write, then rename); one written by an older
      // node may still be seen half-written, so a file that does not parse yet is waited on.
      const ready = readReady(readyFile)
      if (ready !== undefined) {
        this.ready = ready
        this.#waitingSinceMs = undefined
        return ready
      }
      if (!this.running)
        throw new NodeStartError(this.name, `exited with ${child.exitCode ?? child.signalCode}`, this.logFile)
      if (this.#clock.monotonicMs() - started > timeoutMs)
        throw new NodeStartError(this.name, `not ready within ${timeoutMs} ms`, this.logFile)
      await sleep(this.#clock, 100, undefined, { keepAlive: true })
    }
  }

  /**
   * Where the node stands, in one line, for a harness that must say why a run failed: ready
   * (and where it listens), still starting (waiting for its ready file, for how long), exited,
   * or never started.
   */
  state(): string {
    const pid = this.#pid === undefined ? '' : `pid ${this.#pid}, `
    const child = this.#child
    if (this.#pid !== undefined && !this.running) {
      const how = child === undefined ? 'is gone' : `exited with ${child.exitCode ?? child.signalCode}`
      return `${pid}${how}${this.ready === undefined ? ' before it was ready' : ''}`
    }
    if (this.#waitingSinceMs !== undefined)
      return `${pid}not ready: waited ${Math.round(this.#clock.monotonicMs() - this.#waitingSinceMs)} ms for ${join(this.layout.home, 'ready.json')}`
    if (this.ready !== undefined)
      return `${pid}ready${this.paused ? ' (paused)' : ''}, listening on ${this.ready.multiaddrs.join(' ')}`
    return 'not started'
  }

  /** Ask the node to stop (SIGTERM), and kill it if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return
    if (this.paused) this.#signal('SIGCONT')
    this.#signal('SIGTERM')
    if (!(await this.#gone(graceMs))) {
      this.#signal('SIGKILL')
      await this.#gone(10_000)
    }
  }

  async kill(): Promise<void> {
    if (!this.running) return
    this.#signal('SIGKILL')
    await this.#gone(10_000)
  }

  pause(): void {
    if (!this.running || this.paused) return
    this.#signal('SIGSTOP')
    this.paused = true
  }

  resume(): void {
    if (!this.running || !this.paused) return
    this.#signal('SIGCONT')
    this.paused = false
  }

  async restart(): Promise<ReadyInfo> {
    await this.kill()
    return this.start()
  }

  #inHost(program: string): string[] {
    const host = this.layout.host
    return host === undefined ? [program] : ['ip', 'netns', 'exec', host.namespace, program]
  }

  /** One request to the node's API: over its Unix socket under --hosts, else over TCP. */
  async #request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<{ ok: boolean; json: () => unknown }> {
    const signal = deadlineSignal(this.#clock, timeoutMs, `${method} ${path}`)
    const socket = this.apiSocket
    if (socket !== undefined) return unixRequest(socket, method, path, headers, body, signal)
    const res = await fetch(`${this.ready?.api}${path}`, { method, headers, body, signal })
    const json = res.ok ? await res.json() : undefined
    return { ok: res.ok, json: () => json }
  }

  /** GET a JSON document from the node's API; undefined when it does not answer in time. */
  async get<T>(path: string, timeoutMs = 3000): Promise<T | undefined> {
    if (this.ready === undefined || !this.running || this.paused) return undefined
    try {
      const res = await this.#request('GET', path, {}, undefined, timeoutMs)
      if (!res.ok) return undefined
      return res.json() as T
    } catch {
      return undefined
    }
  }

  async post(path: string, body: unknown, timeoutMs = 5000): Promise<boolean> {
    if (this.ready === undefined || !this.running || this.paused) return false
    // Outside the try: a missing or broken token file is the harness's fault, not the node's.
    const token = readAdminToken(this.adminTokenFile)
    try {
      const res = await this.#request(
        'POST',
        path,
        { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        JSON.stringify(body),
        timeoutMs,
      )
      return res.ok
    } catch {
      return false
    }
  }
}
