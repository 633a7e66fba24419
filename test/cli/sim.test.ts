/** `r3mes sim` as a user runs it: a small network's report, a replay's digest, and clear errors. */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sleep } from '../../src/runtime/clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { cli } from '../helpers/cli.ts'
import { bin, repo, userEnv } from '../integration/helpers/r3mes-process.ts'

describe('cli: r3mes sim', function () {
  this.timeout(120_000)
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'r3mes-sim-cli-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('prints the report and the same digest for the same seed, and writes JSON', async () => {
    const args = ['sim', '--validators', '4', '--miners', '8', '--subnets', '2', '--windows', '1', '--seed', '5']
    const json = join(dir, 'report.json')
    const a = await cli(...args, '--json', json, '--until', 'height:15', '--blocks')
    assert.equal(a.code, 0, a.err)
    assert.match(a.out, /seed 5: 4 validators, 8 miners, 2 subnets, 1 windows/)
    assert.match(a.out, /stopped at height 15 \(height 15\)/)
    assert.match(a.out, /consensus per height per validator: [\d.]+ messages/)
    assert.equal(a.out.match(/^ {2}block \d+ /gm)?.length, 15)
    const digest = a.out.match(/digest ([0-9a-f]{64})/)?.[1]
    const report = JSON.parse(await readFile(json, 'utf8'))
    assert.equal(report.digest, digest)
    assert.equal(report.heights, 15)
    const b = await cli(...args, '--until', 'height:15')
    assert.equal(b.out.match(/digest ([0-9a-f]{64})/)?.[1], digest)
    // Every validator executing every block itself computes the same chain.
    const replicated = await cli(...args, '--until', 'height:15', '--replicated')
    assert.equal(replicated.code, 0, replicated.err)
    assert.match(replicated.out, /4 validators executing on their own/)
    assert.equal(replicated.out.match(/digest ([0-9a-f]{64})/)?.[1], digest)
  })

  it('ends at once on Ctrl-C, though a run never returns to the event loop', async () => {
    // Large enough to run for minutes; the process is interrupted once the run is under way.
    const child = spawn(
      process.execPath,
      [bin, 'sim', '--validators', '50', '--miners', '500', '--subnets', '4', '--windows', '50'],
      { cwd: repo, env: userEnv(), stdio: 'ignore' },
    )
    const exited = once(child, 'exit')
    await new Promise((resolve) => child.once('spawn', resolve))
    // Startup (loading the sources) takes about a second; the simulation begins right after.
    const clock = new SystemClock()
    await sleep(clock, 4000)
    child.kill('SIGINT')
    const [code, signal] = (await Promise.race([
      exited,
      sleep(clock, 5000).then(() => ['still running after 5 s', null]),
    ])) as [number | string | null, NodeJS.Signals | null]
    if (code !== null) child.kill('SIGKILL')
    assert.deepEqual([code, signal], [null, 'SIGINT'], 'the process ended by the interrupt')
  })

  it('refuses bad arguments and fault files with the option or field that is wrong', async () => {
    const until = await cli('sim', '--until', 'noon')
    assert.equal(until.code, 64)
    assert.match(until.err, /--until noon: the events are height:N/)
    const miners = await cli('sim', '--miners', '3', '--subnets', '2')
    assert.equal(miners.code, 64)
    assert.match(miners.err, /--miners 3: at least 2 per subnet/)
    const witnesses = await cli('sim', '--validators', '4', '--witnesses', '5')
    assert.equal(witnesses.code, 64)
    assert.match(witnesses.err, /--witnesses must be an integer in \[0, 4\], got '5'/)
    const challengers = await cli('sim', '--challengers', '0')
    assert.equal(challengers.code, 64)
    assert.match(challengers.err, /--challengers must be an integer in \[1, 10000\], got '0'/)
    const three = await cli('sim', '--challengers', '3', '--until', 'height:3')
    assert.equal(three.code, 0, three.err)
    const both = await cli('sim', '--witnesses', '1', '--replicated')
    assert.equal(both.code, 64)
    assert.match(both.err, /--replicated and --witnesses: give one/)
    const faults = join(dir, 'faults.json')
    await writeFile(faults, JSON.stringify({ network: { duplicate: -1 } }))
    const bad = await cli('sim', '--faults', faults)
    assert.equal(bad.code, 64)
    assert.match(bad.err, /network\.duplicate/)
    const missing = await cli('sim', '--faults', join(dir, 'none.json'))
    assert.equal(missing.code, 64)
    assert.match(missing.err, /none\.json: cannot read it/)
  })
})
