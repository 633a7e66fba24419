import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { publicKeyOfPeerId, verifyKeyProof } from '../../../src/chain/key-proofs.ts'
import { keyPairFromSeed, testKey } from '../../../src/chain/keys.ts'
import { ExitCode } from '../../../src/cli/command.ts'
import { nodeCommand, readNodeOptions } from '../../../src/cli/commands/node.ts'
import { readAgainstConfig, valuesWithConfig } from '../../../src/cli/node-config.ts'
import { fromHex, toHex } from '../../../src/codec/bytes.ts'
import { readIdentity } from '../../../src/net/identity.ts'
import {
  ACCOUNT_KEY_FILE,
  ACCOUNT_KEYSTORE_FILE,
  CONFIG_FILE,
  CONSENSUS_KEY_FILE,
  IDENTITY_KEY_FILE,
  LEGACY_NODE_KEY_FILE,
  loadOperatorKeys,
  readKeySeed,
} from '../../../src/operator/home.ts'
import { InvalidArgumentError } from '../../../src/runtime/errors.ts'
import { cli } from '../../helpers/cli.ts'

/** Every file under `dir` with its bytes, to show that a refused command changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {}
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name)
      files[path] = readFileSync(path, 'hex')
    }
  }
  return files
}

describe('r3mes init and r3mes keys show', () => {
  let root: string
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'r3mes-init-'))
  })
  afterEach(() => rmSync(root, { recursive: true, force: true }))

  it('creates a home: config, three distinct keys, files 0600, key folders 0700; prints the public side', async () => {
    const home = join(root, 'alice')
    const { code, out, err } = await cli('init', '--home', home, '--moniker', 'alice', '--json')
    assert.equal(code, ExitCode.ok, err)
    const shown = JSON.parse(out) as Record<string, unknown>
    const account = keyPairFromSeed(readKeySeed(join(home, ACCOUNT_KEY_FILE)))
    const consensus = keyPairFromSeed(readKeySeed(join(home, CONSENSUS_KEY_FILE)))
    const identity = await readIdentity(join(home, 'net'))
    assert.ok(identity !== undefined)
    assert.deepEqual(shown, {
      home,
      moniker: 'alice',
      address: account.address,
      accountPublicKey: toHex(account.publicKey),
      consensusPublicKey: toHex(consensus.publicKey),
      encrypted: false,
      peerId: peerIdFromPrivateKey(identity).toString(),
    })
    assert.notEqual(shown.accountPublicKey, shown.consensusPublicKey)
    assert.notEqual(toHex(publicKeyOfPeerId(shown.peerId as string) as Uint8Array), shown.consensusPublicKey)
    for (const file of [ACCOUNT_KEY_FILE, CONSENSUS_KEY_FILE, IDENTITY_KEY_FILE])
      assert.equal(statSync(join(home, file)).mode & 0o777, 0o600, file)
    for (const folder of ['keys', 'net']) assert.equal(statSync(join(home, folder)).mode & 0o777, 0o700, folder)
    assert.ok(!out.includes(toHex(account.secretKey)) && !out.includes(toHex(consensus.secretKey)), 'no secret printed')

    const config = readFileSync(join(home, CONFIG_FILE), 'utf8')
    assert.match(config, /^moniker = "alice"$/m)
    assert.match(config, /^listen = \[ "\/ip4\/0\.0\.0\.0\/tcp\/26656" \]$/m)
    assert.match(config, /^roles = \[ "validator" \]$/m)

    const again = await cli('keys', 'show', '--home', home, '--json')
    assert.equal(again.code, ExitCode.ok, again.err)
    const { moniker: _moniker, ...withoutMoniker } = shown
    assert.deepEqual(JSON.parse(again.out), withoutMoniker)

    const text = await cli('keys', 'show', '--home', home)
    assert.match(text.out, new RegExp(`^address: +${account.address}$`, 'm'))
    assert.match(text.out, new RegExp(`^peer id: +${shown.peerId}$`, 'm'))
  })

  it('writes the chosen roles, listen and API addresses into config.toml', async () => {
    const home = join(root, 'm')
    const { code, err } = await cli(
      ...[
        'init',
        '--home',
        home,
        '--moniker',
        'm',
        '--roles',
        'miner,challenger',
        '--listen',
        '/ip4/10.0.0.2/tcp/4001',
      ],
      ...['--listen', '/ip4/10.0.0.2/tcp/4002', '--api-address', '10.0.0.2:8080'],
    )
    assert.equal(code, ExitCode.ok, err)
    const config = readFileSync(join(home, CONFIG_FILE), 'utf8')
    assert.match(config, /^roles = \[ "miner", "challenger" \]$/m)
    assert.match(config, /^listen = \[ "\/ip4\/10\.0\.0\.2\/tcp\/4001", "\/ip4\/10\.0\.0\.2\/tcp\/4002" \]$/m)
    assert.match(config, /^address = "10\.0\.0\.2:8080"$/m)
  })

  it('with --chain-id, prints the proofs that bind the consensus key and the peer id to the account', async () => {
    const home = join(root, 'v')
    const { code, out, err } = await cli('init', '--home', home, '--moniker', 'v', '--chain-id', 'r3mes-9', '--json')
    assert.equal(code, ExitCode.ok, err)
    const shown = JSON.parse(out) as Record<string, string>
    const consensusKey = fromHex(shown.consensusPublicKey, 32) as Uint8Array
    const peerKey = publicKeyOfPeerId(shown.peerId as string) as Uint8Array
    const address = shown.address as string
    assert.equal(shown.chainId, 'r3mes-9')
    assert.ok(verifyKeyProof('consensus', consensusKey, 'r3mes-9', address, shown.consensusProof))
    assert.ok(verifyKeyProof('peer', peerKey, 'r3mes-9', address, shown.peerProof))
    assert.ok(
      !verifyKeyProof('consensus', consensusKey, 'r3mes-8', address, shown.consensusProof),
      'bound to the chain',
    )
  })

  it('with --encrypt, seals the account key under the passphrase file; keys show needs no passphrase', async () => {
    const home = join(root, 'e')
    const passphraseFile = join(root, 'pass')
    writeFileSync(passphraseFile, 'a long passphrase\n', { mode: 0o600 })
    const init = await cli(
      ...['init', '--home', home, '--moniker', 'e', '--encrypt', '--passphrase-file', passphraseFile, '--json'],
    )
    assert.equal(init.code, ExitCode.ok, init.err)
    const shown = JSON.parse(init.out) as Record<string, unknown>
    assert.equal(shown.encrypted, true)
    assert.equal(statSync(join(home, ACCOUNT_KEYSTORE_FILE)).mode & 0o777, 0o600)
    assert.throws(() => statSync(join(home, ACCOUNT_KEY_FILE)), /ENOENT/)
    assert.equal(loadOperatorKeys(home, { passphrase: 'a long passphrase' }).account.address, shown.address)
    const keys = await cli('keys', 'show', '--home', home, '--json')
    assert.equal(keys.code, ExitCode.ok, keys.err)
    assert.equal((JSON.parse(keys.out) as Record<string, unknown>).address, shown.address)
  })

  it('refuses a home that already holds a node, and changes nothing in it', async () => {
    const home = join(root, 'a')
    assert.equal((await cli('init', '--home', home, '--moniker', 'a')).code, ExitCode.ok)
    const before = snapshot(home)
    const again = await cli('init', '--home', home, '--moniker', 'b')
    assert.equal(again.code, ExitCode.usage)
    assert.match(
      again.err,
      /already holds a node \(config\.toml, keys\/account\.key, keys\/consensus\.key, net\/identity\.key\)/,
    )
    assert.deepEqual(snapshot(home), before)

    // A testnet's home, with its one legacy key.
    const legacy = join(root, 'legacy')
    mkdirSync(legacy)
    writeFileSync(join(legacy, LEGACY_NODE_KEY_FILE), `${'11'.repeat(32)}\n`)
    const refused = await cli('init', '--home', legacy, '--moniker', 'l')
    assert.equal(refused.code, ExitCode.usage)
    assert.match(refused.err, /already holds a node \(node\.key\)/)
    assert.deepEqual(readdirSync(legacy), [LEGACY_NODE_KEY_FILE])
  })

  it('refuses bad arguments before writing anything', async () => {
    const home = join(root, 'x')
    const cases: [string[], RegExp][] = [
      [['init', '--home', home], /--moniker NAME is required/],
      [['init', '--moniker', 'x'], /--home DIR is required/],
      [['init', '--home', home, '--moniker', 'x', '--roles', 'miner,minr'], /--roles must be one of .* got 'minr'/],
      [['init', '--home', home, '--moniker', 'x', '--encrypt'], /--encrypt needs --passphrase-file FILE/],
      [
        ['init', '--home', home, '--moniker', 'x', '--passphrase-file', join(root, 'p')],
        /--passphrase-file is for --encrypt/,
      ],
      [
        ['init', '--home', home, '--moniker', 'x', '--encrypt', '--passphrase-file', join(root, 'none')],
        /cannot read the passphrase file/,
      ],
      [
        ['init', '--home', home, '--moniker', 'x', '--listen', '/ip4/1.2.3/tcp/1'],
        /--listen '\/ip4\/1\.2\.3\/tcp\/1' is not a multiaddr/,
      ],
      [['init', '--home', home, '--moniker', 'line\nbreak'], /config\.toml: moniker: must have no control characters/],
      [['init', '--home', home, '--moniker', 'x'.repeat(65)], /moniker: must be at most 64 characters/],
      [['init', '--home', home, '--moniker', 'x', '--api-address', 'localhost'], /--api-address must be HOST:PORT/],
      [['keys', 'show'], /--home DIR is required/],
      [['keys', 'list', '--home', home], /unknown action 'list'/],
    ]
    for (const [argv, expected] of cases) {
      const { code, err } = await cli(...argv)
      assert.equal(code, ExitCode.usage, argv.join(' '))
      assert.match(err, expected, argv.join(' '))
    }
    assert.throws(() => statSync(home), /ENOENT/, 'nothing was created')
  })
})

describe('r3mes node with a config.toml', () => {
  let root: string
  let home: string
  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'r3mes-node-config-'))
    home = join(root, 'op')
    const { code, err } = await cli(
      ...['init', '--home', home, '--moniker', 'op', '--roles', 'miner,challenger'],
      ...['--listen', '/ip4/127.0.0.1/tcp/4001', '--listen', '/ip4/127.0.0.1/tcp/4002'],
    )
    assert.equal(code, ExitCode.ok, err)
  })
  afterEach(() => rmSync(root, { recursive: true, force: true }))

  /** Uncomment `key` in the home's config.toml with `value`. */
  function setConfig(key: string, value: string): void {
    const text = readFileSync(join(home, CONFIG_FILE), 'utf8')
    const line = new RegExp(`^# ${key} = .*$`, 'm')
    assert.match(text, line, key)
    writeFileSync(join(home, CONFIG_FILE), text.replace(line, `${key} = ${value}`))
  }

  function optionsFor(values: Record<string, string | boolean | string[]>) {
    const merged = valuesWithConfig(home, { home, ...values }, nodeCommand.options)
    return { merged, options: readAgainstConfig(merged, (v) => readNodeOptions(home, v)) }
  }

  it('takes the file as defaults: name, roles, listen; the genesis beside it', () => {
    const { options, merged } = optionsFor({})
    assert.equal(options.name, 'op')
    assert.deepEqual(options.roles, ['miner', 'challenger'])
    assert.deepEqual(options.listen, ['/ip4/127.0.0.1/tcp/4001', '/ip4/127.0.0.1/tcp/4002'])
    assert.equal(options.genesisFile, join(home, 'genesis.json'))
    assert.equal(options.backend, 'auto')
    assert.deepEqual(merged.fromFile, { name: 'moniker', listen: 'p2p.listen', role: 'node.roles' })
  })

  it('lets each flag on the command line win over the file, a list flag replacing the whole list', () => {
    setConfig('level', '"warn"')
    const { options, merged } = optionsFor({
      role: ['validator'],
      listen: ['/ip4/127.0.0.1/tcp/5000'],
      name: 'cli-name',
    })
    assert.deepEqual(options.roles, ['validator'])
    assert.deepEqual(options.listen, ['/ip4/127.0.0.1/tcp/5000'])
    assert.equal(options.name, 'cli-name')
    assert.equal(options.level, 'warn', 'keys not overridden still come from the file')
    assert.deepEqual(merged.fromFile, { 'log-level': 'log.level' })
  })

  it('takes the API address from the file, and --api-port on the command line over it', () => {
    setConfig('address', '"0.0.0.0:26657"')
    assert.deepEqual(optionsFor({}).options.api, { host: '0.0.0.0', port: 26657 })
    assert.deepEqual(optionsFor({ 'api-port': '8080' }).options.api, { host: '127.0.0.1', port: 8080 })
    assert.deepEqual(optionsFor({ 'api-address': '[::1]:9000' }).options.api, { host: '::1', port: 9000 })
  })

  it('reads relative file paths from the home, absolute ones as they are', () => {
    setConfig('genesis', '"chain/genesis.json"')
    setConfig('model', '"/srv/model"')
    const { options } = optionsFor({})
    assert.equal(options.genesisFile, join(home, 'chain', 'genesis.json'))
    assert.equal(options.modelDir, '/srv/model')
  })

  it('reports a value the node refuses against the file key that set it', () => {
    setConfig('backend', '"gpu"')
    assert.throws(
      () => optionsFor({}),
      (error: Error) =>
        error instanceof InvalidArgumentError &&
        error.message ===
          `${join(home, CONFIG_FILE)}: node.backend: --backend must be one of auto, ts, cpu, cuda, got 'gpu'`,
    )
    // The same value given as a flag is reported as the flag.
    assert.throws(() => optionsFor({ backend: 'gpu' }), /^InvalidArgumentError: --backend must be one of/)
  })

  it('checks the addresses in the file: a bootstrap peer without its peer id is refused against its key', () => {
    setConfig('bootstrap', '["/ip4/203.0.113.8/tcp/26656"]')
    assert.throws(
      () => optionsFor({}),
      /config\.toml: p2p\.bootstrap: --bootstrap '\/ip4\/203\.0\.113\.8\/tcp\/26656' must end in \/p2p\/<peer id>/,
    )
  })

  it('refuses a file key whose flag this node command does not have, naming the key', () => {
    setConfig('keep_blocks', '100')
    const known = { ...nodeCommand.options }
    delete known['keep-blocks']
    assert.throws(
      () => valuesWithConfig(home, { home }, known),
      /config\.toml: storage\.keep_blocks sets --keep-blocks, which this version of r3mes node does not have/,
    )
  })

  it('stops with the file, key and problem before starting anything when config.toml is wrong', async () => {
    writeFileSync(join(home, CONFIG_FILE), `${readFileSync(join(home, CONFIG_FILE), 'utf8')}\n[p2p2]\nlisten = []\n`)
    const { code, err } = await cli('node', '--home', home)
    assert.equal(code, ExitCode.usage)
    assert.match(err, /config\.toml: p2p2: unknown key at the top level \(did you mean 'p2p'\?\)/)
    assert.equal(readdirSync(home).sort().join(','), 'config.toml,keys,net', 'nothing written')
  })

  it('asks for the passphrase of an encrypted account key, and refuses one for a plaintext key', async () => {
    const passphraseFile = join(root, 'pass')
    writeFileSync(passphraseFile, 'pw\n')
    const plain = await cli('node', '--home', home, '--passphrase-file', passphraseFile)
    assert.equal(plain.code, ExitCode.usage)
    assert.match(plain.err, /--passphrase-file is given but .* has no encrypted account key/)

    const sealed = join(root, 'sealed')
    const init = await cli('init', '--home', sealed, '--moniker', 's', '--encrypt', '--passphrase-file', passphraseFile)
    assert.equal(init.code, ExitCode.ok, init.err)
    const missing = await cli('node', '--home', sealed)
    assert.equal(missing.code, ExitCode.usage)
    assert.match(missing.err, /is encrypted: give its passphrase with --passphrase-file FILE/)
    // r3mes tx opens the key before it contacts a node: no node answers at this address.
    const tx = ['tx', 'send', testKey('payee').address, '1', '--node', 'http://127.0.0.1:9']
    const txMissing = await cli(...tx, '--home', sealed)
    assert.match(txMissing.err, /is encrypted: give its passphrase with --passphrase-file FILE/)
    const txOpened = await cli(...tx, '--home', sealed, '--passphrase-file', passphraseFile)
    assert.notEqual(txOpened.code, ExitCode.ok)
    assert.doesNotMatch(txOpened.err, /passphrase|keystore/, 'the key opened; only the node is missing')
    writeFileSync(passphraseFile, 'not it\n')
    const txWrong = await cli(...tx, '--home', sealed, '--passphrase-file', passphraseFile)
    assert.match(txWrong.err, /wrong passphrase for the keystore/)
    const wrong = await cli('node', '--home', sealed, '--passphrase-file', passphraseFile)
    assert.equal(wrong.code, ExitCode.failure)
    assert.match(
      wrong.err,
      /wrong passphrase for the keystore .*account\.keystore\.json \(or its ciphertext was altered\) \(ERR_WRONG_PASSPHRASE\)/,
    )
  })
})
