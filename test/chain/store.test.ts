/**
 * The journaled tables' digest: kept leaf by leaf (and group by group) as writes and undos
 * come, it must equal the digest of a table built afresh with the same content, whatever the
 * order of writes.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Journal, Table } from '../../src/chain/store.ts'
import { toHex } from '../../src/codec/bytes.ts'

type Op =
  | { readonly kind: 'set'; readonly key: string; readonly value: number }
  | { readonly kind: 'delete'; readonly key: string }
  | { readonly kind: 'mark' }
  | { readonly kind: 'rollback' }
  | { readonly kind: 'digest' }

/** A key's digest leaf, as the state hash defines it: 32-bit FNV-1a of its UTF-16 code units, modulo 4096. */
function leafOf(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h >>> 0) % 4096
}

/** Keys that share a leaf with `k-0`, and keys in other leaves of its group (64 leaves a group). */
const sameLeaf: string[] = []
const sameGroup: string[] = []
for (let i = 1; sameLeaf.length < 6 || sameGroup.length < 6; i++) {
  const k = `k-${i}`
  if (leafOf(k) === leafOf('k-0')) sameLeaf.push(k)
  else if (Math.floor(leafOf(k) / 64) === Math.floor(leafOf('k-0') / 64) && sameGroup.length < 6) sameGroup.push(k)
}

/** Keys from a small pool (so writes hit existing keys, shared leaves and shared groups), some long. */
const key = fc.oneof(
  fc.integer({ min: 0, max: 40 }).map((i) => `k-${i}`),
  fc.constantFrom('k-0', ...sameLeaf, ...sameGroup),
  fc.string({ minLength: 0, maxLength: 30 }),
)
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'mark' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'rollback' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'digest' as const }) },
)

function fresh(entries: readonly (readonly [string, { n: number }])[]): Table<{ n: number }> {
  const t = new Table<{ n: number }>('t', new Journal())
  for (const [k, v] of entries) t.set(k, v)
  return t
}

describe('chain/store: table digests', () => {
  it('equal the digest of the same content written afresh, in any order, through writes, undos and digests between', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const journal = new Journal()
        const t = new Table<{ n: number }>('t', journal)
        const marks: number[] = []
        for (const o of ops) {
          if (o.kind === 'set') t.set(o.key, { n: o.value })
          else if (o.kind === 'delete') t.delete(o.key)
          else if (o.kind === 'mark') marks.push(journal.mark())
          else if (o.kind === 'rollback') journal.rollback(marks.pop() ?? 0)
          else t.digest()
        }
        const entries = t.entries()
        const expected = toHex(fresh(entries).digest())
        assert.equal(toHex(t.digest()), expected)
        assert.equal(toHex(fresh([...entries].reverse()).digest()), expected)
        const restored = new Table<{ n: number }>('t', new Journal())
        restored.replaceAll(entries)
        assert.equal(toHex(restored.digest()), expected)
      }),
      { numRuns: 300 },
    )
  })

  it('keeps the right digest through nested dry runs of one leaf rolled back one by one', () => {
    const journal = new Journal()
    const t = new Table<{ n: number }>('claims', journal)
    for (let i = 0; i < 200; i++) t.set(`claim-${i}`, { n: i })
    for (const k of [...sameLeaf, ...sameGroup]) t.set(k, { n: -1 })
    journal.commit()
    const digestOf = (): string => toHex(t.digest())
    const original = digestOf()
    const outer = journal.mark()
    // Written and not digested: the leaf's digest is stale when the inner dry run begins.
    t.set('k-0', { n: 1 })
    const inner = journal.mark()
    t.set(sameLeaf[0] as string, { n: 3 })
    t.set('k-0', { n: 2 })
    t.delete(sameLeaf[1] as string)
    t.set('k-new', { n: 4 })
    assert.equal(digestOf(), toHex(fresh(t.entries()).digest()))
    journal.rollback(inner)
    assert.equal(digestOf(), toHex(fresh(t.entries()).digest()), 'back to the first write')
    const inner2 = journal.mark()
    t.set(sameLeaf[2] as string, { n: 5 })
    journal.rollback(inner2)
    assert.equal(digestOf(), toHex(fresh(t.entries()).digest()), 'a digested leaf written and rolled back')
    journal.rollback(outer)
    assert.equal(digestOf(), original, 'back to the committed content')
  })

  it('changes when any value changes, a key comes or goes, and comes back when the change is rolled back', () => {
    const journal = new Journal()
    const t = new Table<{ n: number }>('claims', journal)
    for (let i = 0; i < 2000; i++) t.set(`claim-${i}`, { n: i })
    journal.commit()
    const before = toHex(t.digest())
    const seen = new Set([before])
    const changes: [string, () => void][] = [
      ['a value', () => t.set('claim-1234', { n: -1 })],
      ['a new key', () => t.set('claim-2000', { n: 0 })],
      ['a removed key', () => t.delete('claim-7')],
      ['a value set to what it was', () => t.set('claim-5', { n: 5 })],
    ]
    for (const [what, change] of changes) {
      const mark = journal.mark()
      change()
      const after = toHex(t.digest())
      if (what === 'a value set to what it was') assert.equal(after, before, what)
      else {
        assert.ok(!seen.has(after), `${what}: the digest moved`)
        seen.add(after)
      }
      journal.rollback(mark)
      assert.equal(toHex(t.digest()), before, `${what}: rolled back`)
    }
  })
})
