/**
 * A testnet picks its nodes' ports before it starts them, so a picked port must stay free
 * until its node binds it: it lies outside the range the OS uses for the local end of outbound
 * connections. And a node that does not start says why, with the end of its log.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../../src/testnet/layout.ts'
import { NodeStartError } from '../../../src/testnet/node-process.ts'

function ephemeral(): [number, number] {
  const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
  assert.ok(low !== undefined && high !== undefined)
  return [low, high]
}

function bind(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()))
  })
}

describe('testnet ports and start errors', () => {
  it('hands out distinct bindable ports outside the ephemeral range', async () => {
    const [low, high] = ephemeral()
    const ports: number[] = []
    for (let i = 0; i < 20; i++) ports.push(await freePort('/tmp/some-run'))
    assert.equal(new Set(ports).size, ports.length)
    for (const p of ports) {
      assert.ok(p < low || p > high, `port ${p} lies in the ephemeral range ${low}-${high}`)
      await bind(p)
    }
  })

  it('skips a port that is taken', async () => {
    const first = await freePort('/tmp/taken-run')
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(first + 1, '127.0.0.1', () => resolve()))
    try {
      const next = await freePort('/tmp/taken-run')
      assert.notEqual(next, first + 1)
    } finally {
      server.close()
    }
  })

  it('a start error carries the end of the node log', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'r3mes-start-error-'))
    try {
      const log = join(dir, 'node.log')
      const lines = Array.from({ length: 30 }, (_, i) => `line ${i}`)
      await writeFile(log, `${lines.join('\n')}\nError: listen EADDRINUSE: address already in use 127.0.0.1:20001\n`)
      const error = new NodeStartError('serving-0', 'exited with 1', log)
      assert.equal(error.code, 'ERR_NODE_START')
      assert.match(error.message, /node serving-0 did not start: exited with 1/)
      assert.match(error.message, /EADDRINUSE/)
      assert.match(error.message, /line 29/)
      assert.doesNotMatch(error.message, /line 5\n/)
      const missing = new NodeStartError('miner-0', 'exited with 1', join(dir, 'absent.log'))
      assert.match(missing.message, /did not start: exited with 1 \(log: .*absent\.log\)$/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
