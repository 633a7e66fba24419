/**
 * The aggregate's `unavailable` bitmap: one bit per accepted submission in the chain's order,
 * one canonical encoding, and an aggregate transaction that fits `maxTxBytes` however many
 * submissions the fullest window allowed by the parameters declares unavailable.
 */
import assert from 'node:assert/strict'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { TxRejected } from '../../src/chain/errors.ts'
import { isCid } from '../../src/chain/genesis.ts'
import type { KeyPair } from '../../src/chain/keys.ts'
import {
  AGGREGATE_TX_FIXED_BYTES,
  defaultParams,
  MAX_ACCEPTED_PER_AGGREGATION,
  validateParams,
} from '../../src/chain/params.ts'
import { decodeTx, encodeTx } from '../../src/chain/tx.ts'
import { declaredUnavailable, unavailableBitmap, unavailableBitmapBytes } from '../../src/chain/unavailable-bitmap.ts'
import { MAX_UNAVAILABLE_BITMAP_BYTES } from '../../src/runtime/limits.ts'
import { keys } from './harness.ts'

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `0.0.${String(i).padStart(5, '0')}/m`)
const refusal = (pattern: RegExp) => (e: unknown) =>
  e instanceof TxRejected && e.code === 'ERR_BAD_AGGREGATE' && pattern.test(e.message)

describe('chain: the unavailable bitmap of an aggregate', () => {
  it('sets bit i (least significant first in byte ⌊i/8⌋) for accepted submission i, and reads back the same ids', () => {
    const accepted = ids(10)
    assert.equal(unavailableBitmap(accepted, []), '0000')
    assert.equal(unavailableBitmap(accepted, [accepted[0] as string]), '0100')
    assert.equal(unavailableBitmap(accepted, [accepted[7] as string, accepted[9] as string]), '8002')
    assert.equal(unavailableBitmap([], []), '')
    const declared = [accepted[9], accepted[1], accepted[4]] as string[]
    assert.deepEqual(
      declaredUnavailable(unavailableBitmap(accepted, declared), accepted, 'w'),
      [accepted[1], accepted[4], accepted[9]],
      'in the chain’s order, whatever order they were declared in',
    )
    for (const n of [1, 7, 8, 9, 200, 4096]) assert.equal(unavailableBitmapBytes(n), Math.ceil(n / 8))
    assert.throws(() => unavailableBitmap(accepted, ['nobody']), /nobody is not one of the 10 accepted submissions/)
  })

  it('refuses a bitmap of any other length than ⌈n/8⌉, or with a padding bit set, naming the field and the window', () => {
    const accepted = ids(10)
    assert.throws(
      () => declaredUnavailable('00', accepted, 'window 3 subnet 1'),
      refusal(
        /'msg.unavailable' must be 2 bytes, one bit for each of the 10 accepted submissions of window 3 subnet 1; it is 1 byte/,
      ),
    )
    assert.throws(() => declaredUnavailable('000000', accepted, 'w'), refusal(/must be 2 bytes, .*; it is 3 bytes/))
    assert.throws(() => declaredUnavailable('zz00', accepted, 'w'), refusal(/must be 2 bytes, .*; it is not hex/))
    // Bits 10 to 15 are padding: each one set is refused, so one set has one encoding.
    for (let bit = 10; bit < 16; bit++) {
      const hex = `00${(1 << (bit - 8)).toString(16).padStart(2, '0')}`
      assert.throws(
        () => declaredUnavailable(hex, accepted, 'window 3 subnet 1'),
        refusal(/'msg.unavailable' sets a padding bit past the 10 accepted submissions of window 3 subnet 1/),
        hex,
      )
    }
    assert.deepEqual(declaredUnavailable('0003', accepted, 'w'), [accepted[8], accepted[9]])
    assert.deepEqual(declaredUnavailable('ff', ids(8), 'w'), ids(8), 'no padding when n is a multiple of 8')
  })

  it('the largest aggregate the chain can accept is 363 bytes plus its bitmap, and the parameters keep that within maxTxBytes', () => {
    const signer = keys('bitmap-size', 1)[0] as KeyPair
    // Every part at its largest: a 48-character chain id (the most genesis allows), a 31-digit
    // fee, nonce and window at 2^53 − 1, subnet 1023, and a CID whose canonical text is 128
    // characters (79 bytes: an identity multihash of 75).
    const adapterCid = CID.create(1, 0x55, identity.digest(new Uint8Array(75).fill(7))).toString()
    assert.equal(adapterCid.length, 128)
    assert.ok(isCid(adapterCid))
    const size = (bitmapBytes: number): number => {
      const bytes = encodeTx(
        {
          chainId: 'a'.repeat(48),
          nonce: Number.MAX_SAFE_INTEGER,
          fee: 10n ** 31n - 1n,
          msg: {
            type: 'aggregate',
            window: Number.MAX_SAFE_INTEGER,
            subnet: 1023,
            claimsDigest: 'ff'.repeat(32),
            unavailable: 'ff'.repeat(bitmapBytes),
            adapterCid,
          },
        },
        signer,
      )
      assert.equal(decodeTx(bytes, 1 << 20).body.msg.type, 'aggregate', 'the transaction decodes')
      return bytes.length
    }
    const fullest = unavailableBitmapBytes(MAX_ACCEPTED_PER_AGGREGATION)
    assert.equal(fullest, 8192, '4,096 shards × 16 replicas, a bit each')
    assert.equal(fullest, MAX_UNAVAILABLE_BITMAP_BYTES, 'what the decoder takes')
    assert.equal(size(fullest), AGGREGATE_TX_FIXED_BYTES + fullest)
    assert.equal(size(256), AGGREGATE_TX_FIXED_BYTES + 256, 'bin16 from 256 bytes on')
    assert.equal(size(255), AGGREGATE_TX_FIXED_BYTES - 1 + 255, 'bin8 below: one byte less')
    // The defaults: 512 shards × 2 replicas, 128 bytes of bitmap, well inside 2,048.
    assert.ok(size(128) <= defaultParams.maxTxBytes)
    // The greatest bounds need maxTxBytes of 363 + 8,192 = 8,555; less is refused, naming it.
    const largest = { ...defaultParams, shardsPerWindow: 4096, replication: 16 }
    assert.equal(validateParams({ ...largest, maxTxBytes: 8555 }).maxTxBytes, 8555)
    assert.throws(
      () => validateParams({ ...largest, maxTxBytes: 8554 }),
      /params\.maxTxBytes.*must be at least 8555: an aggregate declaring any of the 65536 submissions/,
    )
    // At 2,048 bytes a subnet's window may hold (2048 − 363) × 8 = 13,480 submissions: 842 × 16
    // = 13,472 fit, 843 × 16 = 13,488 do not.
    assert.equal(validateParams({ ...defaultParams, shardsPerWindow: 842, replication: 16 }).shardsPerWindow, 842)
    assert.throws(() => validateParams({ ...defaultParams, shardsPerWindow: 843, replication: 16 }), /maxTxBytes/)
    assert.equal(size(13_480 / 8), 2048)
  })
})
