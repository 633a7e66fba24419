import assert from 'node:assert/strict'
import type { Signer } from '../../src/consensus/keys.ts'
import type { BlockSource } from '../../src/consensus/node.ts'
import type { NodeComponents } from '../../src/consensus/node-io.ts'
import { MemoryLastSignedStore, PrivValidator } from '../../src/consensus/privval.ts'
import { MemoryBlockStore, MemoryStateStore } from '../../src/consensus/stores.ts'
import type { CommittedBlock } from '../../src/consensus/types.ts'
import { MemoryWal } from '../../src/consensus/wal.ts'
import { Cluster } from './helpers/cluster.ts'

describe('catch-up from peers (BlockSource)', function () {
  this.timeout(60_000)

  it('a validator that was down fetches the blocks it missed, verifies them, and rejoins consensus', async () => {
    const cluster = new Cluster(4, 7)
    const signer = cluster.chain.signerByIndex[3] as Signer
    // Node 3's disk survives its downtime.
    const disk = {
      wal: new MemoryWal(),
      blockStore: new MemoryBlockStore(),
      stateStore: new MemoryStateStore(),
      privval: new PrivValidator(signer, new MemoryLastSignedStore()),
    }
    const keepDisk = (d: NodeComponents): NodeComponents => ({ ...d, ...disk })
    for (let i = 0; i < 3; i++) cluster.open(i)
    cluster.open(3, keepDisk)
    cluster.runUntil(60_000, () => cluster.height(3) >= 2)
    cluster.kill(3)
    cluster.runUntil(cluster.clock.monotonicMs() + 60_000, () => cluster.height(0) >= 12)
    const down = disk.blockStore.height()
    assert.ok(cluster.height(0) >= 12 && down < 5)

    // Restarted with the network cut, so only the block source can bring it up to date.
    cluster.cut.add(3)
    const node = cluster.open(3)
    const peer = cluster.nodes[0]
    assert.ok(peer !== undefined)
    let served = 0
    const source: BlockSource = {
      getBlock: async (h) => {
        served++
        return peer.io.components.blockStore.load(h)
      },
    }
    const applied = await node.catchUp(source)
    assert.equal(cluster.height(3), peer.io.components.blockStore.height(), 'caught up to the peer')
    assert.equal(applied, cluster.height(3) - down)
    assert.ok(served > applied)
    for (let h = 1; h <= cluster.height(3); h++)
      assert.equal(cluster.commits[3]?.get(h) ?? cluster.commits[0]?.get(h), cluster.commits[0]?.get(h))
    cluster.assertAgreement()

    // Back on the network it takes part again.
    cluster.cut.delete(3)
    const rejoinedAt = cluster.height(3)
    cluster.runUntil(cluster.clock.monotonicMs() + 30_000, () => cluster.height(3) >= rejoinedAt + 3)
    assert.ok(cluster.height(3) >= rejoinedAt + 3)
    cluster.assertAgreement()
    for (let i = 0; i < 4; i++) cluster.kill(i)
  })

  it('refuses a block whose commit does not verify', async () => {
    const cluster = new Cluster(4, 8)
    for (let i = 0; i < 3; i++) cluster.open(i)
    cluster.runUntil(60_000, () => cluster.height(0) >= 3)
    cluster.cut.add(3)
    const node = cluster.open(3)
    const peer = cluster.nodes[0]
    assert.ok(peer !== undefined)
    const forged: BlockSource = {
      getBlock: async (h) => {
        const real = peer.io.components.blockStore.load(h)
        if (real === undefined) return undefined
        const sigs = real.commit.signatures.map((s) => ({ ...s, signature: new Uint8Array(64).fill(3) }))
        return { block: real.block, commit: { ...real.commit, signatures: sigs } } satisfies CommittedBlock
      },
    }
    assert.equal(await node.catchUp(forged), 0)
    assert.equal(cluster.height(3), 0)
    for (let i = 0; i < 4; i++) cluster.kill(i)
  })
})
