/**
 * A testnet whose nodes do not report ready in time fails its start on its own bound, before
 * a caller's deadline would: the error names each node that was not ready and what it was
 * waiting for, and carries every node's state and log tail, so that a failed run says why.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { Testnet, TestnetStartError } from '../../src/testnet/testnet.ts'
import { expandTopology } from '../../src/topology/expand.ts'
import { loadTopology } from '../../src/topology/load.ts'

describe('testnet start: a node not ready in time', function () {
  this.timeout(60_000)
  let root = ''
  let net: Testnet | undefined
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'r3mes-ready-timeout-'))
  })
  after(async () => {
    await net?.stop()
    if (root !== '') await rm(root, { recursive: true, force: true, maxRetries: 5 })
  })

  it('fails the start naming the node, what it waited for and its log', async () => {
    const file = join(root, 'three.yaml')
    await writeFile(
      file,
      'name: three\nmodel: micro\nbackend: ts\nchain: { blockTimeMs: 500 }\nvalidators: { count: 2, stake: 20000 }\nsubnets:\n  - { layers: [0, 2], miners: 1 }\n',
    )
    net = new Testnet(expandTopology(await loadTopology(file)), {
      dir: join(root, 'run'),
      clock: new SystemClock(),
      logLevel: 'info',
    })
    await net.setup()
    const validators = net.nodes.filter((n) => n.layout.roles.includes('validator')).map((n) => n.name)
    const miner = net.nodes.find((n) => !n.layout.roles.includes('validator'))
    // No node starts within a millisecond: the bound, not the node, ends the wait.
    const error = await net.start({ readyTimeoutMs: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(error instanceof TestnetStartError, String(error))
    assert.equal(error.code, 'ERR_TESTNET_START')
    assert.deepEqual(error.details.nodes, validators)
    for (const name of validators) {
      assert.match(error.message, new RegExp(`${name} \\(node ${name} did not start: not ready within 1 ms`))
      assert.match(error.message, new RegExp(`node ${name}: pid \\d+, not ready: waited \\d+ ms for .*ready\\.json`))
    }
    // The validators come first: the miner was never started, and the report says so.
    assert.match(error.message, new RegExp(`node ${miner?.name}: not started`))
  })
})
