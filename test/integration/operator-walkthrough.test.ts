/**
 * README's "Start a network with other operators", run line by line as written: the test reads
 * the walk-through's shell block from README.md, gives each operator a machine of its own (a
 * network namespace on a virtual LAN, src/testnet/hosts.ts) and runs every `npx r3mes` line
 * as a real process on the machine its `# alice` / `# bob` heading names, with the `$NAMES` the
 * text explains filled in. `cp` lines are carried out by the test (the homes share the file
 * system, as files carried between machines would arrive). The two `r3mes node` lines keep
 * running; the lines after them need both validators signing, so a walk-through that does not
 * produce a working two-operator network fails here.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { copyFileSync, readdirSync, readFileSync, symlinkSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { type Clock, sleep } from '../../src/runtime/clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { createVirtualLan, hostsAvailable, type VirtualHost, type VirtualLan } from '../../src/testnet/hosts.ts'
import { type Run, repo, runR3mes, spawnR3mes } from './helpers/r3mes-process.ts'

const clock: Clock = new SystemClock()
const available = hostsAvailable()

/** The walk-through's lines: the first shell block under its heading in README.md. */
function walkthroughLines(readme: string): string[] {
  const heading = readme.indexOf('## Start a network with other operators')
  assert.ok(heading >= 0, 'README.md has the walk-through heading')
  const open = readme.indexOf('```sh\n', heading)
  const close = readme.indexOf('\n```', open + 6)
  assert.ok(open > heading && close > open, 'the walk-through has a shell block')
  return readme
    .slice(open + 6, close)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
}

describe(`README: start a network with other operators${available.ok ? '' : ` (skipped: ${available.reason})`}`, function () {
  this.timeout(600_000)
  let root = ''
  let lan: VirtualLan | undefined
  const nodes: ChildProcess[] = []

  before(async function () {
    if (!available.ok) this.skip()
    root = await mkdtemp(join(tmpdir(), 'r3mes-walkthrough-'))
  })

  after(async () => {
    for (const n of nodes) n.kill('SIGTERM')
    for (const n of nodes) if (n.exitCode === null) await new Promise((resolve) => n.once('exit', resolve))
    lan?.destroy()
    if (root !== '') await rm(root, { recursive: true, force: true, maxRetries: 5 })
  })

  it('every line runs on its machine and the two operators end up validating one chain', async () => {
    const lines = walkthroughLines(readFileSync(join(repo, 'README.md'), 'utf8'))
    lan = createVirtualLan({ hosts: 2 })
    const machines: Record<string, VirtualHost> = {
      alice: lan.hosts[0] as VirtualHost,
      bob: lan.hosts[1] as VirtualHost,
    }
    // The homes and the committed backbone, where the lines name them (relative to the working folder).
    symlinkSync(join(repo, 'models'), join(root, 'models'))
    const vars: Record<string, string> = { ALICE_IP: machines.alice?.address as string }

    const fill = (line: string): string[] =>
      line.split(/\s+/).map((word) =>
        word.replace(/\$([A-Z_]+)/g, (_, name: string) => {
          const value = vars[name]
          assert.ok(value !== undefined, `the walk-through uses $${name} before anything printed it`)
          return value
        }),
      )

    const r3mes = (host: VirtualHost, args: readonly string[]): Promise<Run> =>
      runR3mes(args, { timeoutMs: 180_000, prefix: (lan as VirtualLan).exec(host), cwd: root })

    /** Wait until the node of `home` answers on its API (its config gives 0.0.0.0:26657) from `from`. */
    const answering = async (from: VirtualHost, at: VirtualHost, home: string, log: string): Promise<void> => {
      const deadline = clock.monotonicMs() + 120_000
      for (;;) {
        const r = await r3mes(from, ['query', 'height', '--node', `http://${at.address}:26657`])
        if (r.code === 0) return
        if (clock.monotonicMs() > deadline)
          assert.fail(`the node of ${home} did not answer in 120 s:\n${readFileSync(log, 'utf8').slice(-3000)}`)
        await sleep(clock, 1000)
      }
    }

    let machine: string | undefined
    const outputs: string[] = []
    for (const line of lines) {
      if (line.startsWith('#')) {
        const name = /^#\s*(\w+)/.exec(line)?.[1]
        assert.ok(name !== undefined && machines[name] !== undefined, `'${line}' names a machine (alice or bob)`)
        machine = name
        continue
      }
      const host = machines[machine ?? ''] as VirtualHost
      assert.ok(host !== undefined, `'${line}' comes after a machine heading`)
      const words = fill(line)
      if (words[0] === 'cp') {
        const [from, to] = [words[1] as string, words[2] as string]
        if (from.endsWith('/*'))
          for (const f of readdirSync(join(root, from.slice(0, -2))))
            copyFileSync(join(root, from.slice(0, -2), f), join(root, to, f))
        else copyFileSync(join(root, from), join(root, to))
        continue
      }
      assert.deepEqual(words.slice(0, 2), ['npx', 'r3mes'], `'${line}' is an r3mes command or cp`)
      const args = words.slice(2)
      if (args[0] === 'node') {
        const home = args[args.indexOf('--home') + 1] as string
        const log = join(root, `${home}.log`)
        nodes.push(spawnR3mes(args, { logFile: log, prefix: lan.exec(host), cwd: root }))
        await answering(host, host, home, log)
        continue
      }
      const run = await r3mes(host, [...args, ...(args[0] === 'init' || args[0] === 'keys' ? ['--json'] : [])])
      assert.equal(run.code, 0, `'${line}' failed on ${machine}:\n${run.err}${run.out}`)
      outputs.push(run.out)
      if (args[0] === 'init') {
        const who = (args[args.indexOf('--home') + 1] as string).toUpperCase()
        const shown = JSON.parse(run.out) as { address: string; peerId: string }
        vars[`${who}_ADDRESS`] = shown.address
        vars[`${who}_PEER_ID`] = shown.peerId
      }
    }

    // What the last lines printed: both validators in the set, and the transfer landed.
    const validators = outputs.at(-2) as string
    for (const who of ['ALICE', 'BOB'])
      assert.ok(validators.includes(vars[`${who}_ADDRESS`] as string), `${who} validates`)
    assert.match(outputs.at(-1) as string, /code: OK/)
    assert.deepEqual(
      readdirSync(join(root, 'alice', 'gentx')).map((f) => basename(f)).length,
      2,
      'alice collected both gentxs',
    )
  })
})
