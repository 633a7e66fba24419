/**
 * The chain application under the real consensus engine: four validators (in-process network)
 * run `ChainApp` through the `ChainApplication` adapter; a signed transfer goes in through one
 * validator's mempool, every validator executes the same blocks and reaches the same app hash,
 * and each block's header carries the app hash of the state before it.
 */
import assert from 'node:assert/strict'
import { createActor } from 'xstate'
import { ChainApplication } from '../../src/actors/chain-application.ts'
import { ChainApp } from '../../src/chain/app.ts'
import { localTestnetGenesis } from '../../src/chain/genesis.ts'
import { toHex as chainHex, type KeyPair, keyPairFromSeed } from '../../src/chain/keys.ts'
import { localTestnetParams, UNITS_PER_TOKEN } from '../../src/chain/params.ts'
import { encodeTx } from '../../src/chain/tx.ts'
import { consensusMachine } from '../../src/consensus/consensus-actor.ts'
import { EvidencePool } from '../../src/consensus/evidence-pool.ts'
import type { Genesis } from '../../src/consensus/genesis.ts'
import { toHex } from '../../src/consensus/hash.ts'
import { signerFromSeed } from '../../src/consensus/keys.ts'
import { MemoryHub } from '../../src/consensus/memory-transport.ts'
import { Mempool } from '../../src/consensus/mempool.ts'
import type { NodeComponents } from '../../src/consensus/node-io.ts'
import { MemoryLastSignedStore, PrivValidator } from '../../src/consensus/privval.ts'
import { MemoryBlockStore, MemoryStateStore } from '../../src/consensus/stores.ts'
import { ValidatorSet } from '../../src/consensus/validator-set.ts'
import { MemoryWal } from '../../src/consensus/wal.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { FAST_TIMEOUTS, seedFor } from '../consensus/helpers/fixtures.ts'

const CHAIN_ID = 'r3mes-chain-test'

async function settle(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
}

describe('chain application under the consensus engine', function () {
  this.timeout(60_000)

  it('four validators execute the same blocks, agree on app hashes, and move tokens', async () => {
    const seeds = [0, 1, 2, 3].map((i) => seedFor(`${CHAIN_ID}/validator/${i}`))
    const chainKeys = seeds.map((s) => keyPairFromSeed(s))
    const alice = keyPairFromSeed(seedFor('alice')) as KeyPair
    const bob = keyPairFromSeed(seedFor('bob')) as KeyPair
    const chainGenesis = localTestnetGenesis({ chainId: CHAIN_ID, validators: chainKeys, funded: [alice, bob] })
    const signers = seeds.map((s) => signerFromSeed(s))
    const genesis: Genesis = {
      chainId: CHAIN_ID,
      genesisTimeMs: 1_767_225_600_000,
      validators: signers.map((s) => ({ publicKey: s.publicKey, power: 10 })),
    }
    const validators = ValidatorSet.create(genesis.validators)
    const clock = new SimulatedClock(genesis.genesisTimeMs)
    const hub = new MemoryHub(clock, 5)
    const headers = Array.from({ length: 4 }, () => new Map<number, string>())
    const apps: ChainApplication[] = []
    const actors = validators.validators.map((v, i) => {
      const signer = signers.find((s) => Buffer.compare(s.publicKey, v.publicKey) === 0)
      assert.ok(signer !== undefined)
      const app = new ChainApplication({ chain: new ChainApp(chainGenesis), validators })
      apps.push(app)
      const link = hub.connect(`v${i}`)
      const components: NodeComponents = {
        genesis,
        config: {
          chainId: CHAIN_ID,
          myAddress: v.address,
          timeouts: FAST_TIMEOUTS,
          maxBlockBytes: 1024 * 1024,
          maxEvidenceAgeHeights: 100,
          maxRoundsAhead: 1000,
        },
        privval: new PrivValidator(signer, new MemoryLastSignedStore()),
        wal: new MemoryWal(),
        app,
        mempool: new Mempool(app),
        evidencePool: new EvidencePool(CHAIN_ID, validators),
        blockStore: new MemoryBlockStore(),
        stateStore: new MemoryStateStore(),
        clock,
        transport: link,
        onCommit: (cb) => headers[i]?.set(cb.block.header.height, toHex(cb.block.header.appHash)),
      }
      return createActor(consensusMachine, { input: { components, inbox: link, gossipIntervalMs: 100 } }).start()
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

    const heights = (): number[] => apps.map((a) => a.info().height)
    for (let i = 0; i < 4000 && Math.min(...heights()) < 5; i++) {
      clock.advance(5)
      await settle()
    }
    assert.ok(Math.min(...heights()) >= 5, `heights ${heights()}`)
    for (const app of apps)
      assert.equal(balance(app, bob.address), bobBefore + amount, 'the transfer executed everywhere')
    // Same app hash on every validator; each header carries the hash of the state before it.
    const h = Math.min(...heights())
    assert.equal(new Set(apps.map((a) => chainHex(a.chain.appHash()))).size, 1, 'every app hash agrees')
    for (let height = 2; height <= h; height++) {
      assert.equal(new Set(headers.map((m) => m.get(height))).size, 1, `header app hash agrees at ${height}`)
    }
    for (const a of actors) a.stop()
  })
})
