import assert from 'node:assert/strict'
import { sha256 } from '../../../src/codec/hash.ts'
import { firstDifference, MerkleTree, merkleRoot, verifyMerkleProof } from '../../../src/codec/merkle.ts'
import { InvalidArgumentError } from '../../../src/runtime/errors.ts'

const items = (n: number, tag = 'x'): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => new TextEncoder().encode(`${tag}${i}`))

describe('codec/merkle: tree, inclusion proofs, bisection', () => {
  it('computes RFC 6962 roots: by hand for 0 to 3 items, and the tree equals the direct root for every size to 33', () => {
    const [a, b, c] = items(3) as [Uint8Array, Uint8Array, Uint8Array]
    const leaf = (x: Uint8Array) => sha256(Uint8Array.of(0), x)
    const node = (l: Uint8Array, r: Uint8Array) => sha256(Uint8Array.of(1), l, r)
    assert.deepEqual(merkleRoot([]), sha256())
    assert.deepEqual(merkleRoot([a]), leaf(a))
    assert.deepEqual(merkleRoot([a, b]), node(leaf(a), leaf(b)))
    assert.deepEqual(merkleRoot([a, b, c]), node(node(leaf(a), leaf(b)), leaf(c)))
    for (let n = 1; n <= 33; n++) assert.deepEqual(new MerkleTree(items(n)).root, merkleRoot(items(n)), `n=${n}`)
  })

  it('proves every item of every size, and refuses a proof for another item, index or root', () => {
    for (let n = 1; n <= 17; n++) {
      const tree = new MerkleTree(items(n))
      for (let i = 0; i < n; i++) {
        const proof = tree.proof(i)
        const item = items(n)[i] as Uint8Array
        assert.ok(verifyMerkleProof(tree.root, item, i, n, proof), `n=${n} i=${i}`)
        assert.ok(!verifyMerkleProof(tree.root, new Uint8Array([9]), i, n, proof))
        if (n > 1) assert.ok(!verifyMerkleProof(tree.root, item, (i + 1) % n, n, proof), `n=${n} i=${i} moved`)
        assert.ok(!verifyMerkleProof(merkleRoot(items(n, 'y')), item, i, n, proof))
      }
    }
    assert.throws(() => new MerkleTree(items(3)).proof(3), InvalidArgumentError)
  })

  it('bisection finds the first differing item of any size, comparing one pair per level', () => {
    for (let n = 1; n <= 40; n++) {
      const base = new MerkleTree(items(n))
      assert.equal(firstDifference(base, new MerkleTree(items(n))), null)
      for (let i = 0; i < n; i++) {
        const changed = items(n)
        changed[i] = new Uint8Array([1, 2, 3])
        // Everything after the first difference differs too: the first one is still found.
        for (let j = i + 1; j < n; j++) changed[j] = new Uint8Array([4, j])
        const found = firstDifference(base, new MerkleTree(changed))
        assert.equal(found?.index, i, `n=${n} i=${i}`)
        assert.ok((found?.comparisons as number) <= 1 + Math.ceil(Math.log2(n)), `n=${n}`)
      }
    }
    assert.throws(() => firstDifference(new MerkleTree(items(2)), new MerkleTree(items(3))), InvalidArgumentError)
    assert.throws(() => new MerkleTree([]), InvalidArgumentError)
  })
})
