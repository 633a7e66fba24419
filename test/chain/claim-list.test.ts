/**
 * The digest an aggregate names for the claims it took (src/chain/claim-list.ts): fixed size,
 * order-sensitive, and no two different lists feed it the same bytes.
 */
import assert from 'node:assert/strict'
import { claimListDigest } from '../../src/chain/claim-list.ts'
import { sha256Hex } from '../../src/codec/hash.ts'

describe('chain/claim-list: the digest of an aggregate’s claims', () => {
  it('is 32 bytes of hex whatever the length of the list, and pinned to its definition', () => {
    const many = Array.from({ length: 256 }, (_, i) => `0.${i}.0/r3mes1${'q'.repeat(38)}`)
    for (const ids of [[], ['a'], many]) assert.match(claimListDigest(ids), /^[0-9a-f]{64}$/)
    // SHA-256("r3mes/claims/1\0" ‖ u32 count ‖ (u32 length ‖ bytes)…), big-endian.
    const expected = sha256Hex(
      'r3mes/claims/1\0',
      new Uint8Array([0, 0, 0, 2]),
      new Uint8Array([0, 0, 0, 1]),
      'a',
      new Uint8Array([0, 0, 0, 2]),
      'bc',
    )
    assert.equal(claimListDigest(['a', 'bc']), expected)
  })

  it('tells apart lists that differ in order, in one entry, or only in where the entries split', () => {
    const lists = [[], [''], ['', ''], ['a', 'bc'], ['ab', 'c'], ['abc'], ['bc', 'a'], ['a', 'bc', 'd'], ['a', 'b']]
    const digests = new Set(lists.map(claimListDigest))
    assert.equal(digests.size, lists.length)
    assert.equal(claimListDigest(['a', 'bc']), claimListDigest(['a', 'bc']))
  })
})
