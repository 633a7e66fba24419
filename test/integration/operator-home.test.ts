/**
 * An operator's home for real: `r3mes init` with an encrypted account key, then `r3mes node
 * --home` started from its config.toml alone (plus the passphrase file), on a real libp2p
 * node. The ready line and /status show that the file's moniker, roles, listen and API
 * addresses were the ones the node ran with.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { brownFictionDataset } from '../../src/actors/training/datasets.ts'
import { genesisToJson, localTestnetGenesis } from '../../src/chain/genesis.ts'
import { ExitCode } from '../../src/cli/command.ts'
import { runCli } from '../../src/cli/main.ts'
import { CONFIG_FILE, loadOperatorKeys } from '../../src/operator/home.ts'
import { sleep } from '../../src/runtime/clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { cli } from '../helpers/cli.ts'

const clock = new SystemClock()

describe('an operator home run by r3mes node', function () {
  this.timeout(120_000)
  let root = ''
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'r3mes-operator-home-'))
  })
  after(() => rmSync(root, { recursive: true, force: true }))

  it('starts from config.toml with an encrypted account key, and runs with what the file says', async () => {
    const home = join(root, 'carol')
    const passphraseFile = join(root, 'pass')
    writeFileSync(passphraseFile, 'carol passphrase\n', { mode: 0o600 })
    const init = await cli(
      ...['init', '--home', home, '--moniker', 'carol', '--roles', 'validator'],
      ...['--listen', '/ip4/127.0.0.2/tcp/0', '--api-address', '127.0.0.2:0'],
      ...['--encrypt', '--passphrase-file', passphraseFile, '--json'],
    )
    assert.equal(init.code, ExitCode.ok, init.err)
    const { address, peerId, consensusPublicKey } = JSON.parse(init.out) as {
      address: string
      peerId: string
      consensusPublicKey: string
    }
    const keys = loadOperatorKeys(home, { passphrase: 'carol passphrase' })
    assert.equal(keys.account.address, address)
    const dataset = brownFictionDataset()
    const base = localTestnetGenesis({ chainId: 'r3mes-home', validators: [keys.account] })
    const genesis = {
      ...base,
      // The node validates with the consensus key and runs under the peer id that init wrote.
      stakers: base.stakers.map((s) => ({ ...s, consensusKey: consensusPublicKey, peerId })),
      datasets: [{ cid: dataset.cid, name: dataset.name, shardCount: 64 }],
    }
    writeFileSync(join(home, 'genesis.json'), JSON.stringify(genesisToJson(genesis)))
    writeFileSync(
      join(home, CONFIG_FILE),
      readFileSync(join(home, CONFIG_FILE), 'utf8').replace('# level = "info"', 'level = "silent"'),
    )

    const stop = new AbortController()
    const lines: string[] = []
    const errors: string[] = []
    const run = runCli(['node', '--home', home, '--passphrase-file', passphraseFile], {
      out: (text) => lines.push(text),
      err: (text) => errors.push(text),
      progress: { isTTY: false, write: () => {} },
      signal: stop.signal,
    })
    let exited: number | undefined
    const done = run.then((code) => {
      exited = code
      return code
    })
    try {
      const until = clock.monotonicMs() + 90_000
      while (lines.length === 0 && exited === undefined && clock.monotonicMs() < until) await sleep(clock, 100)
      assert.equal(exited, undefined, `the node exited: ${errors.join('\n')}`)
      assert.ok(lines.length > 0, 'the node printed its ready line')
      const ready = JSON.parse(lines[0] as string) as {
        name: string
        address: string
        peerId: string
        roles: string[]
        multiaddrs: string[]
        api: string
      }
      assert.equal(ready.name, 'carol', 'moniker')
      assert.equal(ready.address, address, 'the node signs with the account key init wrote')
      assert.equal(ready.peerId, peerId, 'the node runs under the libp2p identity init wrote')
      assert.deepEqual(ready.roles, ['validator'], '[node] roles')
      assert.ok(ready.multiaddrs.length > 0)
      for (const addr of ready.multiaddrs) assert.match(addr, /^\/ip4\/127\.0\.0\.2\/tcp\/\d+/, '[p2p] listen')
      assert.match(ready.api, /^http:\/\/127\.0\.0\.2:\d+/, '[api] address')
      const status = (await (await fetch(`${ready.api}/status`)).json()) as { roles: string[]; validator: boolean }
      assert.deepEqual(status.roles, ['validator'])
      assert.equal(status.validator, true, 'the consensus key init wrote is the one in the validator set')
    } finally {
      stop.abort()
      assert.equal(await done, ExitCode.ok, errors.join('\n'))
    }
  })
})
