/**
 * Restarting from a snapshot, for real: one validator (a real `ChainNode` on a real libp2p
 * node, stores on disk) commits blocks with transfers past several snapshots, stops, and a
 * new node on the same home restores the newest snapshot and executes only the blocks after
 * it, to the same app hashes. A damaged newest snapshot falls back to the older one; a home
 * whose blocks are pruned and whose snapshots are all unusable refuses to start, saying why.
 */
import assert from 'node:assert/strict'
import { readdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChainNode, type StorageOptions } from '../../src/actors/chain-node.ts'
import { type Genesis, localTestnetGenesis } from '../../src/chain/genesis.ts'
import { type KeyPair, keyPairFromSeed, testKey } from '../../src/chain/keys.ts'
import { encodeTx } from '../../src/chain/tx.ts'
import type { TimeoutConfig } from '../../src/consensus/core-types.ts'
import { StoreCorruptError } from '../../src/consensus/errors.ts'
import { seedFor } from '../consensus/helpers/fixtures.ts'
import { CHAIN_ID, type Cluster, components, startNodes, waitFor } from '../net/helpers.ts'

const TIMEOUTS: TimeoutConfig = {
  proposeMs: 600,
  proposeDeltaMs: 100,
  prevoteMs: 200,
  prevoteDeltaMs: 100,
  precommitMs: 200,
  precommitDeltaMs: 100,
  commitMs: 50,
}
const STORAGE: StorageOptions = { snapshotIntervalBlocks: 5, keepBlocks: 2 }

const seed = seedFor(`${CHAIN_ID}/restart/validator`)
const users = Array.from({ length: 4 }, (_, i) => testKey(`restart-user-${i}`))
const genesis: Genesis = localTestnetGenesis({ chainId: CHAIN_ID, validators: [keyPairFromSeed(seed)], funded: users })

interface Running {
  readonly chain: ChainNode
  readonly cluster: Cluster
}

async function start(home: string): Promise<Running> {
  const cluster = await startNodes(1)
  try {
    const chain = new ChainNode(
      {
        home,
        genesis,
        consensusSeed: seed,
        net: cluster.nodes[0] as NonNullable<(typeof cluster.nodes)[0]>,
        timeouts: TIMEOUTS,
        storage: STORAGE,
        onFatal: (error) => {
          throw error
        },
      },
      components('restart'),
    )
    chain.start()
    return { chain, cluster }
  } catch (error) {
    await cluster.stop()
    throw error
  }
}

async function stop(r: Running): Promise<void> {
  r.chain.stop()
  await r.cluster.stop()
}

/** Commit blocks with a transfer from each user in most of them, until `height`. */
async function commitTo(chain: ChainNode, height: number): Promise<void> {
  const sender = (k: KeyPair, to: string) =>
    encodeTx(
      {
        chainId: CHAIN_ID,
        nonce: chain.reader.account(k.address).nonce,
        fee: genesis.params.minFee,
        msg: { type: 'transfer', to, amount: 7n },
      },
      k,
    )
  while (chain.height < height) {
    const at = chain.height
    for (const [i, u] of users.entries())
      await chain.submit(sender(u, (users[(i + 1) % users.length] as KeyPair).address))
    await waitFor(() => chain.height > at, 20_000, `block ${at + 1}`)
  }
}

describe('chain node: a restart starts from the newest snapshot', function () {
  this.timeout(120_000)
  let home = ''

  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'r3mes-restart-'))
  })
  afterEach(async () => {
    await rm(home, { recursive: true, force: true })
  })

  it('executes only the blocks after the snapshot and reaches the same app hashes; blocks below the retention are pruned', async () => {
    const first = await start(home)
    let tip = 0
    const before = new Map<number, string>()
    try {
      await commitTo(first.chain, 17)
      tip = first.chain.height
      for (const [h, e] of first.chain.history) before.set(h, e.appHash)
      assert.ok(first.chain.storage.snapshotHeight >= 15, JSON.stringify(first.chain.storage))
      assert.ok(first.chain.storage.prunedBlocks > 0, 'blocks below the retention were pruned')
    } finally {
      await stop(first)
    }
    // Stopped mid-interval: the state store's tip is past the newest snapshot.
    const snapshots = readdirSync(join(home, 'chain', 'snapshots'))
      .map(Number)
      .sort((a, b) => a - b)
    assert.equal(snapshots.length, 2, `the last two snapshots are kept: ${snapshots}`)
    const newest = snapshots[1] as number
    const blocks = readdirSync(join(home, 'consensus', 'blocks')).filter((n) => n.endsWith('.block'))
    assert.ok(!blocks.includes('000000000001.block'), 'block 1 was pruned')

    const second = await start(home)
    try {
      assert.equal(second.chain.storage.restoredFromHeight, newest)
      await waitFor(() => second.chain.height >= tip, 30_000, `the restart reaches ${tip}`)
      const replayed = [...second.chain.history.keys()].filter((h) => h <= tip)
      assert.equal(
        replayed.length,
        tip - newest,
        `executed ${replayed} for a tip of ${tip} and a snapshot of ${newest}`,
      )
      assert.equal(Math.min(...replayed), newest + 1)
      for (const h of replayed) assert.equal(second.chain.history.get(h)?.appHash, before.get(h), `app hash at ${h}`)
      // And it goes on committing from there.
      await commitTo(second.chain, tip + 2)
    } finally {
      await stop(second)
    }
  })

  it('a damaged newest snapshot is refused and the older one is used; with none usable and blocks pruned the node refuses to start', async () => {
    const first = await start(home)
    try {
      await commitTo(first.chain, 12)
    } finally {
      await stop(first)
    }
    const dir = join(home, 'chain', 'snapshots')
    const [older, newest] = readdirSync(dir)
      .map(Number)
      .sort((a, b) => a - b)
    assert.ok(older !== undefined && newest !== undefined)
    writeFileSync(join(dir, String(newest)), 'not a snapshot')
    const second = await start(home)
    try {
      assert.equal(second.chain.storage.restoredFromHeight, older)
    } finally {
      await stop(second)
    }
    // The restart went on committing (and snapshotting): damage every snapshot there is now.
    for (const name of readdirSync(dir)) writeFileSync(join(dir, name), 'not a snapshot either')
    await assert.rejects(
      () => start(home),
      (e: unknown) => e instanceof StoreCorruptError && /blocks below \d+ are pruned and no snapshot/.test(e.message),
    )
  })
})
