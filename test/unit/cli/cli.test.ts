import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { ExitCode } from '../../../src/cli/command.ts'
import { commands } from '../../../src/cli/main.ts'
import { cli } from '../../helpers/cli.ts'

const execFileAsync = promisify(execFile)
const bin = new URL('../../../bin/r3mes.js', import.meta.url).pathname

describe('r3mes CLI', () => {
  it('lists every subcommand in --help', async () => {
    const { code, out } = await cli('--help')
    assert.equal(code, ExitCode.ok)
    for (const name of ['node', 'testnet', 'chaos', 'topology', 'genesis', 'ml', 'serve', 'infer', 'version']) {
      assert.match(out, new RegExp(`^  ${name} `, 'm'), `--help lists ${name}`)
    }
  })

  it('has --help on every subcommand', async () => {
    for (const command of commands) {
      const { code, out } = await cli(command.name, '--help')
      assert.equal(code, ExitCode.ok, command.name)
      assert.match(out, new RegExp(`^Usage: r3mes ${command.name}`), command.name)
    }
  })

  it('documents in --help every option each subcommand accepts', async () => {
    const undocumented: Record<string, string[]> = {}
    for (const command of commands) {
      const { out } = await cli(command.name, '--help')
      const missing = Object.keys(command.options ?? {}).filter(
        (option) => !new RegExp(`(^|[\\s,\\[])--${option}(?![\\w-])`, 'm').test(out),
      )
      if (missing.length > 0) undocumented[command.name] = missing
    }
    assert.deepEqual(undocumented, {}, 'options that a command accepts and its --help does not name')
  })

  it('prints the version', async () => {
    const { code, out } = await cli('version', '--json')
    assert.equal(code, ExitCode.ok)
    const info = JSON.parse(out)
    assert.match(info.r3mes, /^\d+\.\d+\.\d+/)
    assert.equal(info.node, process.versions.node)
  })

  it('refuses unknown commands and options with a usage error', async () => {
    const unknown = await cli('mine-bitcoin')
    assert.equal(unknown.code, ExitCode.usage)
    assert.match(unknown.err, /unknown command 'mine-bitcoin'/)
    const badOption = await cli('version', '--colour')
    assert.equal(badOption.code, ExitCode.usage)
    assert.match(badOption.err, /--colour/)
  })

  it('runs as a real process with a real exit code', async () => {
    const { stdout } = await execFileAsync(process.execPath, [bin, '--help'])
    assert.match(stdout, /Commands:/)
    await assert.rejects(execFileAsync(process.execPath, [bin, 'no-such-command']), (error: { code: number }) => {
      return error.code === ExitCode.usage
    })
  })
})
