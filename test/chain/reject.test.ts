import assert from 'node:assert/strict'
import { claimListDigest } from '../../src/chain/claim-list.ts'
import { type KeyPair, testKey } from '../../src/chain/keys.ts'
import { commitmentOf, type Msg } from '../../src/chain/tx.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { cid, Harness, keys } from './harness.ts'

const validators = keys('val', 4)
const miners = [keys('miner0', 2), keys('miner1', 2)]
const verifiers = keys('verifier', 3)
const arbiters = keys('arbiter', 3)
const [user, poor] = keys('user', 2) as [KeyPair, KeyPair]
const stranger = testKey('stranger')
const [m0a, m0b] = miners[0] as [KeyPair, KeyPair]
const [m1a, m1b] = miners[1] as [KeyPair, KeyPair]
const salt = toHex(sha256('salt')).slice(0, 32)

function net(): Harness {
  return new Harness({
    validators,
    miners,
    verifiers,
    arbiters,
    funded: [user, poor],
    params: {
      replication: 2,
      shardsPerWindow: 1,
      windowBlocks: 200,
      aggregationDeadlineBlocks: 1000,
      votingPeriodBlocks: 1000,
    },
  })
}

/** The same history on both: a window-0 claim accepted, a window-0 commitment never revealed, window 1 open. */
function setup(h: Harness): void {
  h.block()
  const A = cid('grad-A')
  h.block([
    h.tx(m0a, { type: 'commit', taskId: '0.0.0', commitment: commitmentOf(A, m0a.address, '0.0.0', salt) }),
    h.tx(m0b, { type: 'commit', taskId: '0.0.0', commitment: commitmentOf(A, m0b.address, '0.0.0', salt) }),
    h.tx(m1a, {
      type: 'commit',
      taskId: '0.0.1',
      commitment: commitmentOf(A, m1a.address, '0.0.1', salt),
    }),
    h.tx(user, { type: 'transfer', to: poor.address, amount: 1n }),
  ])
  h.block([
    h.tx(m0a, { type: 'reveal', taskId: '0.0.0', cid: A, salt, metadata: '' }),
    h.tx(m0b, { type: 'reveal', taskId: '0.0.0', cid: A, salt, metadata: '' }),
    h.tx(user, { type: 'propose', content: { kind: 'dataset', cid: cid('ds-2'), name: 'two', shardCount: 8 } }),
  ])
  h.runTo(h.params.windowBlocks + 2)
}

/** One well-formed message of every type (valid or not in context: the envelope checks come first). */
function everyType(): Msg[] {
  const proof = '00'.repeat(80)
  return [
    { type: 'transfer', to: poor.address, amount: 5n },
    { type: 'stake', amount: 5n },
    { type: 'unstake', amount: 5n },
    { type: 'register', roles: ['verifier'], subnet: null },
    { type: 'commit', taskId: '1.0.0', commitment: '00'.repeat(32) },
    { type: 'reveal', taskId: '1.0.0', cid: cid('x'), salt, metadata: '' },
    {
      type: 'aggregate',
      window: 0,
      subnet: 0,
      claimsDigest: claimListDigest([]),
      unavailable: '',
      adapterCid: cid('a'),
    },
    { type: 'challenge', claimId: `0.0.0/${m0a.address}`, bond: 10n ** 12n },
    { type: 'verifierClaim', challengeId: 'ch-0', proof },
    { type: 'verifierResponse', challengeId: 'ch-0', verdict: 'owner', proof },
    { type: 'appeal', challengeId: 'ch-0', bond: 10n ** 12n },
    { type: 'arbiterVote', challengeId: 'ch-0', verdict: 'fault', proof },
    { type: 'propose', content: { kind: 'params', changes: { bountyMultiple: 20 } } },
    { type: 'vote', proposalId: 'p-0', option: 'yes' },
  ]
}

/** The signature is the last field of the wire map (keys sorted: b, k, s): flip its last bit. */
function tamperSig(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice()
  out[out.length - 1] = (out[out.length - 1] as number) ^ 1
  return out
}

describe('chain/reject: bad transactions are refused with a clear code and leave the state untouched', () => {
  const h = net()
  const ref = net()
  before(() => {
    setup(h)
    setup(ref)
    assert.equal(toHex(h.app.appHash()), toHex(ref.app.appHash()))
  })

  /** checkTx and executeBlock both refuse with `code`; the app hash equals that of an empty block. */
  function refused(make: () => Uint8Array, code: string): void {
    const bytes = make()
    const before = toHex(h.app.appHash())
    const check = h.app.checkTx(bytes)
    assert.equal(check.ok, false)
    assert.equal(check.ok ? '' : check.code, code, check.ok ? '' : check.log)
    assert.equal(toHex(h.app.appHash()), before, 'checkTx changed nothing')
    const [result] = h.block([bytes])
    assert.equal(result?.code, code, result?.log)
    assert.ok((result?.log ?? '').length > 0, 'a log says why')
    ref.block([])
    assert.equal(toHex(h.app.appHash()), toHex(ref.app.appHash()), `state changed by a refused ${code}`)
  }

  for (const msg of everyType()) {
    describe(`${msg.type}`, () => {
      it('bad signature → ERR_BAD_SIGNATURE', () => refused(() => tamperSig(h.tx(user, msg)), 'ERR_BAD_SIGNATURE'))
      it('wrong nonce → ERR_WRONG_NONCE', () =>
        refused(() => h.tx(user, msg, { nonce: h.nonceOf(user.address) + 1 }), 'ERR_WRONG_NONCE'))
      it('unknown account → ERR_UNKNOWN_ACCOUNT', () => refused(() => h.tx(stranger, msg), 'ERR_UNKNOWN_ACCOUNT'))
      it('fee below the minimum → ERR_FEE_TOO_LOW', () =>
        refused(() => h.tx(user, msg, { fee: 0n }), 'ERR_FEE_TOO_LOW'))
      it('another chain → ERR_WRONG_CHAIN', () =>
        refused(() => h.tx(user, msg, { chainId: 'elsewhere' }), 'ERR_WRONG_CHAIN'))
      it('not canonical → ERR_TX_DECODE', () =>
        refused(() => new TextEncoder().encode(`${Buffer.from(h.tx(user, msg)).toString()} `), 'ERR_TX_DECODE'))
    })
  }

  it('oversized transaction → ERR_TX_TOO_LARGE', () =>
    refused(
      () => h.tx(user, { type: 'reveal', taskId: '1.0.0', cid: cid('x'), salt, metadata: 'x'.repeat(3000) }),
      'ERR_TX_TOO_LARGE',
    ))
  it('oversized metadata → ERR_METADATA_TOO_LARGE', () =>
    refused(
      () => h.tx(m0a, { type: 'reveal', taskId: '1.0.0', cid: cid('x'), salt, metadata: 'x'.repeat(257) }),
      'ERR_METADATA_TOO_LARGE',
    ))
  it('metadata over 256 bytes of UTF-8 (fewer characters) → ERR_METADATA_TOO_LARGE', () =>
    refused(
      () => h.tx(m0a, { type: 'reveal', taskId: '1.0.0', cid: cid('x'), salt, metadata: `${'é'.repeat(128)}x` }),
      'ERR_METADATA_TOO_LARGE',
    ))
  it('reveal in the wrong window → ERR_WRONG_WINDOW', () =>
    refused(
      () => h.tx(m1a, { type: 'reveal', taskId: '0.0.1', cid: cid('grad-A'), salt, metadata: '' }),
      'ERR_WRONG_WINDOW',
    ))
  it('commit in the wrong window → ERR_WRONG_WINDOW', () =>
    refused(() => h.tx(m1b, { type: 'commit', taskId: '0.0.1', commitment: '11'.repeat(32) }), 'ERR_WRONG_WINDOW'))
  it('commit to a task not assigned → ERR_NOT_ASSIGNED', () =>
    refused(() => h.tx(user, { type: 'commit', taskId: '1.0.0', commitment: '11'.repeat(32) }), 'ERR_NOT_ASSIGNED'))
  it('reveal with a malformed CID → ERR_INVALID_FIELD', () =>
    refused(
      () => h.tx(m0a, { type: 'reveal', taskId: '1.0.0', cid: 'not-a-cid', salt, metadata: '' }),
      'ERR_INVALID_FIELD',
    ))
  it('challenge with a bond too small → ERR_BOND_TOO_SMALL', () =>
    refused(() => h.tx(user, { type: 'challenge', claimId: `0.0.0/${m0a.address}`, bond: 1n }), 'ERR_BOND_TOO_SMALL'))
  it('challenge with more than the balance → ERR_INSUFFICIENT_FUNDS', () =>
    refused(
      () => h.tx(user, { type: 'challenge', claimId: `0.0.0/${m0a.address}`, bond: 10n ** 20n }),
      'ERR_INSUFFICIENT_FUNDS',
    ))
  it('challenge naming a step trace that is not a CID → ERR_INVALID_FIELD', () =>
    refused(
      () => h.tx(user, { type: 'challenge', claimId: `0.0.0/${m0a.address}`, bond: 10n ** 12n, trace: 'not-a-cid' }),
      'ERR_INVALID_FIELD',
    ))
  it('challenge of an unknown claim → ERR_UNKNOWN_CLAIM', () =>
    refused(() => h.tx(user, { type: 'challenge', claimId: 'x/y', bond: 10n ** 10n }), 'ERR_UNKNOWN_CLAIM'))
  it('transfer of more than the balance → ERR_INSUFFICIENT_FUNDS', () =>
    refused(() => h.tx(user, { type: 'transfer', to: poor.address, amount: 10n ** 20n }), 'ERR_INSUFFICIENT_FUNDS'))
  it('transfer to a non-address → ERR_INVALID_FIELD', () =>
    refused(() => h.tx(user, { type: 'transfer', to: 'cosmos1abc', amount: 1n }), 'ERR_INVALID_FIELD'))
  it('transfer of zero → ERR_INVALID_FIELD', () =>
    refused(() => h.tx(user, { type: 'transfer', to: poor.address, amount: 0n }), 'ERR_INVALID_FIELD'))
  it('stake more than the balance → ERR_INSUFFICIENT_FUNDS', () =>
    refused(() => h.tx(poor, { type: 'stake', amount: 10n ** 20n }), 'ERR_INSUFFICIENT_FUNDS'))
  it('unstake with no stake → ERR_NOT_REGISTERED', () =>
    refused(() => h.tx(user, { type: 'unstake', amount: 1n }), 'ERR_NOT_REGISTERED'))
  it('unstake below the roles’ minimum → ERR_INSUFFICIENT_STAKE', () =>
    refused(() => h.tx(m0a, { type: 'unstake', amount: h.stake(m0a.address) - 1n }), 'ERR_INSUFFICIENT_STAKE'))
  it('register without stake → ERR_INSUFFICIENT_STAKE', () =>
    refused(() => h.tx(user, { type: 'register', roles: ['arbiter'], subnet: null }), 'ERR_INSUFFICIENT_STAKE'))
  it('register a miner without a subnet → ERR_INVALID_FIELD', () =>
    refused(() => h.tx(m0a, { type: 'register', roles: ['miner'], subnet: null }), 'ERR_INVALID_FIELD'))
  it('register with unsorted roles → ERR_INVALID_FIELD', () =>
    refused(() => h.tx(m0a, { type: 'register', roles: ['miner', 'arbiter'], subnet: 0 }), 'ERR_INVALID_FIELD'))
  it('register a role the stake cannot cover → ERR_INSUFFICIENT_STAKE', () =>
    refused(() => h.tx(m0a, { type: 'register', roles: ['miner', 'validator'], subnet: 0 }), 'ERR_INSUFFICIENT_STAKE'))
  it('aggregate by someone else → ERR_NOT_AGGREGATOR', () => {
    const w = h.app.query('window/0') as { aggregator: string }
    const other = validators.find((v) => v.address !== w.aggregator) as KeyPair
    refused(
      () =>
        h.tx(other, {
          type: 'aggregate',
          window: 0,
          subnet: 0,
          claimsDigest: claimListDigest([]),
          unavailable: '',
          adapterCid: cid('a'),
        }),
      'ERR_NOT_AGGREGATOR',
    )
  })
  it('aggregate of an open window → ERR_WRONG_WINDOW', () =>
    refused(
      () =>
        h.tx(user, {
          type: 'aggregate',
          window: 1,
          subnet: 0,
          claimsDigest: claimListDigest([]),
          unavailable: '',
          adapterCid: cid('a'),
        }),
      'ERR_WRONG_WINDOW',
    ))
  it('verifier response to no challenge → ERR_UNKNOWN_CHALLENGE', () =>
    refused(
      () => h.tx(user, { type: 'verifierResponse', challengeId: 'ch-9', verdict: 'owner', proof: '00'.repeat(80) }),
      'ERR_UNKNOWN_CHALLENGE',
    ))
  it('verifier response with a short proof → ERR_INVALID_FIELD', () =>
    refused(
      () => h.tx(user, { type: 'verifierResponse', challengeId: 'ch-0', verdict: 'owner', proof: '00'.repeat(79) }),
      'ERR_INVALID_FIELD',
    ))
  it('verifier claim on no challenge → ERR_UNKNOWN_CHALLENGE', () =>
    refused(
      () => h.tx(user, { type: 'verifierClaim', challengeId: 'ch-9', proof: '00'.repeat(80) }),
      'ERR_UNKNOWN_CHALLENGE',
    ))
  it('verifier claim with a proof that is not hex → ERR_INVALID_FIELD', () =>
    refused(
      () => h.tx(user, { type: 'verifierClaim', challengeId: 'ch-0', proof: 'zz'.repeat(80) }),
      'ERR_INVALID_FIELD',
    ))
  it('verifier claim with an extra field → ERR_INVALID_FIELD', () =>
    refused(
      () =>
        h.tx(user, { type: 'verifierClaim', challengeId: 'ch-0', proof: '00'.repeat(80), verdict: 'owner' } as never),
      'ERR_INVALID_FIELD',
    ))
  it('arbiter vote on no challenge → ERR_UNKNOWN_CHALLENGE', () =>
    refused(
      () => h.tx(user, { type: 'arbiterVote', challengeId: 'ch-9', verdict: 'fault', proof: '00'.repeat(80) }),
      'ERR_UNKNOWN_CHALLENGE',
    ))
  it('arbiter vote with an unknown verdict → ERR_INVALID_FIELD', () =>
    refused(
      () =>
        h.tx(user, { type: 'arbiterVote', challengeId: 'ch-0', verdict: 'maybe' as 'fault', proof: '00'.repeat(80) }),
      'ERR_INVALID_FIELD',
    ))
  it('proposal of an unknown parameter → ERR_INVALID_FIELD', () =>
    refused(
      () => h.tx(user, { type: 'propose', content: { kind: 'params', changes: { blockSpeed: 1 } } }),
      'ERR_INVALID_FIELD',
    ))
  it('proposal of a parameter out of range → ERR_INVALID_FIELD', () =>
    refused(
      () => h.tx(user, { type: 'propose', content: { kind: 'params', changes: { replication: 0 } } }),
      'ERR_INVALID_FIELD',
    ))
  it('proposal of a data set without a CID → ERR_INVALID_FIELD', () =>
    refused(
      () => h.tx(user, { type: 'propose', content: { kind: 'dataset', cid: 'nope', name: 'x', shardCount: 1 } }),
      'ERR_INVALID_FIELD',
    ))
  it('vote without stake → ERR_INSUFFICIENT_STAKE', () =>
    refused(() => h.tx(user, { type: 'vote', proposalId: 'p-0', option: 'yes' }), 'ERR_INSUFFICIENT_STAKE'))
  it('vote on no proposal → ERR_UNKNOWN_PROPOSAL', () =>
    refused(() => h.tx(m0a, { type: 'vote', proposalId: 'p-7', option: 'yes' }), 'ERR_UNKNOWN_PROPOSAL'))
  it('unknown message type → ERR_INVALID_FIELD', () =>
    refused(() => h.tx(user, { type: 'mint', amount: 1n } as unknown as Msg), 'ERR_INVALID_FIELD'))
})
