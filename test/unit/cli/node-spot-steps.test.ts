/** `r3mes node --spot-steps`: a bad value is an error naming the option and what it takes, before anything starts. */
import assert from 'node:assert/strict'
import { ExitCode } from '../../../src/cli/command.ts'
import { cli } from '../../helpers/cli.ts'

describe('r3mes node: --spot-steps', () => {
  for (const value of ['some', '2.5', '1026'])
    it(`refuses --spot-steps ${value}, naming the option and 'all'`, async () => {
      const { code, err } = await cli(
        'node',
        '--home',
        '/nonexistent/r3mes-home',
        '--role',
        'challenger',
        '--spot-steps',
        value,
      )
      assert.notEqual(code, ExitCode.ok)
      assert.match(err, /--spot-steps must be 'all' or an integer in \[0, 1025\], got/)
    })
})
