/**
 * `r3mes tx` and `r3mes query` against a real node: `r3mes node` runs in-process (one
 * validator over real libp2p, its API on every interface through --api-address), and the
 * commands go through its public API as an operator's would. A new account is funded with
 * `tx send`, stakes, registers as a miner and unbonds from its own home; the validator
 * proposes a parameter change and votes on it; each refusal an operator can meet is shown
 * with a clear error: a wrong chain id (nothing signed), an unknown account, a fee below the
 * minimum, a node that cannot be reached, bad amounts, addresses and roles.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { installLibp2pIdentity, writeNodeKey } from '../../src/actors/identity.ts'
import { localNetworkGenesis, nodeSeed } from '../../src/actors/local-network.ts'
import { genesisToJson } from '../../src/chain/genesis.ts'
import { keyPairFromSeed, peerIdOfKey } from '../../src/chain/keys.ts'
import { ExitCode } from '../../src/cli/command.ts'
import { runCli } from '../../src/cli/main.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { saveBackbone } from '../../src/ml/artifacts.ts'
import { modelConfigs } from '../../src/ml/config.ts'
import { initStageWeights } from '../../src/ml/weights.ts'
import { ACCOUNT_KEY_FILE, CONSENSUS_KEY_FILE, writeKeySeed } from '../../src/operator/home.ts'
import { sleep } from '../../src/runtime/clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { cli } from '../helpers/cli.ts'

const CHAIN_ID = 'r3mes-txcli-test'
const clock = new SystemClock()

describe('r3mes tx and r3mes query against a real node', function () {
  this.timeout(90_000)
  let root = ''
  let api = ''
  let validatorHome = ''
  let validatorAddress = ''
  let bobHome = ''
  let bobAddress = ''
  const stop = new AbortController()
  let nodeRun: Promise<number> | undefined
  let nodeErr = ''

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'r3mes-txcli-'))
    const config = modelConfigs.micro as (typeof modelConfigs)['micro']
    const modelDir = join(root, 'model')
    saveBackbone(modelDir, initStageWeights(config, 0, config.nLayers, deriveKey('txcli', 'backbone')))
    const genesis = localNetworkGenesis({
      chainId: CHAIN_ID,
      seed: 'txcli',
      modelDir,
      subnets: [[0, config.nLayers]],
      nodes: [{ name: 'v', roles: ['validator'] }],
      genesisTimeMs: clock.nowMs(),
    })
    const genesisFile = join(root, 'genesis.json')
    await writeFile(genesisFile, JSON.stringify(genesisToJson(genesis)))
    validatorHome = join(root, 'v')
    const seed = nodeSeed(CHAIN_ID, 'txcli', 'v')
    writeNodeKey(validatorHome, seed)
    validatorAddress = keyPairFromSeed(seed).address
    // A new operator's home: an account key and a consensus key, no funds yet.
    bobHome = join(root, 'bob')
    const bobSeed = sha256('txcli bob account')
    writeKeySeed(join(bobHome, ACCOUNT_KEY_FILE), bobSeed)
    writeKeySeed(join(bobHome, CONSENSUS_KEY_FILE), sha256('txcli bob consensus'))
    await installLibp2pIdentity(join(bobHome, 'net'), sha256('txcli bob net'))
    bobAddress = keyPairFromSeed(bobSeed).address

    let out = ''
    nodeRun = runCli(
      [
        'node',
        '--home',
        validatorHome,
        '--genesis',
        genesisFile,
        '--role',
        'validator',
        '--model',
        modelDir,
        '--api-address',
        '0.0.0.0:0',
        '--log-level',
        'silent',
      ],
      {
        out: (t) => (out += `${t}\n`),
        err: (t) => (nodeErr += `${t}\n`),
        progress: { isTTY: false, write: () => {} },
        signal: stop.signal,
      },
    )
    for (let i = 0; i < 600 && out === ''; i++) await sleep(clock, 50)
    assert.notEqual(out, '', `the node printed no ready line: ${nodeErr}`)
    const ready = JSON.parse(out) as { api: string }
    assert.match(ready.api, /^http:\/\/0\.0\.0\.0:\d+$/, 'the API listens on every interface')
    api = ready.api.replace('0.0.0.0', '127.0.0.1')
  })

  after(async () => {
    stop.abort()
    if (nodeRun !== undefined) assert.equal(await nodeRun, ExitCode.ok, nodeErr)
    if (root !== '') await rm(root, { recursive: true, force: true })
  })

  const tx = (home: string, ...args: string[]) => cli('tx', ...args, '--node', api, '--home', home)
  const query = (...args: string[]) => cli('query', ...args, '--node', api)
  const account = async (address: string) =>
    JSON.parse((await query('account', address, '--json')).out) as { balance: string; nonce: number }

  it('refuses to sign for an account the chain does not know, and says how to get funded', async () => {
    const r = await tx(bobHome, 'stake', '1')
    assert.equal(r.code, ExitCode.failure)
    assert.match(r.err, new RegExp(`account ${bobAddress} does not exist on chain ${CHAIN_ID}`))
    assert.match(r.err, /r3mes tx send r3mes1\w+ AMOUNT/)
    assert.match(r.err, /\(ERR_UNKNOWN_ACCOUNT\)/)
  })

  it('moves real tokens with tx send, and query account shows them', async () => {
    const before = await account(validatorAddress)
    const r = await tx(validatorHome, 'send', bobAddress, '1100')
    assert.equal(r.code, ExitCode.ok, r.err)
    assert.match(r.out, /^txId: [0-9a-f]{64}\nheight: \d+\ncode: OK \(send 1100 to r3mes1/)
    const human = await query('account', bobAddress)
    assert.equal(human.code, ExitCode.ok, human.err)
    assert.match(human.out, /^balance: 1100000000$/m)
    assert.match(human.out, /^nonce: +0$/m)
    assert.equal((await account(validatorAddress)).nonce, before.nonce + 1, 'one transaction of the sender')

    const id = /txId: ([0-9a-f]{64})/.exec(r.out)?.[1] as string
    const landed = JSON.parse((await query('tx', id, '--json')).out) as { code: string; height: number }
    assert.equal(landed.code, 'OK')
    assert.ok(landed.height >= 1)
  })

  it('stakes, registers as a miner and unbonds from the new account, as the chain then shows', async () => {
    for (const args of [
      ['stake', '1050'],
      ['register', 'miner', '--subnet', '0'],
      ['unbond', '50', '--json'],
    ]) {
      const r = await tx(bobHome, ...args)
      assert.equal(r.code, ExitCode.ok, `${args.join(' ')}: ${r.err}`)
    }
    const staker = JSON.parse((await query('staker', bobAddress, '--json')).out) as {
      stake: string
      roles: string[]
      subnet: number
      consensusKey: string
      peerId: string
    }
    assert.deepEqual([staker.stake, staker.roles, staker.subnet], ['1000000000', ['miner'], 0])
    // The register named bob's own consensus key and libp2p identity, not its account key's.
    assert.equal(staker.consensusKey, toHex(keyPairFromSeed(sha256('txcli bob consensus')).publicKey))
    assert.equal(staker.peerId, peerIdOfKey(keyPairFromSeed(sha256('txcli bob net')).publicKey))
    const stakers = await query('stakers')
    assert.match(stakers.out, /^address +/)
    assert.match(stakers.out, new RegExp(`^${bobAddress} .*\\["miner"\\]`, 'm'))
    const unbonding = JSON.parse((await query('unbonding', bobAddress, '--json')).out) as { amount: string }[]
    assert.deepEqual(
      unbonding.map((u) => u.amount),
      ['50000000'],
    )
  })

  it('proposes a parameter change and votes on it', async () => {
    const p = await tx(validatorHome, 'propose', 'param', 'votingPeriodBlocks', '12')
    assert.equal(p.code, ExitCode.ok, p.err)
    const proposals = JSON.parse((await query('proposals', '--json')).out) as { id: string }[]
    assert.equal(proposals.length, 1)
    const id = (proposals[0] as { id: string }).id
    const v = await tx(validatorHome, 'vote', id, 'yes')
    assert.equal(v.code, ExitCode.ok, v.err)
    const proposal = JSON.parse((await query('proposal', id, '--json')).out) as {
      content: unknown
      votes: Record<string, string>
    }
    assert.deepEqual(proposal.content, { kind: 'params', changes: { votingPeriodBlocks: 12 } })
    assert.equal(proposal.votes[validatorAddress], 'yes')
  })

  it("shows the chain's refusal with its code: a fee below the minimum, a claim that does not exist", async () => {
    const nonce = (await account(validatorAddress)).nonce
    const fee = await tx(validatorHome, 'send', bobAddress, '1', '--fee', '1ur3mes')
    assert.equal(fee.code, ExitCode.failure)
    assert.match(fee.err, /the node refused the transaction \(send 1 to r3mes1\w+\): fee 1 is below 10000/)
    assert.match(fee.err, /the chain's minimum fee is 0\.01 R3MES; pass --fee 0\.01 or more \(ERR_FEE_TOO_LOW\)/)
    const challenge = await tx(validatorHome, 'challenge', 'no-such-claim')
    assert.equal(challenge.code, ExitCode.failure)
    assert.match(challenge.err, /\(ERR_UNKNOWN_CLAIM\)/)
    assert.equal((await account(validatorAddress)).nonce, nonce, 'nothing refused reached a block')
  })

  it('refuses a node on another chain before signing anything', async () => {
    const nonce = (await account(validatorAddress)).nonce
    const r = await tx(validatorHome, 'send', bobAddress, '1', '--chain-id', 'r3mes-other')
    assert.equal(r.code, ExitCode.failure)
    assert.match(r.err, new RegExp(`runs chain '${CHAIN_ID}', not 'r3mes-other' \\(--chain-id\\): nothing was signed`))
    assert.equal((await account(validatorAddress)).nonce, nonce)
  })

  it('returns at once with --no-wait; query tx finds the transaction once a block holds it', async () => {
    const r = await tx(validatorHome, 'send', bobAddress, '0.5', '--no-wait', '--json')
    assert.equal(r.code, ExitCode.ok, r.err)
    const sent = JSON.parse(r.out) as { txId: string; code: string; height: null }
    assert.deepEqual([sent.code, sent.height], ['OK', null])
    let found: { code: number; out: string } = { code: -1, out: '' }
    for (let i = 0; i < 100 && found.code !== ExitCode.ok; i++) {
      found = await query('tx', sent.txId)
      if (found.code !== ExitCode.ok) await sleep(clock, 100)
    }
    assert.match(found.out, /^code: +OK$/m)
  })

  it('names a node it cannot reach', async () => {
    // A port that was free a moment ago: nothing listens there.
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    await new Promise<void>((resolve) => server.close(() => resolve()))
    const dead = `http://127.0.0.1:${port}`
    const r = await cli('tx', 'send', bobAddress, '1', '--node', dead, '--home', validatorHome)
    assert.equal(r.code, ExitCode.failure)
    assert.ok(
      r.err.includes(`cannot reach the node at ${dead}: connect ECONNREFUSED`) &&
        r.err.includes('(ERR_NODE_UNREACHABLE)'),
      r.err,
    )
    const q = await cli('query', 'height', '--node', dead)
    assert.ok(q.err.includes(`cannot reach the node at ${dead}`), q.err)
    const bad = await cli('query', 'height', '--node', 'ftp://x')
    assert.equal(bad.code, ExitCode.usage)
    assert.match(bad.err, /--node must be an http:\/\/ or https:\/\/ URL/)
  })

  it('refuses bad amounts, addresses, roles and actions with a usage error naming them', async () => {
    const cases: [string[], RegExp][] = [
      [['send', bobAddress, '1.1234567'], /the amount to send must be an amount of R3MES .* got '1\.1234567'/],
      [['send', bobAddress, 'lots'], /the amount to send must be .* got 'lots'/],
      [['stake', '0'], /the amount to stake must be more than 0/],
      [['send', 'r3mes1nothing', '1'], /the recipient must be an account address .* got 'r3mes1nothing'/],
      [['register', 'miner,king'], /each role must be one of validator, miner, verifier, arbiter, got 'king'/],
      [['register', 'miner'], /a miner registers for one subnet: add --subnet K/],
      [['propose', 'param', 'noSuchParam', '1'], /'noSuchParam' is not a chain parameter/],
      [['propose', 'param', 'votingPeriodBlocks', 'soon'], /parameter votingPeriodBlocks: must be an integer/],
      [['vote', 'p-0', 'maybe'], /the vote must be one of yes, no, abstain, got 'maybe'/],
      [['mint', '1'], /the action \(r3mes tx <action>\) must be one of send, stake, unbond/],
      [['send', bobAddress, '1', '--fee=-1'], /--fee must be an amount/],
    ]
    for (const [args, message] of cases) {
      const r = await tx(validatorHome, ...args)
      assert.equal(r.code, ExitCode.usage, args.join(' '))
      assert.match(r.err, message, args.join(' '))
    }
  })

  it('answers queries as tables or lines, and names unknown queries and missing entries', async () => {
    const validators = await query('validators')
    assert.equal(validators.code, ExitCode.ok, validators.err)
    assert.match(validators.out, /^address +power\b/m)
    assert.match(validators.out, new RegExp(`^${validatorAddress} `, 'm'))
    const params = JSON.parse((await query('params', '--json')).out) as { minFee: string }
    assert.equal(params.minFee, '10000')
    const height = await query('height')
    assert.ok(Number(height.out) >= 5, height.out)

    const unknown = await query('balance', validatorAddress)
    assert.equal(unknown.code, ExitCode.usage)
    assert.match(unknown.err, /unknown query 'balance'; known queries: account, validators, stakers, staker, window/)
    const missing = await query('proposal', 'p-99')
    assert.equal(missing.code, ExitCode.failure)
    assert.match(missing.err, /the chain has no proposal\/p-99 \(ERR_NOT_FOUND\)/)
    const noTx = await query('tx', '0'.repeat(64))
    assert.match(noTx.err, /no recent transaction 0{64}/)
    const badWindow = await query('claims', 'latest')
    assert.equal(badWindow.code, ExitCode.usage)
    assert.match(badWindow.err, /<window> must be a window id/)
  })
})
