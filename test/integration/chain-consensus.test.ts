/**
 * The chain application under the real consensus engine: four validators (in-process network)
 * run `ChainApp` through the `ChainApplication` adapter; a signed transfer goes in through one
 * validator's mempool, every validator executes the same blocks and reaches the same app hash,
 * and each block's header carries the app hash of the state before it.
 */
import assert from 'node:assert/strict'
import type { ChainApplication } from '../../src/actors/chain-application.ts'
import { localTestnetGenesis } from '../../src/chain/genesis.ts'
import { type KeyPair, keyPairFromSeed } from '../../src/chain/keys.ts'
import { localTestnetParams, UNITS_PER_TOKEN } from '../../src/chain/params.ts'
import { encodeTx } from '../../src/chain/tx.ts'
import { toHex as chainHex, toHex } from '../../src/codec/bytes.ts'
import { makeChain, seedFor } from '../consensus/helpers/fixtures.ts'
import { settle, startChainCluster } from './helpers/chain-cluster.ts'

const CHAIN_ID = 'r3mes-chain-test'

describe('chain application under the consensus engine', function () {
  this.timeout(60_000)

  it('four validators execute the same blocks, agree on app hashes, and move tokens', async () => {
    const seeds = [0, 1, 2, 3].map((i) => seedFor(`${CHAIN_ID}/validator/${i}`))
    const chainKeys = seeds.map((s) => keyPairFromSeed(s))
    const alice = keyPairFromSeed(seedFor('alice')) as KeyPair
    const bob = keyPairFromSeed(seedFor('bob')) as KeyPair
    const chainGenesis = localTestnetGenesis({ chainId: CHAIN_ID, validators: chainKeys, funded: [alice, bob] })
    // The same keys as the chain's validators, at power 10 each; node i is validator index i.
    const { genesis, signerByIndex } = makeChain(4, undefined, CHAIN_ID)
    const headers = Array.from({ length: 4 }, () => new Map<number, string>())
    const { actors, apps, heights, runUntil, stop } = startChainCluster({
      chainGenesis,
      genesis,
      signers: signerByIndex,
      onCommit: (i, cb) => headers[i]?.set(cb.block.header.height, toHex(cb.block.header.appHash)),
    })
    await settle()

    const amount = 1234n * UNITS_PER_TOKEN
    const transfer = encodeTx(
      {
        chainId: CHAIN_ID,
        nonce: 0,
        fee: localTestnetParams.minFee,
        msg: { type: 'transfer', to: bob.address, amount },
      },
      alice,
    )
    const balance = (app: ChainApplication, who: string): bigint =>
      BigInt(
        (
          JSON.parse(new TextDecoder().decode(app.query(new TextEncoder().encode(`account/${who}`)))) as {
            balance: string
          }
        ).balance,
      )
    const bobBefore = balance(apps[0] as ChainApplication, bob.address)
    actors[2]?.send({ type: 'tx', tx: transfer })

    await runUntil(() => Math.min(...heights()) >= 5, 4000)
    assert.ok(Math.min(...heights()) >= 5, `heights ${heights()}`)
    for (const app of apps)
      assert.equal(balance(app, bob.address), bobBefore + amount, 'the transfer executed everywhere')
    // Same app hash on every validator; each header carries the hash of the state before it.
    const h = Math.min(...heights())
    assert.equal(new Set(apps.map((a) => chainHex(a.chain.appHash()))).size, 1, 'every app hash agrees')
    for (let height = 2; height <= h; height++) {
      assert.equal(new Set(headers.map((m) => m.get(height))).size, 1, `header app hash agrees at ${height}`)
    }
    stop()
  })
})
