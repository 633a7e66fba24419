/** `--api-address HOST:PORT` as `r3mes node` reads it: every form a listener takes, and every bad one named. */
import assert from 'node:assert/strict'
import { hostPortOption } from '../../../src/cli/options.ts'

const fallback = { host: '127.0.0.1', port: 0 }

describe('hostPortOption', () => {
  it('reads names, IPv4 and bracketed IPv6 hosts, and falls back when absent', () => {
    const read = (text: string) => hostPortOption({ 'api-address': text }, 'api-address', fallback)
    assert.deepEqual(read('0.0.0.0:26657'), { host: '0.0.0.0', port: 26657 })
    assert.deepEqual(read('node.example.org:80'), { host: 'node.example.org', port: 80 })
    assert.deepEqual(read('[::]:0'), { host: '::', port: 0 })
    assert.deepEqual(read('[::1]:8080'), { host: '::1', port: 8080 })
    assert.deepEqual(hostPortOption({}, 'api-address', fallback), fallback)
  })

  it('refuses what is not HOST:PORT, naming the option', () => {
    for (const bad of ['26657', '127.0.0.1', '127.0.0.1:65536', ':80', '::1:80', 'http://x:80', 'a b:1', '']) {
      assert.throws(
        () => hostPortOption({ 'api-address': bad }, 'api-address', fallback),
        (error: Error) =>
          error.message.startsWith('--api-address must be HOST:PORT') && error.message.includes(`'${bad}'`),
        bad,
      )
    }
  })
})
