/**
 * Fuzzing transaction decoding (decodeTx: stateless admission of bytes from a client or a
 * peer): hostile bytes and canonical msgpack with hostile fields only ever raise TxRejected,
 * a damaged valid transaction is refused or is a transaction that encodes to exactly its
 * bytes (one transaction, one encoding), and every valid transaction of every kind decodes to
 * the body that was signed.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { TxRejected } from '../../src/chain/errors.ts'
import { peerIdOfKey, testKey } from '../../src/chain/keys.ts'
import { ROLES } from '../../src/chain/params.ts'
import { decodeTx, encodeTx, type Msg, type TxBody } from '../../src/chain/tx.ts'
import { fromHex, toHex } from '../../src/codec/bytes.ts'
import { cidOfDigest } from '../../src/codec/cid.ts'
import { packCanonical, unpackCanonical } from '../../src/codec/msgpack.ts'
import { fuzzParams, hostileBytes, mutated, onlyTyped, rec } from './helpers/bytes.ts'

const MAX_TX_BYTES = 64 * 1024
const keys = [testKey('fuzz/a'), testKey('fuzz/b')]

const text = (maxLength: number): fc.Arbitrary<string> => fc.string({ minLength: 1, maxLength })
const hexOf = (bytes: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map(toHex)
/** A CID as the chain names one (CIDv1 raw sha2-256, base32 text): it travels in binary. */
const cid = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((d) => cidOfDigest(d).toString())
const amount = fc.bigInt({ min: 0n, max: 10n ** 31n - 1n })
const uint = (max = Number.MAX_SAFE_INTEGER): fc.Arbitrary<number> =>
  fc.oneof(fc.nat({ max: Math.min(max, 1000) }), fc.constant(max))
const c = <T extends string>(v: T): fc.Arbitrary<T> => fc.constant(v)

/** Every message kind, with fields inside the bounds the decoder enforces. */
const msg: fc.Arbitrary<Msg> = fc.oneof(
  rec({ type: c('transfer'), to: text(90), amount }),
  rec({ type: c('stake'), amount }),
  rec({ type: c('unstake'), amount }),
  fc
    .tuple(
      rec({
        type: c('register'),
        roles: fc.subarray([...ROLES].sort(), { minLength: 1 }),
        subnet: fc.option(uint(1023), { nil: null }),
      }),
      fc.option(rec({ consensusKey: hexOf(32), consensusKeyProof: hexOf(64) }), { nil: undefined }),
      fc.option(rec({ peerId: hexOf(32).map((k) => peerIdOfKey(fromHex(k) as Uint8Array)), peerIdProof: hexOf(64) }), {
        nil: undefined,
      }),
    )
    .map(([base, consensus, peer]): Msg => ({ ...base, ...consensus, ...peer })),
  rec({ type: c('commit'), taskId: text(64), commitment: hexOf(32) }),
  rec({ type: c('reveal'), taskId: text(64), cid, salt: hexOf(16), metadata: fc.oneof(fc.string(), cid) }),
  rec({
    type: c('aggregate'),
    window: uint(),
    subnet: uint(1023),
    claimsDigest: hexOf(32),
    // A bitmap of any length up to past bin8's 255 bytes (the chain checks its exact length).
    unavailable: fc.uint8Array({ maxLength: 300 }).map(toHex),
    adapterCid: cid,
  }),
  rec({ type: c('challenge'), claimId: text(160), bond: amount }),
  rec({ type: c('challenge'), claimId: text(160), bond: amount, trace: cid }),
  rec({ type: c('verifierClaim'), challengeId: text(32), proof: hexOf(80) }),
  rec({
    type: c('verifierResponse'),
    challengeId: text(32),
    verdict: fc.constantFrom('owner' as const, 'challenger' as const, 'unavailable' as const),
    proof: hexOf(80),
  }),
  rec({ type: c('appeal'), challengeId: text(32), bond: amount }),
  rec({
    type: c('arbiterVote'),
    challengeId: text(32),
    verdict: fc.constantFrom('fault' as const, 'no_fault' as const, 'unavailable' as const),
    proof: hexOf(80),
  }),
  rec({
    type: c('propose'),
    content: fc.oneof(
      rec({ kind: c('dataset'), cid, name: text(64), shardCount: fc.integer({ min: 1, max: 1_000_000 }) }),
      rec({
        kind: c('params'),
        changes: fc.dictionary(fc.string({ maxLength: 16 }), fc.oneof(fc.string(), fc.integer()), {
          maxKeys: 3,
          noNullPrototype: true,
        }),
      }),
    ),
  }),
  rec({
    type: c('vote'),
    proposalId: text(32),
    option: fc.constantFrom('yes' as const, 'no' as const, 'abstain' as const),
  }),
)

const body: fc.Arbitrary<TxBody> = rec({ chainId: text(64), nonce: uint(), fee: amount, msg })
const signedTx = fc.tuple(body, fc.constantFrom(...keys)).map(([b, k]) => encodeTx(b, k))

/** Arbitrary msgpack-able values: what a hostile client can put in any slot of the wire map. */
const wireValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.uint8Array({ maxLength: 100 }),
  fc.integer(),
  fc.double(),
  fc.constant(null),
)

/**
 * A valid transaction's wire map with one value, anywhere in it, replaced by an arbitrary
 * value, and packed canonically: past the msgpack checks, into the field checks.
 */
const hostileWire: fc.Arbitrary<Uint8Array> = fc
  .tuple(signedTx, fc.nat(), wireValue)
  .map(([bytes, pick, replacement]) => {
    const wire = unpackCanonical(bytes)
    const slots: { parent: Record<string | number, unknown>; key: string | number }[] = []
    const walk = (v: unknown): void => {
      if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return
      for (const [k, x] of Object.entries(v)) {
        slots.push({ parent: v as Record<string, unknown>, key: Array.isArray(v) ? Number(k) : k })
        walk(x)
      }
    }
    walk(wire)
    const slot = slots[pick % slots.length]
    if (slot !== undefined) slot.parent[slot.key] = replacement
    return packCanonical(wire)
  })

const keyOf = (pubKey: Uint8Array) => keys.find((k) => toHex(k.publicKey) === toHex(pubKey))

describe('fuzz: transaction decoding (decodeTx)', () => {
  it('raises only TxRejected on hostile bytes', () => {
    fc.assert(
      fc.property(hostileBytes(signedTx, 1024), (bytes) => {
        onlyTyped(() => decodeTx(bytes, MAX_TX_BYTES), TxRejected)
      }),
      fuzzParams(),
    )
  })

  it('raises only TxRejected on canonical msgpack with a hostile field', () => {
    fc.assert(
      fc.property(hostileWire, (bytes) => {
        onlyTyped(() => decodeTx(bytes, MAX_TX_BYTES), TxRejected)
      }),
      fuzzParams(),
    )
  })

  it('refuses a damaged transaction, or decodes one that encodes to exactly its bytes', () => {
    fc.assert(
      fc.property(fc.oneof(mutated(signedTx), hostileWire), (bytes) => {
        const tx = onlyTyped(() => decodeTx(bytes, MAX_TX_BYTES), TxRejected)
        if (tx === undefined) return
        const key = keyOf(tx.pubKey)
        assert.ok(key !== undefined, 'only a fuzz key signs')
        assert.equal(toHex(encodeTx(tx.body, key)), toHex(bytes))
      }),
      fuzzParams({ numRuns: 2000 }),
    )
  })

  it('decodes every valid transaction of every kind to the body that was signed', () => {
    fc.assert(
      fc.property(body, fc.constantFrom(...keys), (b, key) => {
        const tx = decodeTx(encodeTx(b, key), MAX_TX_BYTES)
        assert.deepStrictEqual(tx.body, b)
        assert.equal(tx.sender, key.address)
      }),
      fuzzParams(),
    )
  })

  it('refuses msgpack nested deeper than the stack with TxRejected', () => {
    const depth = 200_000
    // { b: [[[…]]], k: '', s: '' }: fixmap(3), 'b', then `depth` one-element arrays around [].
    const deep = new Uint8Array(3 + depth + 7)
    deep.set([0x83, 0xa1, 0x62])
    deep.fill(0x91, 3, 3 + depth)
    deep.set([0x90, 0xa1, 0x6b, 0xa0, 0xa1, 0x73, 0xa0], 3 + depth)
    assert.throws(() => decodeTx(deep, 1024 * 1024), TxRejected)
  })

  it('refuses the JSON encoding of a transaction with ERR_TX_DECODE', () => {
    const json = new TextEncoder().encode('{"body":{},"pubKey":"","sig":""}')
    assert.throws(
      () => decodeTx(json, MAX_TX_BYTES),
      (e) => e instanceof TxRejected && e.code === 'ERR_TX_DECODE',
    )
  })
})
