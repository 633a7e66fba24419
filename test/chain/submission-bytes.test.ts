import assert from 'node:assert/strict'
import { saltFor } from '../../src/actors/roles/miner-task.ts'
import { traceMetadata } from '../../src/actors/training/protocol.ts'
import { labelCid } from '../../src/chain/genesis.ts'
import type { KeyPair } from '../../src/chain/keys.ts'
import { encodedEntryBytes } from '../../src/chain/snapshot.ts'
import type { Task } from '../../src/chain/state.ts'
import { type SubmissionBytes, submissionChainBytes } from '../../src/chain/submission-bytes.ts'
import { commitmentOf } from '../../src/chain/tx.ts'
import { Harness, keys } from './harness.ts'

describe('chain/submission-bytes: what one submission costs the chain', () => {
  it('counts the commit and reveal as encoded and the state entries of a real window’s replicated task', () => {
    const miners = [keys('miner0', 2), keys('miner1', 2)]
    // The default testnet's chain id (topology/default.yaml: r3mes-<name>), part of every body.
    const h = new Harness({ validators: keys('val', 1), miners, chainId: 'r3mes-default', params: { replication: 2 } })
    h.block()
    const task = (h.app.query('tasks/0') as Task[])[0] as Task
    const keyOf = (address: string): KeyPair => miners.flat().find((k) => k.address === address) as KeyPair
    // What a miner sends: a CID of its gradient, its derived salt, the trace CID as metadata.
    const cid = labelCid(`gradient/${task.id}`)
    const metadata = traceMetadata(labelCid(`trace/${task.id}`))
    const commits = task.miners.map((m) => {
      const commitment = commitmentOf(cid, m, task.id, saltFor(keyOf(m).secretKey, task.id))
      return h.tx(keyOf(m), { type: 'commit', taskId: task.id, commitment })
    })
    h.block(commits)
    const reveals = task.miners.map((m) =>
      h.tx(keyOf(m), { type: 'reveal', taskId: task.id, cid, salt: saltFor(keyOf(m).secretKey, task.id), metadata }),
    )
    for (const r of h.block(reveals)) assert.equal(r.code, 'OK', r.log)
    const [first, second] = task.miners.map((_, i) =>
      submissionChainBytes(h.app.state, commits[i] as Uint8Array, reveals[i] as Uint8Array),
    ) as [SubmissionBytes, SubmissionBytes]
    for (const b of [first, second]) {
      assert.equal(b.total, b.commitTx + b.revealTx + b.state)
      assert.equal(b.commitTx, (commits[0] as Uint8Array).length)
    }
    // Both replicas carry the same entries except the CID's first sighting, which only the first holds.
    const sighting = h.app.state.cidFirstSeen.get(cid)
    assert.ok(sighting !== undefined)
    const firstIndex = task.miners.indexOf(sighting.owner)
    const [owner, other] = firstIndex === 0 ? [first, second] : [second, first]
    assert.equal(owner.state - other.state, encodedEntryBytes(cid, sighting))
    // Measured commit 191 + reveal 255 = 446 B (canonical msgpack, raw keys and signature,
    // binary CIDs; the JSON encoding took 392 + 511 = 903 B), state 815–953 B.
    for (const b of [owner, other]) {
      assert.ok(b.commitTx + b.revealTx < 512, `commit ${b.commitTx} B + reveal ${b.revealTx} B`)
      assert.ok(b.commitTx + b.revealTx <= 460, `commit ${b.commitTx} B + reveal ${b.revealTx} B: the margin shrank`)
    }
    assert.ok(owner.state <= 1000, `the state entries take ${owner.state} B`)
    assert.ok(other.state <= 860, `the state entries take ${other.state} B`)
  })
  it('refuses a reveal larger than maxSubmissionBytes as encoded, whatever its metadata cap allows', () => {
    const miners = [keys('miner0', 2), keys('miner1', 2)]
    const h = new Harness({ validators: keys('val', 1), miners, params: { replication: 2, maxSubmissionBytes: 400 } })
    h.block()
    const task = (h.app.query('tasks/0') as Task[])[0] as Task
    const key = miners.flat().find((k) => k.address === task.miners[0]) as KeyPair
    const cid = labelCid(`gradient/${task.id}`)
    const salt = saltFor(key.secretKey, task.id)
    h.block([h.tx(key, { type: 'commit', taskId: task.id, commitment: commitmentOf(cid, key.address, task.id, salt) })])
    // 250 bytes of metadata: under maxMetadataBytes (256), but the reveal is over 400 bytes.
    const big = h.tx(key, { type: 'reveal', taskId: task.id, cid, salt, metadata: 'x'.repeat(250) })
    assert.ok(big.length > 400 && big.length < 511, `the reveal is ${big.length} B`)
    const [refused] = h.block([big])
    assert.equal(refused?.code, 'ERR_METADATA_TOO_LARGE', refused?.log)
    assert.match(refused?.log ?? '', /reveal is \d+ bytes, the limit is 400/)
    const [ok] = h.block([h.tx(key, { type: 'reveal', taskId: task.id, cid, salt, metadata: 'x'.repeat(100) })])
    assert.equal(ok?.code, 'OK', ok?.log)
  })
})
