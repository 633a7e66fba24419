/**
 * The whole genesis ceremony through the CLI, as three operators run it from their own homes:
 * the coordinator writes the draft and funds the accounts, each operator signs a gentx
 * against its copy of the draft, the coordinator collects them, everyone validates.
 */
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { installLibp2pIdentity } from '../../../src/actors/identity.ts'
import { parseGenesis } from '../../../src/chain/genesis.ts'
import { type KeyPair, keyPairFromSeed, peerIdOfKey } from '../../../src/chain/keys.ts'
import { UNITS_PER_TOKEN } from '../../../src/chain/params.ts'
import { ExitCode } from '../../../src/cli/command.ts'
import { toHex } from '../../../src/codec/bytes.ts'
import { sha256 } from '../../../src/codec/hash.ts'
import { ACCOUNT_KEY_FILE, CONSENSUS_KEY_FILE, writeKeySeed } from '../../../src/operator/home.ts'
import { cli } from '../../helpers/cli.ts'

interface Home {
  readonly name: string
  readonly dir: string
  readonly account: KeyPair
  readonly consensus: KeyPair
  readonly peer: KeyPair
}

/** A home as `r3mes init` lays it out: three separate keys. */
async function makeHome(root: string, name: string): Promise<Home> {
  const dir = join(root, name)
  const seed = (kind: string) => sha256(`ceremony-cli-test\0${name}\0${kind}`)
  writeKeySeed(join(dir, ACCOUNT_KEY_FILE), seed('account'))
  writeKeySeed(join(dir, CONSENSUS_KEY_FILE), seed('consensus'))
  await installLibp2pIdentity(join(dir, 'net'), seed('peer'))
  writeFileSync(join(dir, 'config.toml'), `moniker = "${name}"\n`)
  return {
    name,
    dir,
    account: keyPairFromSeed(seed('account')),
    consensus: keyPairFromSeed(seed('consensus')),
    peer: keyPairFromSeed(seed('peer')),
  }
}

async function ok(...argv: string[]): Promise<string> {
  const r = await cli(...argv)
  assert.equal(r.code, ExitCode.ok, `r3mes ${argv.join(' ')}\n${r.err}`)
  return r.out
}

const TOKENS = UNITS_PER_TOKEN

describe('r3mes genesis: the ceremony for three operators', function () {
  this.timeout(120_000)
  let root: string
  let alice: Home
  let bob: Home
  let carol: Home

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'r3mes-ceremony-'))
    alice = await makeHome(root, 'alice')
    bob = await makeHome(root, 'bob')
    carol = await makeHome(root, 'carol')
  })
  after(() => rmSync(root, { recursive: true, force: true }))

  const genesisOf = (h: Home) => join(h.dir, 'genesis.json')

  it('init, add-account, gentx, collect and validate give the genesis every operator signed', async () => {
    await ok(
      'genesis',
      'init',
      '--home',
      alice.dir,
      '--chain-id',
      'open-net',
      '--config',
      'tiny',
      '--subnets',
      '0:4,4:8',
      '--preset',
      'localTestnet',
      '--param',
      'windowBlocks=24',
      '--genesis-time',
      '2026-12-05T00:00:00Z',
    )
    for (const h of [alice, bob, carol])
      await ok('genesis', 'add-account', '--home', alice.dir, h.account.address, '100000')
    // The coordinator sends the draft; each operator signs against its own copy.
    for (const h of [bob, carol]) copyFileSync(genesisOf(alice), genesisOf(h))
    await ok('genesis', 'gentx', '--home', alice.dir, '--stake', '20000', '--roles', 'validator')
    await ok('genesis', 'gentx', '--home', bob.dir, '--stake', '20000', '--roles', 'validator,verifier')
    const out = await ok(
      'genesis',
      'gentx',
      '--home',
      carol.dir,
      '--stake',
      '2000.5',
      '--roles',
      'miner',
      '--subnet',
      '1',
    )
    assert.match(out, /gentx of carol .* for chain open-net written to/)
    // Each operator sends its gentx file to the coordinator.
    for (const h of [bob, carol])
      for (const f of readdirSync(join(h.dir, 'gentx')))
        copyFileSync(join(h.dir, 'gentx', f), join(alice.dir, 'gentx', f))
    assert.match(
      await ok('genesis', 'collect', '--home', alice.dir),
      /3 gentxs collected.*\n3 stakers, 2 validators with 40000 voting power/,
    )
    for (const h of [bob, carol]) copyFileSync(genesisOf(alice), genesisOf(h))
    for (const h of [alice, bob, carol])
      assert.match(
        await ok('genesis', 'validate', '--home', h.dir),
        /a valid genesis for chain open-net: 2 validators, 3 stakers, 3 accounts/,
      )

    const g = parseGenesis(JSON.parse(readFileSync(genesisOf(alice), 'utf8')))
    assert.equal(g.chainId, 'open-net')
    assert.equal(g.genesisTimeMs, Date.parse('2026-12-05T00:00:00Z'))
    assert.equal(g.params.windowBlocks, 24)
    assert.deepEqual(
      g.subnets.map((s) => s.layers),
      [
        [0, 4],
        [4, 8],
      ],
    )
    const bySigner = new Map(g.stakers.map((s) => [s.pubKey, s]))
    const expect: [Home, bigint, string[], number | null][] = [
      [alice, 20_000n * TOKENS, ['validator'], null],
      [bob, 20_000n * TOKENS, ['validator', 'verifier'], null],
      [carol, 2_000_500_000n, ['miner'], 1],
    ]
    for (const [h, stake, roles, subnet] of expect) {
      const s = bySigner.get(toHex(h.account.publicKey))
      assert.ok(s, `${h.name} stakes`)
      assert.equal(s.consensusKey, toHex(h.consensus.publicKey), `${h.name}'s consensus key`)
      assert.equal(s.peerId, peerIdOfKey(h.peer.publicKey), `${h.name}'s peer id`)
      assert.notEqual(s.consensusKey, s.pubKey)
      assert.equal(s.stake, stake)
      assert.deepEqual(s.roles, roles)
      assert.equal(s.subnet, subnet)
      assert.equal(g.accounts.find((a) => a.address === h.account.address)?.balance, 100_000n * TOKENS - stake)
    }
  })

  it('refuses bad input with a message naming it, and leaves the files as they were', async () => {
    const before = readFileSync(genesisOf(alice), 'utf8')
    const refused = async (pattern: RegExp, ...argv: string[]) => {
      const r = await cli(...argv)
      assert.notEqual(r.code, ExitCode.ok, argv.join(' '))
      assert.match(r.err, pattern, argv.join(' '))
      assert.equal(readFileSync(genesisOf(alice), 'utf8'), before, `${argv.join(' ')} left genesis.json alone`)
    }
    await refused(/already exists: remove it/, 'genesis', 'init', '--home', alice.dir, '--chain-id', 'again')
    await refused(/--chain-id is required/, 'genesis', 'init', '--home', join(root, 'fresh'))
    await refused(
      /--subnets must cover the model's 8 layers/,
      'genesis',
      'init',
      '--home',
      join(root, 'fresh'),
      '--chain-id',
      'x',
      '--subnets',
      '0:4',
    )
    await refused(
      /--param windowBlock=3: expected NAME=VALUE/,
      'genesis',
      'init',
      '--home',
      join(root, 'fresh'),
      '--chain-id',
      'x',
      '--param',
      'windowBlock=3',
    )
    await refused(/gentxs collected already/, 'genesis', 'add-account', '--home', alice.dir, bob.account.address, '1')
    await refused(/needs 2 arguments/, 'genesis', 'add-account', '--home', alice.dir, bob.account.address)
    await refused(
      /already exists: remove it to sign a new gentx/,
      'genesis',
      'gentx',
      '--home',
      bob.dir,
      '--stake',
      '20000',
      '--roles',
      'validator',
    )
    await refused(
      /--roles must be one of validator, miner, verifier, arbiter, got 'minor'/,
      'genesis',
      'gentx',
      '--home',
      bob.dir,
      '--stake',
      '1',
      '--roles',
      'minor',
    )
    await refused(/this account already stakes/, 'genesis', 'collect', '--home', alice.dir)
    await refused(/needs an action: pretrain, init/, 'genesis', 'bake')
  })

  it('gentx refuses a stake above the balance before writing anything', async () => {
    const dave = await makeHome(root, 'dave')
    await ok(
      'genesis',
      'init',
      '--home',
      dave.dir,
      '--chain-id',
      'dave-net',
      '--subnets',
      '0:4,4:8',
      '--preset',
      'localTestnet',
    )
    await ok('genesis', 'add-account', '--home', dave.dir, dave.account.address, '15000')
    const r = await cli('genesis', 'gentx', '--home', dave.dir, '--stake', '20000', '--roles', 'validator')
    assert.equal(r.code, ExitCode.failure)
    assert.match(r.err, /it stakes 20000000000 but the account holds 15000000000/)
    assert.throws(() => readdirSync(join(dave.dir, 'gentx')), /ENOENT/)
    const dup = await cli('genesis', 'add-account', '--home', dave.dir, dave.account.address, '1')
    assert.match(dup.err, /already in the genesis .* added once/)
  })

  it('collect refuses a tampered gentx file, and validate names a tampered genesis', async () => {
    const erin = await makeHome(root, 'erin')
    await ok('genesis', 'init', '--home', erin.dir, '--chain-id', 'erin-net', '--preset', 'localTestnet')
    await ok('genesis', 'add-account', '--home', erin.dir, erin.account.address, '50000')
    await ok('genesis', 'gentx', '--home', erin.dir, '--stake', '20000', '--roles', 'validator')
    const [file] = readdirSync(join(erin.dir, 'gentx'))
    const path = join(erin.dir, 'gentx', file as string)
    const good = readFileSync(path, 'utf8')
    writeFileSync(path, good.replace('"stake":"20000000000"', '"stake":"30000000000"'))
    const draft = readFileSync(genesisOf(erin), 'utf8')
    const r = await cli('genesis', 'collect', '--home', erin.dir)
    assert.equal(r.code, ExitCode.failure)
    assert.match(r.err, /the gentx of 'erin' \(r3mes1\S+\): the account key's signature does not verify \(ERR_GENTX\)/)
    assert.equal(readFileSync(genesisOf(erin), 'utf8'), draft)

    writeFileSync(path, good)
    await ok('genesis', 'collect', '--home', erin.dir)
    const final = JSON.parse(readFileSync(genesisOf(erin), 'utf8'))
    final.stakers[0].consensusKey = toHex(alice.consensus.publicKey)
    const tampered = join(root, 'tampered.json')
    writeFileSync(tampered, JSON.stringify(final))
    const v = await cli('genesis', 'validate', tampered)
    assert.equal(v.code, ExitCode.dataError)
    assert.match(v.err, /1 problem\n {2}- stakers\[0\] \(r3mes1\S+\): consensusKey differ from what its gentx signed/)
    const json = await cli('genesis', 'validate', tampered, '--json')
    assert.equal(JSON.parse(json.out).valid, false)
    mkdirSync(join(root, 'empty'))
    assert.match((await cli('genesis', 'validate', '--home', join(root, 'empty'))).err, /cannot read the genesis file/)
  })
})
