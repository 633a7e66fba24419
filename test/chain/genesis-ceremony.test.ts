import assert from 'node:assert/strict'
import fc from 'fast-check'
import { GenesisError, GentxError } from '../../src/chain/errors.ts'
import { labelCid, parseGenesis } from '../../src/chain/genesis.ts'
import {
  addGenesisAccount,
  type CeremonyGenesis,
  ceremonyGenesisToJson,
  collectGentxs,
  createGentx,
  decodeGentx,
  encodeGentx,
  type Gentx,
  gentxProblems,
  gentxSignBytes,
  initGenesis,
  parseCeremonyGenesis,
  validateGenesis,
} from '../../src/chain/genesis-ceremony.ts'
import { signKeyProof } from '../../src/chain/key-proofs.ts'
import { type KeyPair, peerIdOfKey, testKey } from '../../src/chain/keys.ts'
import { localTestnetParams, type Role, UNITS_PER_TOKEN } from '../../src/chain/params.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { ed25519Sign } from '../../src/codec/ed25519.ts'

const CHAIN = 'ceremony-test'
const TOKENS = UNITS_PER_TOKEN
const VALIDATOR_STAKE = localTestnetParams.minStakeValidator * 2n

function draft(chainId = CHAIN): CeremonyGenesis {
  return initGenesis({
    chainId,
    preset: 'localTestnet',
    model: { config: 'tiny', backboneCids: [labelCid('backbone-0'), labelCid('backbone-1')] },
    subnets: [
      [0, 4],
      [4, 8],
    ],
    datasets: [{ cid: labelCid('dataset'), name: 'brown-fiction', shardCount: 64 }],
    genesisTimeMs: 1_000,
  })
}

/** An operator with three distinct keys: account, consensus and libp2p. */
interface Operator {
  readonly name: string
  readonly account: KeyPair
  readonly consensus: KeyPair
  readonly peer: KeyPair
}

function operator(name: string): Operator {
  return {
    name,
    account: testKey(`${name}/account`),
    consensus: testKey(`${name}/consensus`),
    peer: testKey(`${name}/peer`),
  }
}

function gentxOf(
  op: Operator,
  over: { chainId?: string; stake?: bigint; roles?: Role[]; subnet?: number | null } = {},
): Gentx {
  return createGentx({
    chainId: over.chainId ?? CHAIN,
    account: op.account,
    consensusSeed: op.consensus.secretKey,
    peer: { seed: op.peer.secretKey },
    stake: over.stake ?? VALIDATOR_STAKE,
    roles: over.roles ?? ['validator'],
    subnet: over.subnet ?? null,
    moniker: op.name,
  })
}

function funded(ops: readonly Operator[], balance = 1_000_000n * TOKENS): CeremonyGenesis {
  return ops.reduce((g, op) => addGenesisAccount(g, op.account.address, balance), draft())
}

describe('genesis ceremony: draft and accounts', () => {
  it('initGenesis writes a draft that parseGenesis reads as a draft only (no validator yet)', () => {
    const g = draft()
    const json = ceremonyGenesisToJson(g)
    const back = parseCeremonyGenesis(json, { draft: true })
    assert.equal(back.chainId, CHAIN)
    assert.deepEqual(back.subnets, g.subnets)
    assert.deepEqual(back.gentxs, [])
    assert.equal(back.params.minStakeValidator, localTestnetParams.minStakeValidator)
    assert.throws(() => parseGenesis(json), /at least one validator/)
  })

  it('initGenesis applies parameter overrides and refuses a bad field by name', () => {
    const g = initGenesis({
      chainId: CHAIN,
      params: { windowBlocks: 33 },
      model: { config: 'tiny', backboneCids: [labelCid('b')] },
      subnets: [[0, 8]],
      datasets: [{ cid: labelCid('d'), name: 'd', shardCount: 1 }],
    })
    assert.equal(g.params.windowBlocks, 33)
    assert.throws(
      () =>
        initGenesis({
          chainId: 'Bad_Chain',
          model: { config: 'tiny', backboneCids: [labelCid('b')] },
          subnets: [[0, 8]],
          datasets: [{ cid: labelCid('d'), name: 'd', shardCount: 1 }],
        }),
      (e: unknown) => e instanceof GenesisError && e.field === 'chainId',
    )
    assert.throws(
      () =>
        initGenesis({
          chainId: CHAIN,
          model: { config: 'tiny', backboneCids: [labelCid('b')] },
          subnets: [
            [0, 4],
            [4, 8],
          ],
          datasets: [],
        }),
      /one per subnet/,
    )
  })

  it('addGenesisAccount funds an address once and refuses a second add, a bad address or no balance', () => {
    const op = operator('a')
    const g = addGenesisAccount(draft(), op.account.address, 5n * TOKENS)
    assert.deepEqual(g.accounts, [{ address: op.account.address, balance: 5n * TOKENS }])
    assert.throws(() => addGenesisAccount(g, op.account.address, 1n), /already in the genesis .* added once/)
    assert.throws(() => addGenesisAccount(g, 'cosmos1xyz', 1n), /not an r3mes1… account address/)
    assert.throws(() => addGenesisAccount(g, operator('b').account.address, 0n), /must be positive/)
  })
})

describe('genesis ceremony: gentx', () => {
  it('a gentx names the three keys of its operator and verifies for its chain', () => {
    const op = operator('alice')
    const gentx = gentxOf(op)
    assert.equal(gentx.body.pubKey, toHex(op.account.publicKey))
    assert.equal(gentx.body.consensusKey, toHex(op.consensus.publicKey))
    assert.equal(gentx.body.peerId, peerIdOfKey(op.peer.publicKey))
    assert.deepEqual(gentxProblems(gentx, CHAIN), [])
    assert.deepEqual(gentxProblems(gentx, 'other-chain'), ["it is for chain 'ceremony-test', not 'other-chain'"])
  })

  it('a gentx made from a peer id and a proof signed elsewhere verifies too', () => {
    const op = operator('remote')
    const gentx = createGentx({
      chainId: CHAIN,
      account: op.account,
      consensusSeed: op.consensus.secretKey,
      peer: {
        peerId: peerIdOfKey(op.peer.publicKey),
        proof: signKeyProof('peer', op.peer.secretKey, CHAIN, op.account.address),
      },
      stake: VALIDATOR_STAKE,
      roles: ['validator'],
      moniker: 'remote',
    })
    assert.deepEqual(gentxProblems(gentx, CHAIN), [])
    assert.throws(
      () =>
        createGentx({
          chainId: CHAIN,
          account: op.account,
          consensusSeed: op.consensus.secretKey,
          peer: { peerId: peerIdOfKey(op.peer.publicKey), proof: '00'.repeat(64) },
          stake: VALIDATOR_STAKE,
          roles: ['validator'],
          moniker: 'remote',
        }),
      /proof of possession of the peer id does not verify/,
    )
  })

  it('createGentx refuses bad options by name', () => {
    const op = operator('x')
    const base = {
      chainId: CHAIN,
      account: op.account,
      consensusSeed: op.consensus.secretKey,
      peer: { seed: op.peer.secretKey },
      stake: VALIDATOR_STAKE,
      roles: ['validator'] as Role[],
      moniker: 'x',
    }
    assert.throws(() => createGentx({ ...base, roles: ['miner'] }), /a miner must name its subnet/)
    assert.throws(() => createGentx({ ...base, roles: [] }), /at least one role/)
    assert.throws(() => createGentx({ ...base, stake: 0n }), /stake must be a positive amount/)
    assert.throws(() => createGentx({ ...base, moniker: '' }), /moniker must be 1 to 64 characters/)
    assert.throws(() => createGentx({ ...base, moniker: 'a\u001b[2J' }), /no control characters/)
    assert.throws(() => createGentx({ ...base, chainId: 'UPPER' }), /chain id 'UPPER' is not valid/)
  })

  it('a gentx survives encode and decode unchanged', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.bigInt({ min: 1n, max: 10n ** 20n }),
        fc.subarray(['arbiter', 'miner', 'validator', 'verifier'] as Role[], { minLength: 1 }),
        fc.integer({ min: 0, max: 1023 }),
        fc.string({ minLength: 1, maxLength: 64 }).filter((m) => !/[\p{Cc}\p{Cf}]/u.test(m)),
        (label, stake, roles, subnet, moniker) => {
          const op = operator(label)
          const gentx = createGentx({
            chainId: CHAIN,
            account: op.account,
            consensusSeed: op.consensus.secretKey,
            peer: { seed: op.peer.secretKey },
            stake,
            roles,
            subnet: roles.includes('miner') ? subnet : null,
            moniker,
          })
          const back = decodeGentx(encodeGentx(gentx))
          assert.deepEqual(back, gentx)
          assert.deepEqual(gentxProblems(back, CHAIN), [])
        },
      ),
      { numRuns: 40 },
    )
  })

  it('any changed byte of a gentx body fails to decode or to verify', () => {
    const gentx = gentxOf(operator('mutant'), { roles: ['miner', 'validator'], subnet: 1 })
    const text = encodeGentx(gentx)
    const bytes = new TextEncoder().encode(text)
    const bodyStart = '{"body":'.length
    const bodyEnd = text.indexOf(',"signature":')
    assert.ok(text.startsWith('{"body":{') && bodyEnd > bodyStart)
    fc.assert(
      fc.property(fc.integer({ min: bodyStart, max: bodyEnd - 1 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const mutated = Uint8Array.from(bytes)
        mutated[at] = (mutated[at] as number) ^ flip
        let decoded: Gentx
        try {
          decoded = decodeGentx(new TextDecoder().decode(mutated))
        } catch (error) {
          assert.ok(error instanceof GentxError, String(error))
          return
        }
        assert.notDeepEqual(gentxProblems(decoded, CHAIN), [], `byte ${at} ^ ${flip} still verifies`)
      }),
      { numRuns: 300 },
    )
  })

  it('decodeGentx answers any text with a gentx or a GentxError, nothing else', () => {
    const good = JSON.parse(encodeGentx(gentxOf(operator('fuzz'))))
    const shapes = fc.oneof(
      fc.string(),
      fc.json(),
      fc.jsonValue().map((v) => JSON.stringify({ body: v, signature: good.signature })),
      fc
        .record({ key: fc.constantFrom(...Object.keys(good.body)), value: fc.jsonValue() })
        .map(({ key, value }) => JSON.stringify({ ...good, body: { ...good.body, [key]: value } })),
    )
    fc.assert(
      fc.property(shapes, (text) => {
        try {
          decodeGentx(text)
        } catch (error) {
          assert.ok(error instanceof GentxError, String(error))
        }
      }),
      { numRuns: 300 },
    )
  })

  it('decodeGentx refuses what is not a gentx, naming the field', () => {
    const good = JSON.parse(encodeGentx(gentxOf(operator('d'))))
    assert.throws(() => decodeGentx('{', 'f.json'), /f.json is not JSON/)
    assert.throws(() => decodeGentx(JSON.stringify({ ...good, extra: 1 })), /'extra' is not a gentx field/)
    assert.throws(
      () => decodeGentx(JSON.stringify({ ...good, body: { ...good.body, stake: 5 } })),
      /'body.stake' must be an amount/,
    )
    assert.throws(
      () => decodeGentx(JSON.stringify({ ...good, body: { ...good.body, roles: ['validator', 'miner'] } })),
      /'body.roles' must be sorted/,
    )
    assert.throws(
      () => decodeGentx(JSON.stringify({ ...good, body: { ...good.body, note: 'x' } })),
      /'body.note' is not a gentx body field/,
    )
  })
})

describe('genesis ceremony: collect', () => {
  const alice = operator('alice')
  const bob = operator('bob')
  const carol = operator('carol')

  it('moves each stake out of its balance and seats the stakers with their keys', () => {
    const g = collectGentxs(funded([alice, bob, carol]), [
      gentxOf(alice),
      gentxOf(bob, { roles: ['miner'], subnet: 1, stake: localTestnetParams.minStakeMiner }),
      gentxOf(carol, { roles: ['validator', 'verifier'] }),
    ])
    const parsed = parseGenesis(ceremonyGenesisToJson(g))
    assert.deepEqual(
      parsed.stakers.map((s) => [s.pubKey, s.consensusKey, s.peerId, s.stake, s.roles, s.subnet]),
      [
        [
          toHex(alice.account.publicKey),
          toHex(alice.consensus.publicKey),
          peerIdOfKey(alice.peer.publicKey),
          VALIDATOR_STAKE,
          ['validator'],
          null,
        ],
        [
          toHex(bob.account.publicKey),
          toHex(bob.consensus.publicKey),
          peerIdOfKey(bob.peer.publicKey),
          localTestnetParams.minStakeMiner,
          ['miner'],
          1,
        ],
        [
          toHex(carol.account.publicKey),
          toHex(carol.consensus.publicKey),
          peerIdOfKey(carol.peer.publicKey),
          VALIDATOR_STAKE,
          ['validator', 'verifier'],
          null,
        ],
      ],
    )
    assert.deepEqual(
      parsed.accounts.map((a) => a.balance),
      [
        1_000_000n * TOKENS - VALIDATOR_STAKE,
        1_000_000n * TOKENS - localTestnetParams.minStakeMiner,
        1_000_000n * TOKENS - VALIDATOR_STAKE,
      ],
    )
    assert.deepEqual(validateGenesis(ceremonyGenesisToJson(g)).problems, [])
  })

  it('refuses a gentx whose signature does not verify', () => {
    const gentx = gentxOf(alice)
    const forged: Gentx = { ...gentx, body: { ...gentx.body, stake: gentx.body.stake + 1n } }
    assert.throws(
      () => collectGentxs(funded([alice]), [forged]),
      (e: unknown) =>
        e instanceof GentxError && /signature does not verify/.test(e.message) && /'alice'/.test(e.message),
    )
  })

  it('refuses a consensus key or peer id its operator does not hold', () => {
    const gentx = gentxOf(alice)
    const stolenConsensus = createGentx({
      chainId: CHAIN,
      account: bob.account,
      consensusSeed: bob.consensus.secretKey,
      peer: { seed: bob.peer.secretKey },
      stake: VALIDATOR_STAKE,
      roles: ['validator'],
      moniker: 'bob',
    })
    // Bob names Alice's consensus key, reusing the proof Alice signed for her own account.
    const body = {
      ...stolenConsensus.body,
      consensusKey: gentx.body.consensusKey,
      consensusProof: gentx.body.consensusProof,
    }
    const resigned = resign(bob.account, body)
    assert.throws(() => collectGentxs(funded([alice, bob]), [resigned]), /proof of possession of the consensus key/)
    const peerBody = { ...stolenConsensus.body, peerId: gentx.body.peerId, peerProof: gentx.body.peerProof }
    assert.throws(
      () => collectGentxs(funded([alice, bob]), [resign(bob.account, peerBody)]),
      /proof of possession of the peer id/,
    )
  })

  it('refuses a gentx for another chain', () => {
    assert.throws(
      () => collectGentxs(funded([alice]), [gentxOf(alice, { chainId: 'other' })]),
      /for chain 'other', not 'ceremony-test'/,
    )
  })

  it('refuses an unfunded account and a stake above the balance', () => {
    assert.throws(() => collectGentxs(funded([bob]), [gentxOf(alice)]), /account is not in the genesis/)
    assert.throws(
      () => collectGentxs(funded([alice], VALIDATOR_STAKE - 1n), [gentxOf(alice)]),
      new RegExp(`stakes ${VALIDATOR_STAKE} but the account holds ${VALIDATOR_STAKE - 1n}`),
    )
  })

  it('refuses an account, consensus key or peer id staked twice', () => {
    const g = funded([alice, bob])
    assert.throws(() => collectGentxs(g, [gentxOf(alice), gentxOf(alice)]), /this account already stakes/)
    const sharedConsensus: Operator = { ...bob, consensus: alice.consensus }
    assert.throws(
      () => collectGentxs(g, [gentxOf(alice), gentxOf(sharedConsensus)]),
      /consensus key .* is already a staker's/,
    )
    const sharedPeer: Operator = { ...bob, peer: alice.peer }
    assert.throws(() => collectGentxs(g, [gentxOf(alice), gentxOf(sharedPeer)]), /peer id .* is already a staker's/)
  })

  it('refuses a set with no validator, a stake under a role minimum and a subnet that does not exist', () => {
    const g = funded([alice, bob])
    assert.throws(
      () => collectGentxs(g, [gentxOf(bob, { roles: ['miner'], subnet: 0, stake: localTestnetParams.minStakeMiner })]),
      /no gentx stakes as a validator/,
    )
    assert.throws(() => collectGentxs(g, [gentxOf(alice, { stake: 1n })]), /a validator stakes at least/)
    assert.throws(
      () =>
        collectGentxs(g, [
          gentxOf(alice),
          gentxOf(bob, { roles: ['miner'], subnet: 2, stake: localTestnetParams.minStakeMiner }),
        ]),
      /subnet 2 does not exist/,
    )
  })

  it("refuses validators whose total voting power passes the consensus set's cap", () => {
    const whale = 2n ** 40n * TOKENS
    const g = funded([alice], whale + TOKENS)
    assert.throws(
      () => collectGentxs(g, [gentxOf(alice, { stake: whale + TOKENS })]),
      (e: unknown) => e instanceof GenesisError && /voting power in total, the limit is/.test(e.message),
    )
  })
})

describe('genesis ceremony: validate', () => {
  const alice = operator('alice')
  const bob = operator('bob')
  const good = () => collectGentxs(funded([alice, bob]), [gentxOf(alice), gentxOf(bob)])

  it('finds nothing wrong with a collected genesis', () => {
    const v = validateGenesis(ceremonyGenesisToJson(good()))
    assert.deepEqual(v.problems, [])
    assert.equal(v.genesis?.gentxs.length, 2)
  })

  it('names every problem: a staker with no gentx, a staker changed after signing, a gentx of another chain', () => {
    const json = ceremonyGenesisToJson(good()) as { stakers: Record<string, unknown>[]; gentxs: unknown[] }
    const other = gentxOf(operator('zed'), { chainId: 'other' })
    json.stakers[1] = { ...json.stakers[1], stake: (VALIDATOR_STAKE + 1n).toString() }
    json.gentxs = [json.gentxs[1], JSON.parse(encodeGentx(other))]
    const { problems } = validateGenesis(json)
    assert.equal(problems.length, 5, problems.join('\n'))
    assert.match(problems[0] as string, /^gentxs\[1\] \('zed', r3mes1\S+\): it is for chain 'other'/)
    assert.match(problems[1] as string, /^gentxs\[1\] .*account is not in the genesis accounts/)
    assert.match(problems[2] as string, /^stakers\[0\] .*no gentx shows/)
    assert.match(problems[3] as string, /^stakers\[1\] .*: stake differ from what its gentx signed/)
    assert.match(problems[4] as string, /^gentxs\[1\] .*no staker was collected from it/)
  })

  it('names a malformed gentx and a genesis that does not parse', () => {
    const json = ceremonyGenesisToJson(good()) as { gentxs: unknown[] }
    json.gentxs = [...json.gentxs, { body: {}, signature: 'x' }]
    assert.match(validateGenesis(json).problems.join('\n'), /gentxs\[2\]: 'body.chainId' must match/)
    assert.deepEqual(validateGenesis({ ...ceremonyGenesisToJson(good()), chainId: 7 }).problems, [
      "genesis field 'chainId': must match [a-z0-9][a-z0-9-]{0,47}",
    ])
  })

  it('names a backbone split unlike the subnets', () => {
    const json = ceremonyGenesisToJson(good()) as { model: { backbone: { layers: number[] }[] } }
    json.model.backbone[0] = { ...json.model.backbone[0], layers: [0, 3] }
    assert.match(
      validateGenesis(json).problems.join('\n'),
      /model.backbone\[0\].layers: \[0, 3\) is not subnet 0's \[0, 4\)/,
    )
  })
})

/** A well-formed gentx the account really signed, whatever else the body claims. */
function resign(account: KeyPair, body: Gentx['body']): Gentx {
  return { body, signature: toHex(ed25519Sign(account.secretKey, gentxSignBytes(body))) }
}
