import assert from 'node:assert/strict'
import { ChainApp } from '../../src/chain/app.ts'
import { GenesisError } from '../../src/chain/errors.ts'
import { encodeEvidence, signEvidenceVote } from '../../src/chain/evidence.ts'
import { localTestnetGenesis, parseGenesis } from '../../src/chain/genesis.ts'
import { addressOf, isAddress, type KeyPair, testKey } from '../../src/chain/keys.ts'
import { defaultParams, localTestnetParams, paramsToJson, UNITS_PER_TOKEN } from '../../src/chain/params.ts'
import type { Window } from '../../src/chain/state.ts'
import { decodeTx, encodeTx } from '../../src/chain/tx.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { TxRejectedError } from '../../src/consensus/errors.ts'
import { Mempool } from '../../src/consensus/mempool.ts'
import { AssertionFailure } from '../../src/runtime/assert.ts'
import { MAX_PENDING_TXS_PER_SENDER } from '../../src/runtime/limits.ts'
import { cid, Harness, keys, R3 } from './harness.ts'

const validators = keys('val', 4)
const miners = [keys('miner0', 2), keys('miner1', 2)]
const [alice, bob] = keys('user', 2) as [KeyPair, KeyPair]

function net(params: Record<string, unknown> = {}): Harness {
  return new Harness({ validators, miners, funded: [alice, bob], params, twin: true })
}

/** Genesis as a JSON document, the way a file would hold it. */
function genesisJson(): Record<string, unknown> {
  const g = localTestnetGenesis({ validators, miners })
  return JSON.parse(
    JSON.stringify({ ...g, params: paramsToJson(g.params) }, (_, v) => (typeof v === 'bigint' ? v.toString() : v)),
  ) as Record<string, unknown>
}

describe('chain/accounts: addresses, encoding, transfers and fees', () => {
  it('derives r3mes1… bech32 addresses from ed25519 keys', () => {
    const k = testKey('addr')
    assert.match(k.address, /^r3mes1[02-9ac-hj-np-z]{38}$/)
    assert.equal(k.address, addressOf(k.publicKey))
    assert.ok(isAddress(k.address))
    assert.ok(!isAddress(k.address.toUpperCase()))
    assert.ok(!isAddress(`${k.address.slice(0, -1)}q`), 'checksum')
    assert.ok(!isAddress('cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq'))
    assert.ok(!isAddress(''))
    assert.ok(!isAddress(`r3mes${k.address}`), 'another prefix that starts the same')
  })

  it('encodes one transaction one way, and signs it for one chain', () => {
    const body = { chainId: 'c', nonce: 0, fee: 1n, msg: { type: 'transfer' as const, to: bob.address, amount: 7n } }
    const bytes = encodeTx(body, alice)
    assert.deepEqual(encodeTx(body, alice), bytes, 'deterministic')
    const tx = decodeTx(bytes, 2048)
    assert.equal(tx.sender, alice.address)
    assert.deepEqual(tx.body, body)
    assert.ok(bytes.length < 400)
  })

  it('transfers move tokens, fees go to the proposer, nonces advance; supply moves only by inflation', () => {
    const h = net({ inflationBps: 0 })
    const a0 = h.balance(alice.address)
    const b0 = h.balance(bob.address)
    const p0 = h.balance(h.proposer)
    const fee = 3n * h.params.minFee
    const r = h.block([
      h.tx(alice, { type: 'transfer', to: bob.address, amount: 250n * R3 }, { fee }),
      h.tx(alice, { type: 'transfer', to: bob.address, amount: 1n }),
    ])
    assert.deepEqual(
      r.map((x) => x.code),
      ['OK', 'OK'],
    )
    assert.equal(h.balance(alice.address), a0 - 250n * R3 - 1n - fee - h.params.minFee)
    assert.equal(h.balance(bob.address), b0 + 250n * R3 + 1n)
    assert.equal(h.balance(h.proposer), p0 + fee + h.params.minFee)
    assert.equal(h.app.state.account(alice.address).nonce, 2)
    assert.equal(h.app.state.globals.minted, 0n)
    const fresh = testKey('fresh')
    h.ok(alice, { type: 'transfer', to: fresh.address, amount: 5n * R3 })
    h.ok(fresh, { type: 'transfer', to: alice.address, amount: 1n })
  })

  it('mints validator inflation by stake every block, and only that', () => {
    const h = net({ inflationBps: 1000 })
    h.run(5)
    const m = h.app.state.globals
    assert.ok(m.minted > 0n)
    assert.equal(m.supply, m.genesisSupply + m.minted)
    const perBlock = (m.genesisSupply * 1000n) / 10_000n / (31_536_000_000n / BigInt(h.params.blockTimeMs))
    assert.ok(m.minted <= 5n * perBlock + (5n * perBlock) / 100n && m.minted >= 5n * perBlock - 100n)
  })
})

describe('chain/genesis: parameters, presets and validation', () => {
  it('defaults to the seed’s numbers, with a faster local testnet preset', () => {
    assert.equal(defaultParams.blockTimeMs, 5000)
    assert.equal(defaultParams.windowBlocks, 100)
    assert.equal(defaultParams.bondMultiple, 10)
    assert.equal(defaultParams.baseReward * BigInt(defaultParams.bondMultiple), 5000n * UNITS_PER_TOKEN)
    assert.equal(defaultParams.l2DeadlineBlocks, 5)
    assert.equal(defaultParams.l3DeadlineBlocks, 50)
    assert.ok(defaultParams.bountyMultiple >= 10 && defaultParams.bountyMultiple <= 20)
    assert.ok(localTestnetParams.windowBlocks < defaultParams.windowBlocks)
    assert.ok(localTestnetParams.blockTimeMs < defaultParams.blockTimeMs)
  })

  it('parses a JSON genesis and starts the same chain', () => {
    const g = parseGenesis(genesisJson())
    assert.equal(g.params.windowBlocks, localTestnetParams.windowBlocks)
    const a = new ChainApp(g)
    const b = new ChainApp(localTestnetGenesis({ validators, miners }))
    assert.equal(toHex(a.appHash()), toHex(b.appHash()))
    assert.equal((a.query('validators') as unknown[]).length, 4)
  })

  it('refuses bad genesis files with an error that names the field', () => {
    const cases: [string, (string | number)[], unknown][] = [
      ['chainId', ['chainId'], 'Bad Chain'],
      ['params.windowBlocks', ['params', 'windowBlocks'], 0],
      ['params.baseReward', ['params', 'baseReward'], 5],
      ['params.warpSpeed', ['params', 'warpSpeed'], 1],
      ['accounts[0].address', ['accounts', 0, 'address'], 'x'],
      ['accounts[1].balance', ['accounts', 1, 'balance'], -1],
      ['stakers[0].stake', ['stakers', 0, 'stake'], '1'],
      ['stakers[0].roles', ['stakers', 0, 'roles'], ['king']],
      // More voting power (whole tokens) than the consensus set accepts.
      ['stakers', ['stakers', 0, 'stake'], `${2n ** 41n * UNITS_PER_TOKEN}`],
      ['subnets[1].layers', ['subnets', 1, 'layers'], [5, 8]],
      ['model.backbone[0].cid', ['model', 'backbone', 0, 'cid'], 'Qm?'],
      ['datasets[0].shardCount', ['datasets', 0, 'shardCount'], 0],
      ['preset', ['preset'], 'fast'],
    ]
    for (const [field, path, value] of cases) {
      const g = genesisJson()
      let at = g as Record<string | number, unknown>
      for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>
      at[path[path.length - 1] as string | number] = value
      assert.throws(
        () => parseGenesis(g),
        (e: unknown) => e instanceof GenesisError && e.field === field && e.message.includes(field),
        field,
      )
    }
  })
})

describe('chain/staking: stake, roles, unbonding', () => {
  it('stakes, registers roles with enough stake, and returns unstaked tokens after the delay', () => {
    const h = net()
    const min = h.params.minStakeVerifier
    h.ok(alice, { type: 'stake', amount: min - 1n })
    assert.equal(h.one(alice, { type: 'register', roles: ['verifier'], subnet: null }).code, 'ERR_INSUFFICIENT_STAKE')
    h.ok(alice, { type: 'stake', amount: 1n })
    h.ok(alice, { type: 'register', roles: ['arbiter', 'verifier'], subnet: 1 })
    assert.deepEqual((h.app.query(`staker/${alice.address}`) as { roles: string[] }).roles, ['arbiter', 'verifier'])
    assert.equal(
      h.one(alice, { type: 'unstake', amount: 1n }).code,
      'ERR_INSUFFICIENT_STAKE',
      'roles must stay covered',
    )
    const before = h.balance(alice.address)
    h.ok(alice, { type: 'unstake', amount: min })
    assert.deepEqual((h.app.query(`staker/${alice.address}`) as { roles: string[] }).roles, [], 'leaving drops roles')
    const [entry] = h.app.query(`unbonding/${alice.address}`) as { releaseHeight: number; amount: string }[]
    assert.equal(entry?.amount, `${min}`)
    h.runTo((entry?.releaseHeight ?? 0) - 1)
    assert.equal(h.balance(alice.address), before - h.params.minFee)
    h.block()
    assert.equal(h.balance(alice.address), before - h.params.minFee + min)
  })

  it('a new miner registered mid-window receives tasks from the next window', () => {
    const h = net({ replication: 3 })
    h.block()
    h.ok(alice, { type: 'stake', amount: h.params.minStakeMiner })
    h.ok(alice, { type: 'register', roles: ['miner'], subnet: 0 })
    assert.equal((h.app.query(`tasks/0/${alice.address}`) as unknown[]).length, 0)
    h.runTo(h.params.windowBlocks + 1)
    const mine = h.app.query(`tasks/1/${alice.address}`) as { subnet: number; miners: string[] }[]
    const subnet0 = (h.app.query('tasks/1') as { subnet: number }[]).filter((t) => t.subnet === 0)
    assert.ok(subnet0.length > 0)
    assert.equal(mine.length, subnet0.length, 'with 3 miners and replication 3, every task of its subnet')
    assert.ok(mine.every((t) => t.subnet === 0 && t.miners.length === 3))
  })
})

describe('chain/evidence: equivocation slashes once', () => {
  it('slashes and jails a validator that signed two votes at one height, once', () => {
    const h = net()
    h.run(3)
    const v = validators[2] as KeyPair
    const evidence = encodeEvidence({
      validator: v.address,
      height: 2,
      round: 0,
      voteA: signEvidenceVote(v, h.genesis.chainId, 2, 0, { type: 'prevote', blockHash: toHex(sha256('vote-a')) }),
      voteB: signEvidenceVote(v, h.genesis.chainId, 2, 0, { type: 'prevote', blockHash: toHex(sha256('vote-b')) }),
    })
    const stake0 = h.stake(v.address)
    const outcome = h.app.executeBlock({
      height: h.height + 1,
      timeMs: 0,
      proposer: h.proposer,
      hash: h.blockHash(h.height + 1),
      beacon: h.beacon(h.height + 1),
      txs: [],
      evidence: [evidence],
    })
    if (h.twin !== undefined)
      h.twin.executeBlock({
        height: h.twin.height + 1,
        timeMs: 0,
        proposer: h.proposer,
        hash: h.blockHash(h.twin.height + 1),
        beacon: h.beacon(h.twin.height + 1),
        txs: [],
        evidence: [evidence],
      })
    assert.deepEqual(
      outcome.validatorUpdates.filter((u) => u.address === v.address).map((u) => u.power),
      [0n],
      'the consensus engine is told the validator left',
    )
    assert.equal(h.stake(v.address), stake0 - (stake0 * BigInt(h.params.equivocationSlashBps)) / 10_000n)
    const s = h.app.query(`staker/${v.address}`) as { jailed: boolean; roles: string[] }
    assert.ok(s.jailed && !s.roles.includes('validator'))
    assert.equal((h.app.query('validators') as unknown[]).length, 3)
    const after = h.stake(v.address)
    h.block([], [evidence])
    assert.equal(h.stake(v.address), after, 'slashed once')
    assert.equal((h.app.query('evidence/last') as { code: string }[])[0]?.code, 'ERR_DUPLICATE')
    // Forged: the second signature is not the validator's.
    const w = validators[3] as KeyPair
    const forged = encodeEvidence({
      validator: w.address,
      height: 3,
      round: 0,
      voteA: signEvidenceVote(w, h.genesis.chainId, 3, 0, { type: 'prevote', blockHash: toHex(sha256('x')) }),
      voteB: signEvidenceVote(alice, h.genesis.chainId, 3, 0, { type: 'prevote', blockHash: toHex(sha256('y')) }),
    })
    h.block([], [forged])
    assert.equal((h.app.query('evidence/last') as { code: string }[])[0]?.code, 'ERR_BAD_EVIDENCE')
    // A validator that unstaked everything is still slashed, from its unbonding tokens.
    const u = validators[3] as KeyPair
    h.ok(u, { type: 'unstake', amount: h.stake(u.address) })
    const unbonding = (): bigint =>
      BigInt((h.app.query(`unbonding/${u.address}`) as { amount: string }[])[0]?.amount ?? '0')
    const before = unbonding()
    h.block(
      [],
      [
        encodeEvidence({
          validator: u.address,
          height: h.height,
          round: 1,
          voteA: signEvidenceVote(u, h.genesis.chainId, h.height, 1, {
            type: 'prevote',
            blockHash: toHex(sha256('p')),
          }),
          voteB: signEvidenceVote(u, h.genesis.chainId, h.height, 1, {
            type: 'prevote',
            blockHash: toHex(sha256('q')),
          }),
        }),
      ],
    )
    assert.equal(unbonding(), before - (before * BigInt(h.params.equivocationSlashBps)) / 10_000n)
    const notValidator = miners[0]?.[0] as KeyPair
    h.block(
      [],
      [
        encodeEvidence({
          validator: notValidator.address,
          height: h.height,
          round: 0,
          voteA: signEvidenceVote(notValidator, h.genesis.chainId, h.height, 0, {
            type: 'prevote',
            blockHash: toHex(sha256('m')),
          }),
          voteB: signEvidenceVote(notValidator, h.genesis.chainId, h.height, 0, {
            type: 'prevote',
            blockHash: toHex(sha256('n')),
          }),
        }),
      ],
    )
    assert.equal((h.app.query('evidence/last') as { code: string }[])[0]?.code, 'ERR_BAD_EVIDENCE')
    h.block([], [new TextEncoder().encode('junk')])
    assert.equal((h.app.query('evidence/last') as { code: string }[])[0]?.code, 'ERR_BAD_EVIDENCE')
  })
})

describe('chain/evidence: only real conflicting votes count', () => {
  it('refuses a prevote and a precommit of one round, or two votes for one value, and leaves stake alone', () => {
    const h = net()
    h.run(3)
    const v = validators[1] as KeyPair
    const stake = h.stake(v.address)
    const hashA = toHex(sha256('block-a'))
    const hashB = toHex(sha256('block-b'))
    const cases = [
      // Both signed honestly in one round: a prevote and a precommit are not an equivocation.
      [
        signEvidenceVote(v, h.genesis.chainId, 2, 0, { type: 'prevote', blockHash: hashA }),
        signEvidenceVote(v, h.genesis.chainId, 2, 0, { type: 'precommit', blockHash: hashA }),
      ],
      // The same vote twice.
      [
        signEvidenceVote(v, h.genesis.chainId, 2, 0, { type: 'prevote', blockHash: hashA }),
        signEvidenceVote(v, h.genesis.chainId, 2, 0, { type: 'prevote', blockHash: hashA }),
      ],
      // Signed for another round than the evidence claims.
      [
        signEvidenceVote(v, h.genesis.chainId, 2, 1, { type: 'prevote', blockHash: hashA }),
        signEvidenceVote(v, h.genesis.chainId, 2, 1, { type: 'prevote', blockHash: hashB }),
      ],
    ] as const
    for (const [voteA, voteB] of cases) {
      h.block([], [encodeEvidence({ validator: v.address, height: 2, round: 0, voteA, voteB })])
      assert.equal((h.app.query('evidence/last') as { code: string }[])[0]?.code, 'ERR_BAD_EVIDENCE')
    }
    assert.equal(h.stake(v.address), stake)
    // A nil prevote and a prevote for a block in the same round is an equivocation.
    const nil = signEvidenceVote(v, h.genesis.chainId, 2, 0, { type: 'prevote', blockHash: null })
    const forA = signEvidenceVote(v, h.genesis.chainId, 2, 0, { type: 'prevote', blockHash: hashA })
    h.block([], [encodeEvidence({ validator: v.address, height: 2, round: 0, voteA: nil, voteB: forA })])
    assert.equal((h.app.query('evidence/last') as { code: string }[])[0]?.code, 'OK')
    assert.ok(h.stake(v.address) < stake)
  })
})

describe('chain/governance: data sets and parameters by stake-weighted vote', () => {
  it('approves a data set and changes a parameter when stake votes yes before the deadline', () => {
    const h = net()
    const ds = cid('ds-new')
    h.ok(alice, { type: 'propose', content: { kind: 'dataset', cid: ds, name: 'new', shardCount: 16 } })
    h.ok(alice, {
      type: 'propose',
      content: { kind: 'params', changes: { bountyMultiple: 20, baseReward: '600000000' } },
    })
    h.ok(bob, { type: 'propose', content: { kind: 'params', changes: { windowBlocks: 12 } } })
    const [v0, v1, v2, v3] = validators as [KeyPair, KeyPair, KeyPair, KeyPair]
    h.block([
      h.tx(v0, { type: 'vote', proposalId: 'p-0', option: 'yes' }),
      h.tx(v1, { type: 'vote', proposalId: 'p-0', option: 'yes' }),
      h.tx(v2, { type: 'vote', proposalId: 'p-0', option: 'no' }),
      h.tx(v0, { type: 'vote', proposalId: 'p-1', option: 'yes' }),
      h.tx(v1, { type: 'vote', proposalId: 'p-1', option: 'yes' }),
      h.tx(v3, { type: 'vote', proposalId: 'p-1', option: 'abstain' }),
      h.tx(v0, { type: 'vote', proposalId: 'p-2', option: 'no' }),
      h.tx(v1, { type: 'vote', proposalId: 'p-2', option: 'no' }),
      h.tx(v2, { type: 'vote', proposalId: 'p-2', option: 'yes' }),
    ])
    const end = (h.app.query('proposal/p-0') as { votingEnd: number }).votingEnd
    h.runTo(end - 1)
    assert.equal((h.app.query('proposal/p-0') as { status: string }).status, 'voting')
    h.runTo(end + 2)
    assert.equal(h.one(v3, { type: 'vote', proposalId: 'p-0', option: 'no' }).code, 'ERR_VOTING_CLOSED')
    assert.equal((h.app.query('proposal/p-0') as { status: string }).status, 'passed')
    assert.equal((h.app.query('proposal/p-1') as { status: string }).status, 'passed')
    assert.equal((h.app.query('proposal/p-2') as { status: string }).status, 'rejected')
    assert.ok((h.app.query('datasets') as { cid: string }[]).some((d) => d.cid === ds))
    assert.equal(h.params.bountyMultiple, 20)
    assert.equal(h.params.baseReward, 600n * R3)
    assert.equal(h.params.windowBlocks, localTestnetParams.windowBlocks)
  })

  it('a change of the training parameters applies from the next window that opens; each window keeps those it opened with', () => {
    const h = net()
    h.run(1)
    const opened = (h.app.query('window') as Window).training
    assert.deepEqual(opened, {
      innerSteps: localTestnetParams.innerSteps,
      microBatches: localTestnetParams.microBatches,
      stepSequences: localTestnetParams.stepSequences,
      sequenceTokens: localTestnetParams.sequenceTokens,
      innerLrPpm: localTestnetParams.innerLrPpm,
      outerLrPpm: localTestnetParams.outerLrPpm,
      outerMomentumPpm: localTestnetParams.outerMomentumPpm,
    })
    h.ok(alice, { type: 'propose', content: { kind: 'params', changes: { innerSteps: 3, outerLrPpm: 500_000 } } })
    h.block(validators.map((v) => h.tx(v, { type: 'vote', proposalId: 'p-0', option: 'yes' })))
    h.runTo((h.app.query('proposal/p-0') as { votingEnd: number }).votingEnd + 1)
    assert.equal(h.params.innerSteps, 3)
    const during = h.app.query('window') as Window
    assert.deepEqual(during.training, opened, 'the window open when the change passed keeps its parameters')
    h.runTo(during.closeHeight + 1)
    const next = h.app.query('window') as Window
    assert.ok(next.id > during.id)
    assert.deepEqual(next.training, { ...opened, innerSteps: 3, outerLrPpm: 500_000 })
    assert.deepEqual((h.app.query(`window/${during.id}`) as Window).training, opened)
  })

  it('rejects a proposal without quorum', () => {
    const h = net({ quorumBps: 9000 })
    h.ok(alice, { type: 'propose', content: { kind: 'params', changes: { bountyMultiple: 12 } } })
    h.ok(validators[0] as KeyPair, { type: 'vote', proposalId: 'p-0', option: 'yes' })
    h.runTo((h.app.query('proposal/p-0') as { votingEnd: number }).votingEnd)
    const p = h.app.query('proposal/p-0') as { status: string; tally: Record<string, string> }
    assert.equal(p.status, 'rejected')
    assert.ok(BigInt(p.tally.yes ?? '0') > 0n)
  })
})

describe('chain/app: the application interface', () => {
  it('answers queries for the CLI and actors, and refuses unknown ones', () => {
    const h = net()
    h.run(2)
    assert.equal(h.app.query('height'), 2)
    assert.equal((h.app.query('params') as { windowBlocks: number }).windowBlocks, h.params.windowBlocks)
    assert.equal((h.app.query('window') as { id: number }).id, 0)
    assert.equal((h.app.query('subnets') as unknown[]).length, 2)
    assert.equal((h.app.query('model') as { config: string }).config, 'tiny')
    assert.equal((h.app.query('audit') as { ok: boolean }).ok, true)
    assert.equal(typeof (h.app.query(`account/${alice.address}`) as { balance: string }).balance, 'string')
    assert.deepEqual(h.app.query('challenges'), [])
    assert.throws(() => h.app.query('nonsense'), /no query nonsense/)
  })

  it('checkTx admits a sender’s consecutive nonces for the coming block, never a gap, and changes nothing', () => {
    const h = net()
    const hash = toHex(h.app.appHash())
    const t0 = h.tx(alice, { type: 'transfer', to: bob.address, amount: 1n })
    const t1 = h.tx(alice, { type: 'transfer', to: bob.address, amount: 2n })
    const gap = h.tx(alice, { type: 'transfer', to: bob.address, amount: 3n }, { nonce: 5 })
    assert.deepEqual(h.app.checkTx(t0), { ok: true })
    assert.deepEqual(h.app.checkTx(t1), { ok: true })
    assert.equal((h.app.checkTx(gap) as { code: string }).code, 'ERR_WRONG_NONCE')
    assert.equal((h.app.checkTx(t0) as { code: string }).code, 'ERR_WRONG_NONCE', 'a replay is refused')
    assert.equal(toHex(h.app.appHash()), hash)
    assert.equal(h.app.state.account(alice.address).nonce, 0)
    assert.deepEqual(
      h.block([t0, t1]).map((r) => r.code),
      ['OK', 'OK'],
    )
    assert.equal((h.app.checkTx(t1) as { code: string }).code, 'ERR_WRONG_NONCE')
  })

  it('a mempool holds at most MAX_PENDING_TXS_PER_SENDER of one sender: one fee’s balance cannot fill it with a run of nonces', () => {
    // The attack: admission is a dry run on the committed state, which cannot see what the
    // earlier pending transactions spend, so an account with the balance for one fee could
    // line up nonce after nonce; all but the first fail at execution, unpaid.
    const app = new ChainApp(localTestnetGenesis({ validators, funded: [alice, bob] }))
    const fee = app.state.params.minFee
    const spender = testKey('one-fee')
    const fund = encodeTx(
      {
        chainId: app.state.globals.chainId,
        nonce: 0,
        fee,
        msg: { type: 'transfer', to: spender.address, amount: fee + 1n },
      },
      alice,
    )
    app.executeBlock({
      height: 1,
      timeMs: 1,
      proposer: (validators[0] as KeyPair).address,
      hash: sha256('b1'),
      beacon: sha256('r1'),
      txs: [fund],
      evidence: [],
    })
    assert.equal(app.state.account(spender.address).balance, fee + 1n, 'enough for one transfer of 1 and its fee')
    // As a validator's mempool: admission is the chain's check, its code and log the reason of a refusal.
    const pool = new Mempool({
      checkTx: (tx) => {
        const r = app.checkTx(tx)
        return r.ok ? { ok: true } : { ok: false, reason: `${r.code}: ${r.log}` }
      },
    })
    const run = Array.from({ length: MAX_PENDING_TXS_PER_SENDER + 24 }, (_, nonce) =>
      encodeTx(
        { chainId: app.state.globals.chainId, nonce, fee, msg: { type: 'transfer', to: bob.address, amount: 1n } },
        spender,
      ),
    )
    const refusals: string[] = []
    for (const tx of run)
      try {
        pool.add(tx)
      } catch (error) {
        assert.ok(error instanceof TxRejectedError)
        refusals.push(error.message)
      }
    assert.equal(pool.size, MAX_PENDING_TXS_PER_SENDER, refusals[0])
    assert.equal(refusals.length, 24)
    // The first past the bound is refused for it; the rest then leave a gap.
    assert.equal(
      refusals[0],
      `transaction rejected: ERR_TOO_MANY_PENDING: the account has ${MAX_PENDING_TXS_PER_SENDER} transactions waiting for the block already (nonce 0 to ${MAX_PENDING_TXS_PER_SENDER - 1})`,
    )
    assert.ok(refusals.slice(1).every((m) => m.includes('ERR_WRONG_NONCE')))
    const other = encodeTx(
      { chainId: app.state.globals.chainId, nonce: 1, fee, msg: { type: 'transfer', to: alice.address, amount: 1n } },
      alice,
    )
    pool.add(other)
    assert.equal(pool.size, MAX_PENDING_TXS_PER_SENDER + 1, 'other senders still get in')
    // The check names the code, and with the sender's own next nonce given (a sender checking ahead) too.
    const ahead = run[MAX_PENDING_TXS_PER_SENDER] as Uint8Array
    assert.deepEqual(app.checkTx(ahead, { record: false }), {
      ok: false,
      code: 'ERR_TOO_MANY_PENDING',
      log: `the account has ${MAX_PENDING_TXS_PER_SENDER} transactions waiting for the block already (nonce 0 to ${MAX_PENDING_TXS_PER_SENDER - 1})`,
    })
    assert.equal(
      (
        app.checkTx(ahead, {
          record: false,
          pendingNonce: new Map([[spender.address, MAX_PENDING_TXS_PER_SENDER]]),
        }) as { code: string }
      ).code,
      'ERR_TOO_MANY_PENDING',
    )
  })

  it('reports validator power changes to the consensus engine, and nothing when none changed', () => {
    const app = new ChainApp(localTestnetGenesis({ validators, funded: [alice] }))
    const v = validators[1] as KeyPair
    const at = (height: number, txs: Uint8Array[] = []) =>
      app.executeBlock({
        height,
        timeMs: height,
        proposer: v.address,
        hash: sha256(`b${height}`),
        beacon: sha256(`beacon${height}`),
        txs,
        evidence: [],
      })
    assert.deepEqual(at(1).validatorUpdates, [])
    assert.equal(app.validators().length, 4)
    const stake = encodeTx({ chainId: 'r3mes-local', nonce: 0, fee: R3, msg: { type: 'stake', amount: 10n * R3 } }, v)
    const [update] = at(2, [stake]).validatorUpdates
    assert.equal(update?.address, v.address)
    assert.equal(update?.power, (app.validators().find((x) => x.address === v.address) as { power: bigint }).power)
  })

  it('refuses a block that does not follow the last one (a programming error, not a tx failure)', () => {
    const app = new ChainApp(localTestnetGenesis({ validators }))
    const block = {
      height: 2,
      timeMs: 0,
      proposer: '',
      hash: new Uint8Array(32),
      beacon: new Uint8Array(32),
      txs: [],
      evidence: [],
    }
    assert.throws(() => app.executeBlock(block), AssertionFailure)
    const r = app.executeBlock({ ...block, height: 1, proposer: 'not-an-address' })
    assert.equal(r.appHash.length, 32)
    assert.deepEqual(r.appHash, app.appHash())
  })
})
