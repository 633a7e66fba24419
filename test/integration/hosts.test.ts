/**
 * `r3mes testnet --hosts` for real: three `r3mes node` processes, each in its own network
 * namespace on a virtual LAN, connect over their own 10.x addresses (the TCP connections the
 * kernel holds in each namespace say so, not the nodes) and commit blocks; the harness, in
 * the namespace the test runs in, reads them through their API sockets. Afterwards no
 * namespace is left. Skipped, saying why, where namespaces cannot be made; CI runs as root.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sleep } from '../../src/runtime/clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { hostsAvailable, listNamespaces } from '../../src/testnet/hosts.ts'
import { Testnet } from '../../src/testnet/testnet.ts'
import { expandTopology } from '../../src/topology/expand.ts'
import { loadTopology } from '../../src/topology/load.ts'

const clock = new SystemClock()
const available = hostsAvailable()

/**
 * The test's own bounds, well inside mocha's: a node that never reports ready, or blocks that
 * never commit, fail with the nodes' states and logs instead of a bare timeout.
 */
const READY_TIMEOUT_MS = 40_000
const COMMIT_TIMEOUT_MS = 45_000

/** The established TCP connections in a namespace: [local, peer] as `address:port`. */
function tcpConnections(namespace: string): [string, string][] {
  const out = execFileSync('ip', ['netns', 'exec', namespace, 'ss', '-tnH', 'state', 'established'], {
    encoding: 'utf8',
  })
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols.length >= 4)
    .map((cols) => [cols[2] as string, cols[3] as string])
}

describe(`r3mes testnet --hosts: nodes in their own namespaces${available.ok ? '' : ` (skipped: ${available.reason})`}`, function () {
  this.timeout(120_000)
  let root = ''
  let net: Testnet | undefined
  before(async function () {
    if (!available.ok) this.skip()
    root = await mkdtemp(join(tmpdir(), 'r3mes-hosts-'))
  })
  afterEach(function () {
    // Also after mocha's own timeout, while the test body may still be waiting.
    if (this.currentTest?.state === 'failed' && net !== undefined)
      process.stderr.write(`--- ${this.currentTest.title}: the nodes at the failure\n${net.diagnose(40)}\n`)
  })
  after(async () => {
    await net?.stop()
    net?.destroyHosts()
    if (root !== '') await rm(root, { recursive: true, force: true, maxRetries: 5 })
  })

  it('connect over their 10.x addresses and commit blocks; nothing is left behind', async () => {
    const before = new Set(listNamespaces())
    const file = join(root, 'three.yaml')
    await writeFile(
      file,
      'name: three\nmodel: micro\nbackend: ts\nchain: { blockTimeMs: 500 }\nvalidators: { count: 2, stake: 20000 }\nsubnets:\n  - { layers: [0, 2], miners: 1 }\n',
    )
    const plan = expandTopology(await loadTopology(file))
    net = new Testnet(plan, { dir: join(root, 'run'), clock, hosts: true, logLevel: 'info' })
    const layout = await net.setup()
    const lan = net.lan
    assert.ok(lan !== undefined)
    assert.equal(layout.nodes.length, 3)
    await net.start({ readyTimeoutMs: READY_TIMEOUT_MS })
    const addresses = new Set(layout.nodes.map((n) => n.host?.address))
    for (const n of net.nodes) {
      assert.ok(n.layout.host !== undefined)
      assert.ok(
        n.ready?.multiaddrs.some((m) => m.startsWith(`/ip4/${n.layout.host?.address}/tcp/`)),
        `${n.name} listens on its host address: ${n.ready?.multiaddrs.join(' ')}`,
      )
    }
    // Blocks commit on every node.
    let heights: number[] = []
    let seen: string[] = []
    const until = clock.monotonicMs() + COMMIT_TIMEOUT_MS
    while (clock.monotonicMs() < until) {
      const statuses = await net.statuses()
      heights = statuses.map((s) => s?.height ?? 0)
      seen = statuses.map((s, i) =>
        s === undefined
          ? `${net?.nodes[i]?.name}: no answer`
          : `${net?.nodes[i]?.name}: height ${s.height}, ${s.peers} peers`,
      )
      if (heights.every((h) => h >= 3)) break
      await sleep(clock, 500)
    }
    assert.ok(
      heights.every((h) => h >= 3),
      `every node committed 3 blocks within ${COMMIT_TIMEOUT_MS} ms: ${seen.join('; ')}`,
    )
    // The kernel's view: each node's libp2p connections run between LAN addresses.
    const p2pPorts = new Set(layout.nodes.map((n) => String(n.p2pPort)))
    for (const n of net.nodes) {
      const host = n.layout.host
      assert.ok(host !== undefined)
      const links = tcpConnections(host.namespace).filter(
        ([local, peer]) => p2pPorts.has(local.split(':')[1] as string) || p2pPorts.has(peer.split(':')[1] as string),
      )
      assert.ok(links.length > 0, `${n.name} holds libp2p connections`)
      for (const [local, peer] of links) {
        assert.equal(local.split(':')[0], host.address, `${n.name}'s end is its own address`)
        const remote = peer.split(':')[0] as string
        assert.ok(addresses.has(remote) && remote !== host.address, `${n.name} talks to another host: ${peer}`)
      }
      assert.ok(!links.some(([l]) => l.startsWith('127.')), 'nothing goes over the loopback')
    }
    await net.stop()
    net.destroyHosts()
    assert.deepEqual(
      listNamespaces().filter((n) => !before.has(n)),
      [],
      'every namespace of the run is gone',
    )
  })
})
