/**
 * Voting power under the real consensus engine: four validators run the chain application
 * through `ChainApplication`, with the consensus genesis that `ChainNode` derives from the
 * chain's (`consensusGenesis`). Genesis power and every later update must be in one unit:
 * a validator that stakes one more token, or loses 1% of its stake, must not end up with
 * millions of times the power of the others; and stake that would take the total past what
 * the consensus set accepts is refused by the chain, the same way on every node, while blocks
 * keep being committed.
 */
import assert from 'node:assert/strict'
import type { ChainApplication } from '../../src/actors/chain-application.ts'
import { consensusGenesis } from '../../src/actors/chain-node.ts'
import type { BlockOutcome } from '../../src/chain/app.ts'
import { TxCode } from '../../src/chain/errors.ts'
import { type Genesis as ChainGenesis, localTestnetGenesis } from '../../src/chain/genesis.ts'
import { type KeyPair, keyPairFromSeed } from '../../src/chain/keys.ts'
import { localTestnetParams, UNITS_PER_TOKEN } from '../../src/chain/params.ts'
import { encodeTx, type Msg } from '../../src/chain/tx.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { signerFromSeed } from '../../src/consensus/keys.ts'
import type { MemoryStateStore } from '../../src/consensus/stores.ts'
import { MAX_TOTAL_POWER } from '../../src/consensus/validator-set.ts'
import { seedFor } from '../consensus/helpers/fixtures.ts'
import { settle, startChainCluster } from './helpers/chain-cluster.ts'

const CHAIN_ID = 'r3mes-power-test'

interface Net {
  readonly keys: KeyPair[]
  readonly apps: readonly ChainApplication[]
  readonly stores: readonly MemoryStateStore[]
  /** Every node's outcome per height. */
  readonly outcomes: Map<number, BlockOutcome>[]
  /** Each node's transaction ids (hex) per height, in block order. */
  readonly txs: Map<number, string[]>[]
  send(node: number, tx: Uint8Array): void
  runUntil(done: () => boolean, maxSteps?: number): Promise<void>
  heights(): number[]
  stop(): void
}

function startNet(balance?: bigint): Net {
  const seeds = [0, 1, 2, 3].map((i) => seedFor(`${CHAIN_ID}/validator/${i}`))
  const keys = seeds.map((s) => keyPairFromSeed(s) as KeyPair)
  const chainGenesis: ChainGenesis = localTestnetGenesis({
    chainId: CHAIN_ID,
    validators: keys,
    ...(balance === undefined ? {} : { balance }),
  })
  const signers = seeds.map((s) => signerFromSeed(s))
  const outcomes = signers.map(() => new Map<number, BlockOutcome>())
  const txs = signers.map(() => new Map<number, string[]>())
  const cluster = startChainCluster({
    chainGenesis,
    genesis: consensusGenesis(chainGenesis),
    signers,
    onExecuted: (i, block, outcome) => {
      outcomes[i]?.set(block.height, outcome)
      txs[i]?.set(
        block.height,
        block.txs.map((t) => toHex(t)),
      )
    },
  })
  return {
    keys,
    apps: cluster.apps,
    stores: cluster.stateStores,
    outcomes,
    txs,
    heights: cluster.heights,
    send: (node, tx) => cluster.actors[node]?.send({ type: 'tx', tx }),
    runUntil: (done, maxSteps = 6000) => cluster.runUntil(done, maxSteps),
    stop: cluster.stop,
  }
}

function signed(key: KeyPair, nonce: number, msg: Msg): Uint8Array {
  return encodeTx({ chainId: CHAIN_ID, nonce, fee: localTestnetParams.minFee, msg }, key)
}

/** Each validator's share of the voting power in a node's consensus set, by chain key. */
function shares(net: Net, node: number): Map<string, number> {
  const tip = net.stores[node]?.load()
  assert.ok(tip !== undefined, 'the node has committed a block')
  const set = tip.validators
  return new Map(set.validators.map((v) => [toHex(v.publicKey), v.power / set.totalPower]))
}

describe('voting power: one unit from genesis through every update', function () {
  this.timeout(120_000)

  it('staking one more token or losing 1% of a stake leaves every share near a quarter', async () => {
    const net = startNet()
    try {
      await settle()
      const [a, b] = net.keys as [KeyPair, KeyPair]
      // a stakes one token more; b leaves 1% of its stake (the size of a duty penalty).
      net.send(0, signed(a, 0, { type: 'stake', amount: UNITS_PER_TOKEN }))
      const onePercent = (localTestnetParams.minStakeValidator * 2n) / 100n
      net.send(1, signed(b, 0, { type: 'unstake', amount: onePercent }))
      const applied = (): boolean =>
        net.outcomes.every((m) => [...m.values()].filter((o) => o.validatorUpdates.length > 0).length >= 1) &&
        Math.min(...net.heights()) >= 8
      await net.runUntil(applied)
      assert.ok(Math.min(...net.heights()) >= 8, `chain stalled at heights ${net.heights()}`)
      for (let node = 0; node < 4; node++) {
        const s = shares(net, node)
        assert.equal(s.size, 4)
        for (const [key, share] of s) {
          assert.ok(
            share > 0.24 && share < 0.26,
            `node ${node}: validator ${key.slice(0, 8)} holds ${share} of the power`,
          )
        }
        const powers = net.stores[node]?.load()?.validators.validators.map((v) => v.power) ?? []
        assert.deepEqual(
          [...powers].sort((x, y) => x - y),
          [19_800, 20_000, 20_000, 20_001],
          'power is whole tokens staked',
        )
      }
    } finally {
      net.stop()
    }
  })

  it('refuses stake past the total power cap the same way everywhere and keeps committing', async () => {
    // Enough tokens that two validators together can offer more than MAX_TOTAL_POWER tokens.
    const big = BigInt(MAX_TOTAL_POWER) * UNITS_PER_TOKEN
    const net = startNet(big)
    try {
      await settle()
      const [a, b] = net.keys as [KeyPair, KeyPair]
      // Each stake fits alone (so both pass mempool admission on the committed state); the
      // second one in a block would take the total past the cap.
      const chunk = (big * 6n) / 10n
      const stakeA = signed(a, 0, { type: 'stake', amount: chunk })
      const stakeB = signed(b, 0, { type: 'stake', amount: chunk })
      net.send(0, stakeA)
      net.send(0, stakeB)
      const heightOf = (tx: Uint8Array, node: number): number | undefined =>
        [...(net.txs[node]?.entries() ?? [])].find(([, ids]) => ids.includes(toHex(tx)))?.[0]
      const resultOf = (tx: Uint8Array, node: number): string | undefined => {
        const h = heightOf(tx, node)
        if (h === undefined) return undefined
        const i = net.txs[node]?.get(h)?.indexOf(toHex(tx)) as number
        return net.outcomes[node]?.get(h)?.results[i]?.code
      }
      await net.runUntil(
        () =>
          [0, 1, 2, 3].every((n) => resultOf(stakeB, n) !== undefined) &&
          Math.min(...net.heights()) >= Math.max(...[0, 1, 2, 3].map((n) => heightOf(stakeA, n) ?? 0)) + 5,
      )
      const codes = [0, 1, 2, 3].map((n) => [resultOf(stakeA, n), resultOf(stakeB, n)])
      for (const c of codes) assert.deepEqual(c, codes[0], 'every node reached the same results')
      // Both went into one block: the first is bonded, the second refused with the cap's code.
      assert.equal(heightOf(stakeA, 0), heightOf(stakeB, 0))
      assert.deepEqual(codes[0], [TxCode.ok, TxCode.votingPowerCap])
      const checked = (net.apps[2] as ChainApplication).checkTx(
        signed(net.keys[3] as KeyPair, 0, { type: 'stake', amount: chunk }),
      )
      assert.ok(!checked.ok && checked.reason?.startsWith(TxCode.votingPowerCap) === true, 'admission refuses it too')
      const before = Math.min(...net.heights())
      await net.runUntil(() => Math.min(...net.heights()) >= before + 3)
      assert.ok(Math.min(...net.heights()) >= before + 3, `chain halted at heights ${net.heights()}`)
      for (let node = 0; node < 4; node++) {
        const total = net.stores[node]?.load()?.validators.totalPower ?? 0
        assert.ok(total <= MAX_TOTAL_POWER && total > 0)
      }
    } finally {
      net.stop()
    }
  })
})
