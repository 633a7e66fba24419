import assert from 'node:assert/strict'
import { merkleRoot } from '../../src/codec/merkle.ts'
import { TxRejectedError } from '../../src/consensus/errors.ts'
import { KvApplication } from '../../src/consensus/kv-application.ts'
import { Mempool } from '../../src/consensus/mempool.ts'

const tx = (s: string) => new TextEncoder().encode(s)

describe('Mempool and the key-value application', () => {
  it('admits only what checkTx accepts, refuses duplicates, and keeps arrival order', () => {
    const pool = new Mempool(new KvApplication())
    pool.add(tx('a=1'))
    pool.add(tx('b=2'))
    assert.throws(
      () => pool.add(tx('no equals sign')),
      (e: unknown) => e instanceof TxRejectedError && /key=value/.test(e.message),
    )
    assert.throws(() => pool.add(tx('a=1')), /duplicate/)
    assert.deepEqual(
      pool.reap(1 << 20).map((t) => new TextDecoder().decode(t)),
      ['a=1', 'b=2'],
    )
  })

  it('answers admit with why it refused, as add throws it, and takes nothing it refused', () => {
    const pool = new Mempool(new KvApplication(), { maxTxs: 2 })
    assert.equal(pool.admit(tx('a=1')), null)
    assert.deepEqual(pool.admit(tx('a=1')), { reason: 'duplicate', invalid: false, notYet: false })
    const bad = pool.admit(tx('no equals sign'))
    assert.equal(bad?.invalid, true)
    assert.match(bad?.reason ?? '', /key=value/)
    assert.deepEqual(pool.admit(tx('no equals sign')), { reason: 'refused before', invalid: true, notYet: false })
    assert.equal(pool.admit(tx('b=1')), null)
    assert.equal(pool.admit(tx('c=1'))?.reason, 'mempool full (count)')
    assert.equal(pool.admit(new Uint8Array(0))?.invalid, true)
    assert.equal(pool.size, 2)
  })

  it('is bounded by count and by bytes, and reaps within a byte budget', () => {
    const byCount = new Mempool(new KvApplication(), { maxTxs: 2 })
    byCount.add(tx('a=1'))
    byCount.add(tx('b=1'))
    assert.throws(() => byCount.add(tx('c=1')), /full \(count\)/)
    const byBytes = new Mempool(new KvApplication(), { maxBytes: 10 })
    byBytes.add(tx('a=12345'))
    assert.throws(() => byBytes.add(tx('b=12345')), /full \(bytes\)/)
    assert.equal(byBytes.sizeBytes, 7)
    assert.throws(() => new Mempool(new KvApplication(), { maxTxBytes: 4 }).add(tx('a=12345')), /size/)
    const pool = new Mempool(new KvApplication())
    for (let i = 0; i < 10; i++) pool.add(tx(`k${i}=v`))
    assert.equal(pool.reap(12).length, 3, 'three 4-byte txs fit in 12 bytes')
  })

  it('drops committed txs and refuses them afterwards', () => {
    const pool = new Mempool(new KvApplication())
    pool.add(tx('a=1'))
    pool.add(tx('b=2'))
    pool.update([tx('a=1')])
    assert.equal(pool.size, 1)
    assert.throws(() => pool.add(tx('a=1')), /duplicate/)
  })

  it('takes again a tx the application refused at execution: it changed nothing, and may be valid now', () => {
    const pool = new Mempool(new KvApplication())
    pool.add(tx('a=1'))
    pool.add(tx('b=2'))
    // Both in a block; the application refused the second (index 1).
    pool.update([tx('a=1'), tx('b=2')], [1])
    assert.equal(pool.size, 0)
    assert.throws(() => pool.add(tx('a=1')), /duplicate/, 'the one applied is a replay')
    pool.add(tx('b=2'))
    assert.equal(pool.size, 1, 'the one refused is admitted again')
  })

  it('keys txs with the txKey it is given, for duplicates and commits alike', () => {
    const keyed: string[] = []
    const pool = new Mempool(new KvApplication(), {
      txKey: (t) => {
        const key = new TextDecoder().decode(t).split('=')[0] as string
        keyed.push(key)
        return key
      },
    })
    pool.add(tx('a=1'))
    assert.throws(() => pool.add(tx('a=2')), /duplicate/, 'the same key is the same tx')
    pool.add(tx('b=1'))
    pool.update([tx('b=9')])
    assert.equal(pool.size, 1)
    assert.deepEqual(keyed, ['a', 'a', 'b', 'b'])
  })

  it('the application executes blocks in order into a deterministic app hash, and answers queries', () => {
    const block = (height: number, txs: string[]) =>
      ({
        header: { height, txsRoot: merkleRoot(txs.map(tx)) },
        txs: txs.map(tx),
        evidence: [],
        lastCommit: null,
      }) as never
    const a = new KvApplication()
    const b = new KvApplication()
    const ha = a.executeBlock(block(1, ['x=1', 'y=2']))
    const hb = b.executeBlock(block(1, ['x=1', 'y=2']))
    assert.deepEqual(ha, hb)
    assert.notDeepEqual(a.executeBlock(block(2, ['x=3'])), ha)
    assert.equal(new TextDecoder().decode(a.query(tx('x'))), '3')
    assert.equal(a.info().height, 2)
    assert.throws(() => a.executeBlock(block(5, [])), /in order/)
  })
})
