import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'
import fc from 'fast-check'
import { keyPairFromSeed } from '../../src/chain/keys.ts'
import { sortition } from '../../src/chain/sortition.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { vrfOutput, vrfProofToHash, vrfProve, vrfVerify, vrfVerifyUncached } from '../../src/codec/vrf.ts'
import {
  encodeToCurve,
  vrfOutputReference,
  vrfProofToHashReference,
  vrfProveReference,
  vrfVerifyReference,
} from '../../src/codec/vrf-reference.ts'

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const le = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).reverse().toString('hex') || '0'}`)

/**
 * RFC 9381 Appendix B.3, ECVRF-EDWARDS25519-SHA512-TAI, Examples 16, 17 and 18: every value
 * as printed (H, U = k·B and V = k·H included, so a wrong step cannot hide behind luck).
 */
const B3 = [
  {
    name: 'Example 16 (alpha empty)',
    sk: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pk: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    alpha: '',
    x: '307c83864f2833cb427a2ef1c00a013cfdff2768d980c0a3a520f006904de94f',
    h: '91bbed02a99461df1ad4c6564a5f5d829d0b90cfc7903e7a5797bd658abf3318',
    k: '8a49edbd1492a8ee09766befe50a7d563051bf3406cbffc20a88def030730f0f',
    u: 'aef27c725be964c6a9bf4c45ca8e35df258c1878b838f37d9975523f09034071',
    v: '5016572f71466c646c119443455d6cb9b952f07d060ec8286d678615d55f954f',
    pi: '8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805',
    beta: '90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae',
  },
  {
    name: 'Example 17 (alpha 72)',
    sk: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pk: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    alpha: '72',
    x: '68bd9ed75882d52815a97585caf4790a7f6c6b3b7f821c5e259a24b02e502e51',
    h: '5b659fc3d4e9263fd9a4ed1d022d75eaacc20df5e09f9ea937502396598dc551',
    k: 'd8c3a66921444cb3427d5d989f9b315aa8ca3375e9ec4d52207711a1fdb44107',
    u: '1dcb0a4821a2c48bf53548228b7f170962988f6d12f5439f31987ef41f034ab3',
    v: 'fd03c0bf498c752161bae4719105a074630a2aa5f200ff7b3995f7bfb1513423',
    pi: 'f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c92a465301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02',
    beta: 'eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031',
  },
  {
    name: 'Example 18 (alpha af82)',
    sk: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pk: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    alpha: 'af82',
    x: '909a8b755ed902849023a55b15c23d11ba4d7f4ec5c2f51b1325a181991ea95c',
    h: 'bf4339376f5542811de615e3313d2b36f6f53c0acfebb482159711201192576a',
    k: '5ffdbc72135d936014e8ab708585fda379405542b07e3bd2c0bd48437fbac60a',
    u: '2bae73e15a64042fcebf062abe7e432b2eca6744f3e8265bc38e009cd577ecd5',
    v: '88cba1cb0d4f9b649d9a86026b69de076724a93a65c349c988954f0961c5d506',
    pi: '9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf8096bb474e53895c362d8628ee9f9ea3c0e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e',
    beta: '645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c452118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f',
  },
]

describe('codec/vrf: ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381)', () => {
  for (const v of B3) {
    it(`reproduces RFC 9381 B.3 ${v.name}, natively and by the reference`, () => {
      const kp = keyPairFromSeed(hex(v.sk))
      assert.equal(toHex(kp.publicKey), v.pk)
      assert.equal(toHex(encodeToCurve(kp.publicKey, hex(v.alpha)).toBytes()), v.h)
      for (const [path, prove, output, toHash, verify] of [
        ['native', vrfProve, vrfOutput, vrfProofToHash, vrfVerifyUncached],
        ['cached', vrfProve, vrfOutput, vrfProofToHash, vrfVerify],
        ['reference', vrfProveReference, vrfOutputReference, vrfProofToHashReference, vrfVerifyReference],
      ] as const) {
        const pi = prove(hex(v.sk), hex(v.alpha))
        assert.equal(toHex(pi), v.pi, path)
        assert.equal(toHex(toHash(pi) as Uint8Array), v.beta, path)
        assert.equal(toHex(output(hex(v.sk), hex(v.alpha))), v.beta, `${path}: the output without a proof`)
        assert.equal(toHex(verify(hex(v.pk), hex(v.alpha), hex(v.pi)) as Uint8Array), v.beta, path)
      }
      // Intermediates: the secret scalar x, the nonce k = SHA-512(prefix ‖ H) mod q, U = k·B, V = k·H.
      const ext = ed25519.utils.getExtendedPublicKey(hex(v.sk))
      assert.equal(ext.scalar, le(hex(v.x)) % ed25519.Point.Fn.ORDER)
      const h = encodeToCurve(kp.publicKey, hex(v.alpha))
      const k =
        le(new Uint8Array(createHash('sha512').update(ext.prefix).update(h.toBytes()).digest())) %
        ed25519.Point.Fn.ORDER
      assert.equal(k, le(hex(v.k)))
      assert.equal(toHex(ed25519.Point.BASE.multiply(k).toBytes()), v.u)
      assert.equal(toHex(h.multiply(k).toBytes()), v.v)
    })
  }

  it('the output without a proof is the hash of the proof, for any key and input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 64 }), (sk, alpha) => {
        assert.equal(toHex(vrfOutput(sk, alpha)), toHex(vrfProofToHash(vrfProve(sk, alpha)) as Uint8Array))
      }),
      { numRuns: 40 },
    )
  })

  it('rejects tampered proofs, a wrong alpha, a wrong key and small-order keys', () => {
    const [a, b] = B3 as [(typeof B3)[0], (typeof B3)[0]]
    const pi = hex(a.pi)
    for (const pos of [0, 31, 32, 47, 48, 79]) {
      const bad = pi.slice()
      bad[pos] = (bad[pos] as number) ^ 1
      assert.equal(vrfVerify(hex(a.pk), hex(a.alpha), bad), undefined, `octet ${pos}`)
    }
    assert.equal(vrfVerify(hex(a.pk), Uint8Array.of(0), pi), undefined)
    assert.equal(vrfVerify(hex(b.pk), hex(a.alpha), pi), undefined)
    assert.equal(vrfVerify(hex(a.pk), hex(a.alpha), pi.subarray(0, 79)), undefined)
    const identity = new Uint8Array(32)
    identity[0] = 1
    assert.equal(vrfVerify(identity, hex(a.alpha), pi), undefined)
    // s >= q is rejected (non-canonical scalar).
    const bigS = pi.slice()
    bigS.fill(0xff, 48, 80)
    assert.equal(vrfVerify(hex(a.pk), hex(a.alpha), bigS), undefined)
  })

  it('sortition is deterministic, order-free, distinct, and follows stake', () => {
    const cands = [
      { address: 'a', weight: 1n },
      { address: 'b', weight: 3n },
      { address: 'c', weight: 0n },
      { address: 'd', weight: 6n },
    ]
    const seed = hex('00112233')
    assert.deepEqual(sortition(seed, cands, 3), sortition(seed, cands.slice().reverse(), 3))
    const three = sortition(seed, cands, 5)
    assert.equal(three.length, 3, 'zero-weight candidates are never chosen')
    assert.equal(new Set(three).size, 3)
    const counts = new Map<string, number>()
    for (let i = 0; i < 4000; i++) {
      const [first] = sortition(Uint8Array.of(i & 0xff, i >> 8), cands, 1)
      counts.set(first as string, (counts.get(first as string) ?? 0) + 1)
    }
    assert.ok(Math.abs((counts.get('d') ?? 0) / 4000 - 0.6) < 0.04, `d chosen ${counts.get('d')}`)
    assert.ok(Math.abs((counts.get('a') ?? 0) / 4000 - 0.1) < 0.03, `a chosen ${counts.get('a')}`)
    assert.equal(counts.get('c'), undefined)
  })
})
