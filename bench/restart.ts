/**
 * `npm run bench -- restart [--json] [--blocks N]`: how long a restart takes to bring the
 * chain state back, replaying every block from genesis against loading a snapshot near the tip
 * and replaying the rest.
 *
 * Workload: BLOCKS blocks of the chain application with 2 subnets × 8 miners, 8 shards per
 * window, replication 2, 10-block windows: every window's commits and reveals (claims), a
 * bonded challenge of one accepted claim tried per window (the chain refuses most: the figure
 * reports how many opened), transfers in every block. No aggregator submits, so windows do not
 * finish and their claims stay in the state: a heavier state than a pruned chain keeps. Snapshots every 100 blocks as a node writes
 * them (actors/chain-snapshots.ts, on disk, checked against the app hash when loaded); the
 * restart from a snapshot loads the newest and executes the blocks after it. Block decoding and
 * the consensus handshake cost the same per block on both paths and are left out: the figure
 * is the chain application's, which is what a restart spends its time on.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChainApplication } from '../src/actors/chain-application.ts'
import { consensusGenesis } from '../src/actors/chain-node.ts'
import { SnapshotStore } from '../src/actors/chain-snapshots.ts'
import { type Block, ChainApp } from '../src/chain/app.ts'
import { type Genesis, labelCid, localTestnetGenesis } from '../src/chain/genesis.ts'
import { type KeyPair, testKey } from '../src/chain/keys.ts'
import { commitmentOf, encodeTx, type Msg } from '../src/chain/tx.ts'
import { toHex } from '../src/codec/bytes.ts'
import { sha256 } from '../src/codec/hash.ts'
import { ValidatorSet } from '../src/consensus/validator-set.ts'
import { SystemClock } from '../src/runtime/system-clock.ts'

const DEFAULT_BLOCKS = 3000
const WINDOW_BLOCKS = 10
const MINERS_PER_SUBNET = 8
const SNAPSHOT_INTERVAL_BLOCKS = 100
/** Blocks past the newest snapshot when the node stops (half an interval: the average case). */
const BLOCKS_AFTER_SNAPSHOT = 50

const round = (x: number, digits = 2): number => Number(x.toFixed(digits))
const keys = (prefix: string, n: number): KeyPair[] => Array.from({ length: n }, (_, i) => testKey(`${prefix}-${i}`))

interface Chain {
  readonly genesis: Genesis
  readonly blocks: Block[]
  readonly appHashes: Uint8Array[]
  readonly txs: number
  readonly claims: number
  readonly challenges: number
}

/** Build the workload's chain, writing a snapshot every interval into `snapshots`. */
function buildChain(total: number, snapshots: SnapshotStore): Chain {
  const validators = keys('restart-val', 4)
  const miners = [keys('restart-miner0', MINERS_PER_SUBNET), keys('restart-miner1', MINERS_PER_SUBNET)]
  const users = keys('restart-user', 8)
  const byAddress = new Map([...validators, ...miners.flat()].map((k) => [k.address, k]))
  const genesis = localTestnetGenesis({
    validators,
    miners,
    // Eligible verifiers, so a challenge opens (none of them answers: the games run to their deadlines).
    verifiers: keys('restart-verifier', 4),
    funded: users,
    params: {
      windowBlocks: WINDOW_BLOCKS,
      shardsPerWindow: 8,
      replication: 2,
      challengePeriodBlocks: 10,
      aggregationDeadlineBlocks: 5,
      retentionBlocks: 30,
    },
  })
  const app = new ChainApplication({
    chain: new ChainApp(genesis),
    validators: ValidatorSet.create(consensusGenesis(genesis).validators),
  })
  const chain = app.chain
  const nonces = new Map<string, number>()
  const tx = (k: KeyPair, msg: Msg): Uint8Array => {
    const nonce = nonces.get(k.address) ?? 0
    nonces.set(k.address, nonce + 1)
    return encodeTx({ chainId: genesis.chainId, nonce, fee: chain.state.params.minFee, msg }, k)
  }
  const blocks: Block[] = []
  const appHashes: Uint8Array[] = []
  const challengers = new Set<string>()
  let txCount = 0
  let claims = 0
  for (let height = 1; height <= total; height++) {
    const offset = (height - 1) % WINDOW_BLOCKS
    const s = chain.state
    const w = s.globals.currentWindow
    const jobs =
      offset === 1 || offset === 2
        ? s.tasks
            .entries()
            .map(([, t]) => t)
            .filter((t) => t.window === w)
            .flatMap((t) => t.miners.map((m) => ({ t, m: byAddress.get(m) as KeyPair })))
        : []
    const txs = jobs.map(({ t, m }) => {
      const cid = labelCid(`grad-${t.id}`)
      const salt = toHex(sha256(`${t.id}/${m.address}`)).slice(0, 32)
      return offset === 1
        ? tx(m, { type: 'commit', taskId: t.id, commitment: commitmentOf(cid, m.address, t.id, salt) })
        : tx(m, { type: 'reveal', taskId: t.id, cid, salt, metadata: '{"tokens":4096}' })
    })
    if (offset === 4) {
      const target = s.claims
        .entries()
        .map(([, c]) => c)
        .find((c) => c.status === 'accepted' && !challengers.has(c.id))
      if (target !== undefined) {
        challengers.add(target.id)
        const bond = s.params.baseReward * BigInt(s.params.bondMultiple)
        txs.push(tx(validators[1] as KeyPair, { type: 'challenge', claimId: target.id, bond }))
      }
    }
    for (const [i, u] of users.entries())
      txs.push(tx(u, { type: 'transfer', to: (users[(i + 1) % users.length] as KeyPair).address, amount: 3n }))
    const block: Block = {
      height,
      timeMs: height * 1000,
      proposer: (validators[0] as KeyPair).address,
      hash: sha256(`restart/${height}`),
      beacon: sha256(`restart/beacon/${height}`),
      txs,
      evidence: [],
    }
    const outcome = chain.executeBlock(block)
    txCount += outcome.results.filter((r) => r.code === 'OK').length
    claims = Math.max(claims, s.claims.size)
    blocks.push(block)
    appHashes.push(outcome.appHash)
    if (height % SNAPSHOT_INTERVAL_BLOCKS === 0)
      snapshots.save({ height, appHash: outcome.appHash, state: chain.snapshot(), sets: app.snapshotSets() })
  }
  return { genesis, blocks, appHashes, txs: txCount, claims, challenges: chain.state.globals.nextChallenge }
}

function replay(chain: Chain, app: ChainApplication, fromHeight: number, toHeight: number): void {
  for (let h = fromHeight; h <= toHeight; h++) app.chain.executeBlock(chain.blocks[h - 1] as Block)
  const want = toHex(chain.appHashes[toHeight - 1] as Uint8Array)
  if (toHex(app.chain.appHash()) !== want) throw new Error(`restart reached another app hash at ${toHeight}`)
}

export async function runRestartBench(json: boolean, args: readonly string[]): Promise<void> {
  const clock = new SystemClock()
  const at = args.indexOf('--blocks')
  const total = at >= 0 ? Number(args[at + 1]) : DEFAULT_BLOCKS
  if (!Number.isSafeInteger(total) || total < SNAPSHOT_INTERVAL_BLOCKS + BLOCKS_AFTER_SNAPSHOT)
    throw new Error(`--blocks must be an integer of at least ${SNAPSHOT_INTERVAL_BLOCKS + BLOCKS_AFTER_SNAPSHOT}`)
  const dir = mkdtempSync(join(tmpdir(), 'r3mes-bench-restart-'))
  try {
    const snapshots = new SnapshotStore(dir)
    let start = clock.monotonicMs()
    const chain = buildChain(total, snapshots)
    const buildMs = clock.monotonicMs() - start
    const snapshotHeight =
      Math.floor((total - BLOCKS_AFTER_SNAPSHOT) / SNAPSHOT_INTERVAL_BLOCKS) * SNAPSHOT_INTERVAL_BLOCKS
    const tip = snapshotHeight + BLOCKS_AFTER_SNAPSHOT
    const fresh = (): ChainApplication =>
      new ChainApplication({
        chain: new ChainApp(chain.genesis),
        validators: ValidatorSet.create(consensusGenesis(chain.genesis).validators),
      })

    start = clock.monotonicMs()
    replay(chain, fresh(), 1, tip)
    const fromGenesisMs = clock.monotonicMs() - start

    start = clock.monotonicMs()
    const app = fresh()
    const snapshot = snapshots.load(snapshotHeight)
    app.restore(snapshot.state, chain.appHashes[snapshotHeight - 1] as Uint8Array, snapshot.sets)
    const loadMs = clock.monotonicMs() - start
    replay(chain, app, snapshotHeight + 1, tip)
    const fromSnapshotMs = clock.monotonicMs() - start

    const result = {
      suite: 'restart',
      workload: `${tip} blocks (of ${total} built): 2 subnets × ${MINERS_PER_SUBNET} miners, 8 shards, replication 2, ${WINDOW_BLOCKS}-block windows, a challenge per window, 8 transfers per block`,
      machine: { loadAverage1m: round(loadavg()[0] as number), cores: availableParallelism() },
      chain: {
        acceptedTxs: chain.txs,
        mostClaimsAtOnce: chain.claims,
        challengesOpened: chain.challenges,
        buildMs: Math.round(buildMs),
        snapshotHeight,
        snapshotBytes: snapshot.state.byteLength,
      },
      fromGenesisMs: Math.round(fromGenesisMs),
      fromSnapshotMs: Math.round(fromSnapshotMs),
      snapshotLoadMs: Math.round(loadMs),
      blocksReplayed: { fromGenesis: tip, fromSnapshot: tip - snapshotHeight },
      genesisOverSnapshot: round(fromGenesisMs / fromSnapshotMs, 1),
    }
    if (json) console.log(JSON.stringify(result, null, 2))
    else {
      console.log(result.workload)
      console.log(`from genesis: ${result.fromGenesisMs} ms (${tip} blocks)`)
      console.log(
        `from snapshot ${snapshotHeight}: ${result.fromSnapshotMs} ms (load and check ${result.snapshotLoadMs} ms, ${snapshot.state.byteLength} bytes; ${tip - snapshotHeight} blocks)`,
      )
      console.log(`ratio: ×${result.genesisOverSnapshot}`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
