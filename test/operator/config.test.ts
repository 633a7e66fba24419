import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  configKeyOfFlag,
  configToNodeFlags,
  FLAG_OF_CONFIG_KEY,
  parseConfig,
  readConfigFile,
  renderConfig,
} from '../../src/operator/config.ts'
import { InvalidArgumentError } from '../../src/runtime/errors.ts'
import { MAX_CONFIG_FILE_BYTES } from '../../src/runtime/limits.ts'

const FULL = `
moniker = "alice"

[p2p]
listen = ["/ip4/0.0.0.0/tcp/26656"]
announce = ["/ip4/203.0.113.7/tcp/26656"]
bootstrap = ["/ip4/203.0.113.8/tcp/26656/p2p/12D3KooWAay7Dvzna7Z5xPLt88FwWmzWMABjCf9LfaVCVy1atRmq"]
lan = true
relay = false

[api]
address = "0.0.0.0:26657"
admin_token_file = "admin.token"

[node]
roles = ["miner", "challenger"]
subnet = 2
backend = "cpu"
challenge_fraction = 0.5
model = "/srv/model"
genesis = "genesis.json"

[storage]
snapshot_interval = 500
keep_blocks = 10000
gc_interval = 50

[log]
level = "debug"
`

/** The message of the InvalidArgumentError `fn` throws. */
function refusal(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError, `expected an InvalidArgumentError, got ${String(error)}`)
    return error.message
  }
  assert.fail('expected a refusal')
}

describe('operator config.toml', () => {
  it('reads every key and maps each onto its r3mes node flag, file paths from the home', () => {
    const config = parseConfig(FULL, 'config.toml')
    assert.deepEqual(configToNodeFlags(config, '/home/op'), {
      name: 'alice',
      listen: ['/ip4/0.0.0.0/tcp/26656'],
      announce: ['/ip4/203.0.113.7/tcp/26656'],
      bootstrap: ['/ip4/203.0.113.8/tcp/26656/p2p/12D3KooWAay7Dvzna7Z5xPLt88FwWmzWMABjCf9LfaVCVy1atRmq'],
      lan: true,
      relay: false,
      'api-address': '0.0.0.0:26657',
      'admin-token-file': '/home/op/admin.token',
      role: ['miner', 'challenger'],
      subnet: '2',
      backend: 'cpu',
      'challenge-fraction': '0.5',
      model: '/srv/model',
      genesis: '/home/op/genesis.json',
      'snapshot-interval': '500',
      'keep-blocks': '10000',
      'gc-interval': '50',
      'log-level': 'debug',
    })
  })

  it('maps an empty file to no flags at all, so the node keeps its defaults', () => {
    assert.deepEqual(configToNodeFlags(parseConfig('', 'config.toml'), '/h'), {})
  })

  it('names one flag per key, and finds the key back from the flag', () => {
    const flags = Object.values(FLAG_OF_CONFIG_KEY).map((entry) => entry.flag)
    assert.equal(new Set(flags).size, flags.length)
    for (const [key, { flag }] of Object.entries(FLAG_OF_CONFIG_KEY)) assert.equal(configKeyOfFlag(flag), key)
  })

  it('refuses a TOML syntax error with the file, line and column', () => {
    assert.match(
      refusal(() => parseConfig('moniker = "a"\n[p2p\n', '/h/config.toml')),
      /^\/h\/config\.toml:2:\d+: not valid TOML/,
    )
    assert.match(
      refusal(() => parseConfig('moniker = "a"\nmoniker = "b"\n', 'c.toml')),
      /^c\.toml:2:\d+: not valid TOML/,
    )
  })

  it('refuses an unknown key with its dotted path and the closest known key', () => {
    const message = refusal(() => parseConfig('[p2p]\nlisen = ["/ip4/0.0.0.0/tcp/1"]\n', 'config.toml'))
    assert.match(message, /^config\.toml: p2p\.lisen: unknown key in \[p2p\] \(did you mean 'listen'\?\)/)
    assert.match(
      refusal(() => parseConfig('monicker = "a"\n', 'config.toml')),
      /monicker: unknown key at the top level \(did you mean 'moniker'\?\)/,
    )
    assert.match(
      refusal(() => parseConfig('[netwrok]\n', 'config.toml')),
      /netwrok: unknown key/,
    )
  })

  it('refuses a value of the wrong type or out of range, naming the key and the value', () => {
    const cases: [string, RegExp][] = [
      ['[p2p]\nlisten = "/ip4/0.0.0.0/tcp/1"\n', /p2p\.listen: must be a list, got '\/ip4/],
      ['[p2p]\nlan = "yes"\n', /p2p\.lan: must be true or false, got 'yes'/],
      ['[node]\nsubnet = 1.5\n', /node\.subnet: must be an integer/],
      ['[node]\nsubnet = -1\n', /node\.subnet: must be ≥ 0, got -1/],
      ['[node]\nchallenge_fraction = 2\n', /node\.challenge_fraction: must be in \[0, 1\], got 2/],
      [
        '[node]\nroles = ["minr"]\n',
        /node\.roles\[0\]: must be one of validator, .*, got 'minr' \(did you mean 'miner'\?\)/,
      ],
      ['[node]\nroles = []\n', /node\.roles: must name at least one role/],
      ['[log]\nlevel = "loud"\n', /log\.level: must be one of debug, info, warn, error, silent, got 'loud'/],
      ['moniker = ""\n', /moniker: must not be empty/],
      ['moniker = "a\\u0007b"\n', /moniker: must have no control characters/],
      ['p2p = 3\n', /p2p: must be a table, got 3/],
    ]
    for (const [toml, expected] of cases)
      assert.match(
        refusal(() => parseConfig(toml, 'config.toml')),
        expected,
        toml,
      )
  })

  it('lists every problem of a file at once', () => {
    const message = refusal(() => parseConfig('[node]\nsubnet = "one"\n[log]\nlevel = "loud"\n', 'config.toml'))
    assert.match(message, /node\.subnet: must be a number/)
    assert.match(message, /log\.level: must be one of/)
  })

  it('refuses unread a file over MAX_CONFIG_FILE_BYTES, and names a file it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'r3mes-config-'))
    try {
      const big = join(dir, 'config.toml')
      writeFileSync(big, `# ${'x'.repeat(MAX_CONFIG_FILE_BYTES)}\n`)
      assert.match(
        refusal(() => readConfigFile(big)),
        /over the 65536 a config file may have/,
      )
      assert.match(
        refusal(() => readConfigFile(join(dir, 'none.toml'))),
        /cannot read the config file .*none\.toml/,
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('renders a default file that parses back to what was chosen, every other key commented out', () => {
    const text = renderConfig({
      moniker: 'bob "the" \\node ünï',
      listen: ['/ip4/0.0.0.0/tcp/26656'],
      roles: ['validator'],
    })
    assert.deepEqual(configToNodeFlags(parseConfig(text, 'config.toml'), '/h'), {
      name: 'bob "the" \\node ünï',
      listen: ['/ip4/0.0.0.0/tcp/26656'],
      role: ['validator'],
    })
    // Every key of the schema is shown, set or commented, so the file documents itself.
    for (const key of Object.keys(FLAG_OF_CONFIG_KEY)) {
      const name = key.split('.').at(-1) as string
      assert.match(text, new RegExp(`^(# )?${name} = `, 'm'), key)
    }
    // Uncommenting every commented key yields a file the parser takes.
    const uncommented = text.replace(/^# ([a-z_]+ = .*)$/gm, '$1').replace('model = ""', 'model = "m"')
    const flags = configToNodeFlags(
      parseConfig(uncommented.replace('admin_token_file = ""', 'admin_token_file = "t"'), 'c.toml'),
      '/h',
    )
    assert.equal(Object.keys(flags).length, Object.keys(FLAG_OF_CONFIG_KEY).length)
  })

  it('renders the API address when one is chosen', () => {
    const text = renderConfig({ moniker: 'a', listen: [], roles: ['miner'], apiAddress: '127.0.0.1:8080' })
    assert.equal(configToNodeFlags(parseConfig(text, 'c.toml'), '/h')['api-address'], '127.0.0.1:8080')
  })
})
