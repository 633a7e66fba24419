/**
 * The virtual LAN of `r3mes testnet --hosts`: hosts in their own namespaces reach each other
 * over their own addresses, a host added later joins the same LAN, nothing is added to the
 * namespace the test runs in, and destroy leaves no namespace behind. Skipped, saying why,
 * where namespaces cannot be made (not root, no iproute2); CI runs as root.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import {
  createVirtualLan,
  HostsError,
  hostsAvailable,
  listNamespaces,
  NAMESPACE_PREFIX,
  sweepStaleNamespaces,
  type VirtualHost,
  type VirtualLan,
} from '../../../src/testnet/hosts.ts'

const node = process.execPath

/** Open a TCP connection from `from` to `to` (a one-shot echo server there) and read its greeting. */
async function talk(lan: VirtualLan, from: VirtualHost, to: VirtualHost): Promise<string> {
  const [cmd, ...prefix] = lan.exec(to)
  const server = spawn(
    cmd as string,
    [
      ...prefix,
      node,
      '-e',
      `const s=require('net').createServer(c=>{c.end('hello from '+c.localAddress+' to '+c.remoteAddress);s.close()});s.listen(7000,'${to.address}',()=>console.log('up'))`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  try {
    await once(server.stdout, 'data')
    const [c2, ...p2] = lan.exec(from)
    return execFileSync(
      c2 as string,
      [
        ...p2,
        node,
        '-e',
        `const c=require('net').connect(7000,'${to.address}');let t='';c.on('data',d=>t+=d);c.on('end',()=>process.stdout.write(t))`,
      ],
      { encoding: 'utf8', timeout: 10_000 },
    )
  } finally {
    server.kill('SIGKILL')
  }
}

const available = hostsAvailable()

describe(`virtual LAN of network namespaces${available.ok ? '' : ` (skipped: ${available.reason})`}`, () => {
  before(function () {
    if (!available.ok) this.skip()
  })

  it('joins hosts over their own addresses, adds one later, and leaves nothing behind', async () => {
    const before = new Set(listNamespaces())
    const rootAddresses = execFileSync('ip', ['-o', 'addr'], { encoding: 'utf8' })
    const lan = createVirtualLan({ hosts: 2 })
    try {
      assert.equal(lan.hosts.length, 2)
      const [h1, h2] = lan.hosts as [VirtualHost, VirtualHost]
      assert.match(h1.address, /^10\.\d+\.\d+\.1$/)
      assert.equal(lan.subnet, `${h1.address.slice(0, -2)}.0/24`)
      assert.notEqual(h1.namespace, h2.namespace)
      for (const h of lan.hosts) assert.ok(listNamespaces().includes(h.namespace))
      assert.equal(
        await talk(lan, h1, h2),
        `hello from ${h2.address} to ${h1.address}`,
        'h1 reaches h2 over the LAN, from its own address',
      )
      const h3 = lan.addHost()
      assert.equal(h3.name, 'h3')
      assert.equal(await talk(lan, h3, h1), `hello from ${h1.address} to ${h3.address}`, 'a host added later joins')
      // Nothing was added to the namespace the test runs in.
      assert.equal(execFileSync('ip', ['-o', 'addr'], { encoding: 'utf8' }), rootAddresses)
    } finally {
      lan.destroy()
    }
    lan.destroy() // twice is fine
    assert.deepEqual(
      listNamespaces().filter((n) => !before.has(n)),
      [],
      'every namespace made is gone',
    )
    assert.throws(() => lan.addHost(), HostsError)
  })

  it('gives two LANs of one process different names and subnets', () => {
    const a = createVirtualLan({ hosts: 1 })
    try {
      const b = createVirtualLan({ hosts: 1 })
      try {
        assert.notEqual(a.subnet, b.subnet)
        assert.notEqual(a.hosts[0]?.namespace, b.hosts[0]?.namespace)
      } finally {
        b.destroy()
      }
    } finally {
      a.destroy()
    }
  })

  it("sweeps a dead run's namespaces and leaves a live run's alone", () => {
    // A pid that cannot exist (above pid_max's hard ceiling of 2^22).
    const stale = `${NAMESPACE_PREFIX}${2 ** 22 + 1}x1-sw`
    execFileSync('ip', ['netns', 'add', stale])
    const live = createVirtualLan({ hosts: 1 })
    try {
      assert.ok(!listNamespaces().includes(stale), 'creating a LAN swept the stale namespace')
      assert.deepEqual(sweepStaleNamespaces(), [])
      assert.ok(listNamespaces().includes(live.hosts[0]?.namespace as string))
    } finally {
      live.destroy()
      if (listNamespaces().includes(stale)) execFileSync('ip', ['netns', 'delete', stale])
    }
  })

  it('refuses a LAN of no hosts', () => {
    assert.throws(() => createVirtualLan({ hosts: 0 }), /1 to 250 hosts/)
  })
})
