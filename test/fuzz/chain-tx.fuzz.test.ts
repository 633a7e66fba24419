/**
 * Fuzzing transaction decoding (decodeTx: stateless admission of bytes from a client or a
 * peer): hostile bytes and well-formed JSON with hostile fields only ever raise TxRejected,
 * and every valid transaction of every kind decodes to the body that was signed.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { TxRejected } from '../../src/chain/errors.ts'
import { peerIdOfKey, testKey } from '../../src/chain/keys.ts'
import { ROLES } from '../../src/chain/params.ts'
import { decodeTx, encodeTx, type Msg, type TxBody } from '../../src/chain/tx.ts'
import { fromHex, toHex } from '../../src/codec/bytes.ts'
import { canonicalJson, type JsonValue } from '../../src/codec/canonical-json.ts'
import { fuzzParams, hostileBytes, onlyTyped, rec } from './helpers/bytes.ts'

const MAX_TX_BYTES = 64 * 1024
const keys = [testKey('fuzz/a'), testKey('fuzz/b')]

const text = (maxLength: number): fc.Arbitrary<string> => fc.string({ minLength: 1, maxLength })
const hexOf = (bytes: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map(toHex)
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
  rec({ type: c('reveal'), taskId: text(64), cid: text(128), salt: hexOf(16), metadata: fc.string() }),
  rec({
    type: c('aggregate'),
    window: uint(),
    subnet: uint(1023),
    claims: fc.array(text(160), { maxLength: 4 }),
    unavailable: fc.array(text(160), { maxLength: 4 }),
    adapterCid: text(128),
  }),
  rec({ type: c('challenge'), claimId: text(160), bond: amount }),
  rec({ type: c('verifierClaim'), challengeId: text(32), proof: hexOf(80) }),
  rec({
    type: c('verifierResponse'),
    challengeId: text(32),
    verdict: fc.constantFrom('owner' as const, 'challenger' as const, 'unavailable' as const),
    proof: hexOf(80),
  }),
  rec({
    type: c('arbiterVote'),
    challengeId: text(32),
    verdict: fc.constantFrom('fault' as const, 'no_fault' as const, 'unavailable' as const),
    proof: hexOf(80),
  }),
  rec({
    type: c('propose'),
    content: fc.oneof(
      rec({ kind: c('dataset'), cid: text(128), name: text(64), shardCount: fc.integer({ min: 1, max: 1_000_000 }) }),
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

/**
 * A valid transaction's JSON with one value, anywhere in it, replaced by arbitrary JSON, and
 * re-encoded canonically: past the parser and the canonical-form check, into the field checks.
 */
const hostileJson: fc.Arbitrary<Uint8Array> = fc
  .tuple(signedTx, fc.nat(), fc.jsonValue({ maxDepth: 3 }))
  .map(([bytes, pick, replacement]) => {
    const json = JSON.parse(new TextDecoder().decode(bytes)) as JsonValue
    const slots: { parent: Record<string, JsonValue> | JsonValue[]; key: string | number }[] = []
    const walk = (v: JsonValue): void => {
      if (v === null || typeof v !== 'object') return
      for (const [k, x] of Object.entries(v)) {
        slots.push({ parent: v, key: Array.isArray(v) ? Number(k) : k })
        walk(x)
      }
    }
    walk(json)
    const slot = slots[pick % slots.length]
    if (slot !== undefined) (slot.parent as Record<string | number, JsonValue>)[slot.key] = replacement as JsonValue
    return new TextEncoder().encode(canonicalJson(json))
  })

describe('fuzz: transaction decoding (decodeTx)', () => {
  it('raises only TxRejected on hostile bytes', () => {
    fc.assert(
      fc.property(hostileBytes(signedTx, 1024), (bytes) => {
        onlyTyped(() => decodeTx(bytes, MAX_TX_BYTES), TxRejected)
      }),
      fuzzParams(),
    )
  })

  it('raises only TxRejected on canonical JSON with a hostile field', () => {
    fc.assert(
      fc.property(hostileJson, (bytes) => {
        onlyTyped(() => decodeTx(bytes, MAX_TX_BYTES), TxRejected)
      }),
      fuzzParams(),
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

  it('refuses JSON nested deeper than the stack with TxRejected', () => {
    const depth = 30_000
    const deep = `{"body":${'['.repeat(depth)}${']'.repeat(depth)},"pubKey":"","sig":""}`
    assert.throws(() => decodeTx(new TextEncoder().encode(deep), 1024 * 1024), TxRejected)
  })
})
