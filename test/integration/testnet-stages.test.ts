/**
 * The testnet's stages run on their own, as separate commands on one run folder: `setup`
 * writes it, `start` leaves real node processes running after the command has exited, `stop`
 * finds them by their pid files and stops them, `cleanup` removes the folder. A network of
 * one validator keeps it quick.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sleep } from '../../src/runtime/clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(repo, 'bin', 'r3mes.js')
const clock = new SystemClock()

function r3mes(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: repo, timeout: 180_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, out: stdout, err: stderr })
    })
  })
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('r3mes testnet --stage: each stage on its own', function () {
  this.timeout(240_000)
  let root = ''
  const pids: number[] = []
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'r3mes-stages-'))
  })
  after(async () => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
    if (root !== '') await rm(root, { recursive: true, force: true, maxRetries: 5 })
  })

  it("setup, start (nodes outlive the command, on the topology's backend), stop (by pid), cleanup", async () => {
    const file = join(root, 'one.yaml')
    await writeFile(
      file,
      // `ts`, not the default `auto`: the native backend is built here, so auto would run `cpu`.
      'name: one\nmodel: micro\nbackend: ts\nvalidators: { count: 1, stake: 20000 }\nsubnets:\n  - { layers: [0, 2], miners: 1, peers: 1 }\n',
    )
    const dir = join(root, 'run')
    const setup = await r3mes(['testnet', '--stage', 'setup', file, '--dir', dir])
    assert.equal(setup.code, 0, setup.err)
    assert.ok(existsSync(join(dir, 'testnet.json')) && existsSync(join(dir, 'genesis.json')))

    const start = await r3mes(['testnet', '--stage', 'start', '--dir', dir])
    assert.equal(start.code, 0, start.err)
    for (const node of ['validator-0', 'miner-0-0', 'peer-0-0']) {
      const pid = Number(readFileSync(join(dir, node, 'node.pid'), 'utf8'))
      pids.push(pid)
      assert.ok(alive(pid), `${node} runs after the start command exited`)
      const ready = JSON.parse(readFileSync(join(dir, node, 'ready.json'), 'utf8')) as { api: string; backend: string }
      assert.equal(ready.backend, 'ts', `${node} runs the topology's backend`)
      const status = (await (await fetch(`${ready.api}/status`)).json()) as { roles: string[] }
      assert.ok(status.roles.length > 0)
    }
    // The subnet peer fetches its subnet's range from the validator and seeds it: its machine
    // shows in the status and the event log.
    const peerApi = (JSON.parse(readFileSync(join(dir, 'peer-0-0', 'ready.json'), 'utf8')) as { api: string }).api
    let machines: Record<string, unknown> = {}
    for (let i = 0; i < 120 && !JSON.stringify(machines['subnet-peer'] ?? '').includes('seeding'); i++) {
      machines = ((await (await fetch(`${peerApi}/status`)).json()) as { machines: Record<string, unknown> }).machines
      await sleep(clock, 500)
    }
    assert.match(JSON.stringify(machines['subnet-peer']), /seeding/, 'the subnet peer seeds its subnet')
    const events = (await (await fetch(`${peerApi}/events`)).json()) as { actor: string }[]
    assert.ok(
      events.some((e) => e.actor === 'subnet-peer'),
      'the subnet peer machine is in the event log',
    )
    const again = await r3mes(['testnet', '--stage', 'start', '--dir', dir])
    assert.equal(again.code, 64, 'a second start is refused while the nodes run')
    assert.match(again.err, /already running/)

    const stop = await r3mes(['testnet', '--stage', 'stop', '--dir', dir])
    assert.equal(stop.code, 0, stop.err)
    assert.match(stop.out, /stopped 3 nodes/)
    for (const pid of pids) assert.equal(alive(pid), false)

    const cleanup = await r3mes(['testnet', '--stage', 'cleanup', '--dir', dir])
    assert.equal(cleanup.code, 0, cleanup.err)
    assert.equal(existsSync(dir), false)
  })

  it('names what is wrong: no run folder, a stage without --dir, an unknown stage', async () => {
    const noDir = await r3mes(['testnet', '--stage', 'run'])
    assert.equal(noDir.code, 64)
    assert.match(noDir.err, /--dir/)
    const notRun = await r3mes(['testnet', '--stage', 'start', '--dir', root])
    assert.equal(notRun.code, 64)
    assert.match(notRun.err, /not a testnet run folder/)
    const unknown = await r3mes(['testnet', '--stage', 'launch', '--dir', root])
    assert.equal(unknown.code, 64)
    assert.match(unknown.err, /--stage/)
  })
})
