/**
 * A Merkle tree over a list of items (RFC 6962: leaf and node hashes are prefixed, so a leaf
 * never equals a node; a subtree of n items splits at the largest power of two below n), with
 * inclusion proofs and the bisection two parties' trees are compared by: descend from the
 * root into the first child whose hashes differ, so the first differing item is found by
 * comparing one pair of hashes per level.
 */

import { InvalidArgumentError } from '../runtime/errors.ts'
import { bytesEqual } from './bytes.ts'
import { sha256 } from './hash.ts'

const LEAF = new Uint8Array([0])
const NODE = new Uint8Array([1])

/** The hash a tree keeps for item bytes. */
export function merkleLeaf(item: Uint8Array): Uint8Array {
  return sha256(LEAF, item)
}

function merkleNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE, left, right)
}

/** Where the subtree of `count` items splits: the largest power of two below it. */
function splitOf(count: number): number {
  let split = 1
  while (split * 2 < count) split *= 2
  return split
}

/** A tree's node hashes by item range, computed once. */
export class MerkleTree {
  readonly #items: readonly Uint8Array[]
  readonly #nodes = new Map<string, Uint8Array>()

  constructor(items: readonly Uint8Array[]) {
    if (items.length === 0) throw new InvalidArgumentError('a Merkle tree needs at least one item')
    this.#items = items
  }

  get size(): number {
    return this.#items.length
  }

  get root(): Uint8Array {
    return this.node(0, this.#items.length)
  }

  /** The hash of the subtree over items [start, end). */
  node(start: number, end: number): Uint8Array {
    const key = `${start}:${end}`
    const known = this.#nodes.get(key)
    if (known !== undefined) return known
    const hash =
      end - start === 1
        ? merkleLeaf(this.#items[start] as Uint8Array)
        : merkleNode(this.node(start, start + splitOf(end - start)), this.node(start + splitOf(end - start), end))
    this.#nodes.set(key, hash)
    return hash
  }

  /** The sibling hashes from item `index` up to the root, lowest first. */
  proof(index: number): Uint8Array[] {
    if (!(Number.isInteger(index) && index >= 0 && index < this.size))
      throw new InvalidArgumentError(`item ${index} is not in a tree of ${this.size}`)
    const path: Uint8Array[] = []
    let start = 0
    let end = this.size
    while (end - start > 1) {
      const mid = start + splitOf(end - start)
      if (index < mid) {
        path.push(this.node(mid, end))
        end = mid
      } else {
        path.push(this.node(start, mid))
        start = mid
      }
    }
    return path.reverse()
  }
}

/**
 * The root of a tree over `items` (the hash of nothing for an empty list), computed directly,
 * without keeping the nodes: what a block's transaction and evidence roots use.
 */
export function merkleRoot(items: readonly Uint8Array[]): Uint8Array {
  if (items.length === 0) return sha256()
  return subtreeRoot(items, 0, items.length)
}

function subtreeRoot(items: readonly Uint8Array[], start: number, end: number): Uint8Array {
  if (end - start === 1) return merkleLeaf(items[start] as Uint8Array)
  const split = start + splitOf(end - start)
  return merkleNode(subtreeRoot(items, start, split), subtreeRoot(items, split, end))
}

/** Whether `item` is item `index` of a `size`-item tree with `root`, by its inclusion `proof`. */
export function verifyMerkleProof(
  root: Uint8Array,
  item: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): boolean {
  if (!(Number.isInteger(index) && Number.isInteger(size) && index >= 0 && index < size)) return false
  // The sides the path takes from the root down, then folded from the leaf up.
  const rights: boolean[] = []
  let start = 0
  let end = size
  while (end - start > 1) {
    const mid = start + splitOf(end - start)
    rights.push(index >= mid)
    if (index < mid) end = mid
    else start = mid
  }
  if (rights.length !== proof.length) return false
  let hash = merkleLeaf(item)
  for (let i = 0; i < proof.length; i++) {
    const sibling = proof[i] as Uint8Array
    hash = rights[rights.length - 1 - i] === true ? merkleNode(sibling, hash) : merkleNode(hash, sibling)
  }
  return bytesEqual(hash, root)
}

export interface FirstDifference {
  /** The first item where the trees differ. */
  readonly index: number
  /** Pairs of node hashes compared to find it (one per level, plus the roots). */
  readonly comparisons: number
}

/**
 * The first item where two trees of the same size differ, by bisection from the roots; null
 * when the roots are equal.
 */
export function firstDifference(a: MerkleTree, b: MerkleTree): FirstDifference | null {
  if (a.size !== b.size) throw new InvalidArgumentError(`trees of ${a.size} and ${b.size} items do not compare`)
  let comparisons = 1
  if (bytesEqual(a.root, b.root)) return null
  let start = 0
  let end = a.size
  while (end - start > 1) {
    const mid = start + splitOf(end - start)
    comparisons++
    if (!bytesEqual(a.node(start, mid), b.node(start, mid))) end = mid
    else start = mid
  }
  return { index: start, comparisons }
}
