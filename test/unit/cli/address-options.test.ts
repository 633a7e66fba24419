/**
 * The address options of `r3mes node` and `r3mes testnet --hosts`: a bad value is refused
 * with exit 64 and a message naming the option, before any file is read or node started.
 */
import assert from 'node:assert/strict'
import { cli } from '../../helpers/cli.ts'

const base = ['node', '--home', '/nonexistent/r3mes-home', '--role', 'validator']

describe('cli: address options', () => {
  it('refuses a --listen or --announce value that is not a multiaddr, naming the option', async () => {
    for (const option of ['--listen', '--announce']) {
      const r = await cli(...base, option, '10.0.0.1:4001')
      assert.equal(r.code, 64, r.err)
      assert.match(r.err, new RegExp(`${option} '10\\.0\\.0\\.1:4001' is not a multiaddr`))
    }
  })

  it('refuses an --api-address that is not HOST:PORT', async () => {
    for (const bad of ['10.0.0.1', '10.0.0.1:70000', ':80', '[::1]']) {
      const r = await cli(...base, '--api-address', bad)
      assert.equal(r.code, 64, `${bad}: ${r.err}`)
      assert.match(r.err, /--api-address must be HOST:PORT/)
    }
  })

  it('takes good addresses and goes on to read the genesis', async () => {
    const r = await cli(
      ...base,
      '--listen',
      '/ip4/10.0.0.1/tcp/4001',
      '--announce',
      '/dns4/node.example.org/tcp/4001',
      '--api-address',
      '[::1]:0',
      '--lan',
      '--relay',
    )
    assert.equal(r.code, 64)
    assert.match(r.err, /cannot read the genesis file \/nonexistent\/r3mes-home\/genesis\.json/)
  })

  it('refuses testnet --hosts with --stage: the virtual LAN lives as long as one command', async () => {
    const r = await cli('testnet', '--hosts', '--stage', 'start', '--dir', '/nonexistent/run')
    assert.equal(r.code, 64)
    assert.match(r.err, /--hosts runs every stage in one command/)
  })
})
