/**
 * A virtual LAN of Linux network namespaces, for `r3mes testnet --hosts`: one "switch"
 * namespace holding a bridge, and one namespace per host joined to it by a veth pair, each
 * host with its own address on a private /24 the run picks. Traffic between nodes then
 * crosses real interfaces and real addresses, not the loopback.
 *
 * Everything is made inside namespaces this module creates: the veth pairs are created in the
 * host's namespace with their peer end placed straight in the switch's, so nothing (no
 * address, link, bridge or route) is ever added to the namespace the caller runs in.
 * `destroy` removes every namespace it made (their links go with them); a run that died
 * without it is swept at the next start by name (`r3mes-<pid>x<n>-…`, its pid gone).
 */
import { execFileSync } from 'node:child_process'
import { R3mesError } from '../runtime/errors.ts'

/** Prefix of every namespace this module makes; the sweep removes only names under it. */
export const NAMESPACE_PREFIX = 'r3mes-'

/** The most hosts on one LAN: host k gets .k of the /24, the switch none. */
export const MAX_LAN_HOSTS = 250

export class HostsError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ERR_HOSTS', message, details)
  }
}

export interface VirtualHost {
  /** Short name (`h1`, `h2`, …). */
  readonly name: string
  /** The network namespace the host is. */
  readonly namespace: string
  /** Its IPv4 address on the LAN (no prefix length). */
  readonly address: string
}

export interface VirtualLan {
  /** The /24 the hosts share, e.g. `10.23.7.0/24`. */
  readonly subnet: string
  readonly hosts: readonly VirtualHost[]
  /** The command prefix that runs a program inside `host`: `ip netns exec <namespace>`. */
  exec(host: VirtualHost): string[]
  /** One more host on the LAN (a node joining later). */
  addHost(): VirtualHost
  /** Remove every namespace of the LAN; safe to call twice. */
  destroy(): void
}

/** Run `ip` with `args`; an error names the command and what `ip` said. */
function ip(args: readonly string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (error) {
    const e = error as { stderr?: string; message: string }
    throw new HostsError(`ip ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`, { args })
  }
}

/** The names of the network namespaces that exist now. */
export function listNamespaces(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '')
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Remove the namespaces a run left behind when it died without cleaning up: names under the
 * prefix whose pid no longer exists. A live run's namespaces are left alone. Returns the
 * names removed.
 */
export function sweepStaleNamespaces(): string[] {
  const removed: string[] = []
  for (const name of listNamespaces()) {
    const match = new RegExp(`^${NAMESPACE_PREFIX}(\\d+)x\\d+-`).exec(name)
    if (match === null || isAlive(Number(match[1]))) continue
    ip(['netns', 'delete', name])
    removed.push(name)
  }
  return removed
}

/**
 * What the kernel of `host`'s namespace holds, for a failed run's report: its links and
 * addresses, and its TCP sockets (listening and connected). Never throws: a namespace already
 * gone, or a command that fails, is said in the text instead.
 */
export function describeHostNetwork(host: VirtualHost): string {
  const run = (args: readonly string[]): string => {
    try {
      return ip(args).trimEnd()
    } catch (error) {
      return (error as Error).message
    }
  }
  return [
    run(['-n', host.namespace, '-br', 'addr']),
    run(['netns', 'exec', host.namespace, 'ss', '-tanH']) || '(no TCP sockets)',
  ].join('\n')
}

/** Whether namespaces can be made here, and why not when they cannot. */
export function hostsAvailable(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux')
    return { ok: false, reason: `network namespaces need Linux, not ${process.platform}` }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces need root (run as root or in CI)' }
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' })
  } catch {
    return { ok: false, reason: "the 'ip' command (iproute2) is not installed" }
  }
  const probe = `${NAMESPACE_PREFIX}${process.pid}x0-probe`
  try {
    ip(['netns', 'add', probe])
    ip(['netns', 'delete', probe])
  } catch (error) {
    return { ok: false, reason: `cannot create a network namespace: ${(error as Error).message}` }
  }
  return { ok: true }
}

/** LANs made by this process, numbered so that each gets its own names and /24. */
let lansMade = 0

/**
 * Make a LAN of `hosts` hosts. Stale namespaces of dead runs are swept first. On any failure
 * what was made so far is removed before the error is thrown.
 */
export function createVirtualLan(init: { hosts: number }): VirtualLan {
  if (!Number.isSafeInteger(init.hosts) || init.hosts < 1 || init.hosts > MAX_LAN_HOSTS)
    throw new HostsError(`a virtual LAN holds 1 to ${MAX_LAN_HOSTS} hosts, not ${init.hosts}`)
  const available = hostsAvailable()
  if (!available.ok) throw new HostsError(`cannot make a virtual LAN: ${available.reason}`)
  sweepStaleNamespaces()
  lansMade++
  const tag = `${NAMESPACE_PREFIX}${process.pid}x${lansMade}`
  // A /24 in 10/8 from the pid and the LAN's number, so that two runs on one machine differ.
  const serial = (process.pid * 7 + lansMade) % 65_536
  const net = `10.${serial >> 8}.${serial & 0xff}`
  const sw = `${tag}-sw`
  const made: string[] = []
  const hosts: VirtualHost[] = []
  let destroyed = false

  const destroy = (): void => {
    if (destroyed) return
    destroyed = true
    const failures: string[] = []
    for (const name of made.reverse()) {
      try {
        ip(['netns', 'delete', name])
      } catch (error) {
        failures.push((error as Error).message)
      }
    }
    if (failures.length > 0) throw new HostsError(`could not remove every namespace: ${failures.join('; ')}`)
  }

  const addHost = (): VirtualHost => {
    if (destroyed) throw new HostsError('the virtual LAN was destroyed')
    const k = hosts.length + 1
    if (k > MAX_LAN_HOSTS) throw new HostsError(`a virtual LAN holds at most ${MAX_LAN_HOSTS} hosts`)
    const namespace = `${tag}-h${k}`
    ip(['netns', 'add', namespace])
    made.push(namespace)
    const port = `p${k}`
    // Made inside the host's namespace, its peer end placed straight in the switch's.
    ip(['-n', namespace, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', sw])
    ip(['-n', sw, 'link', 'set', port, 'master', 'br0'])
    ip(['-n', sw, 'link', 'set', port, 'up'])
    const address = `${net}.${k}`
    ip(['-n', namespace, 'addr', 'add', `${address}/24`, 'dev', 'eth0'])
    ip(['-n', namespace, 'link', 'set', 'eth0', 'up'])
    ip(['-n', namespace, 'link', 'set', 'lo', 'up'])
    const host = { name: `h${k}`, namespace, address }
    hosts.push(host)
    return host
  }

  try {
    ip(['netns', 'add', sw])
    made.push(sw)
    ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge'])
    ip(['-n', sw, 'link', 'set', 'br0', 'up'])
    for (let i = 0; i < init.hosts; i++) addHost()
  } catch (error) {
    try {
      destroy()
    } catch {
      // The first error says what went wrong; a failed cleanup of it would hide it.
    }
    throw error
  }
  return {
    subnet: `${net}.0/24`,
    hosts,
    exec: (host) => ['ip', 'netns', 'exec', host.namespace],
    addHost,
    destroy,
  }
}
