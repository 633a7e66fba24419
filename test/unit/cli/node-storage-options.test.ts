/** `r3mes node` storage options: every bad value is an error naming its option, before anything starts. */
import assert from 'node:assert/strict'
import { ExitCode } from '../../../src/cli/command.ts'
import { cli } from '../../helpers/cli.ts'

describe('r3mes node: --snapshot-interval, --keep-blocks, --gc-interval', () => {
  for (const [option, value] of [
    ['--snapshot-interval', 'often'],
    ['--keep-blocks', 'ten'],
    ['--gc-interval', '1.5'],
  ] as const)
    it(`refuses ${option} ${value}, naming the option`, async () => {
      const { code, err } = await cli('node', '--home', '/nonexistent/r3mes-home', '--role', 'validator', option, value)
      assert.notEqual(code, ExitCode.ok)
      assert.match(err, new RegExp(`${option} must be an integer`))
    })

  it('refuses --keep-blocks without snapshots: a restart would need every block', async () => {
    const { code, err } = await cli(
      'node',
      '--home',
      '/nonexistent/r3mes-home',
      '--role',
      'validator',
      '--keep-blocks',
      '100',
      '--snapshot-interval',
      '0',
    )
    assert.notEqual(code, ExitCode.ok)
    assert.match(err, /--keep-blocks needs snapshots/)
  })
})
