/**
 * An in-process network of validators running the real chain application (`ChainApp` through
 * `ChainApplication`) under the real consensus actor, over a `MemoryHub` on a simulated clock:
 * memory stores and WALs, one node per signer.
 */
import assert from 'node:assert/strict'
import { type Actor, createActor } from 'xstate'
import { ChainApplication } from '../../../src/actors/chain-application.ts'
import { type BlockOutcome, ChainApp, type Block as ChainBlock } from '../../../src/chain/app.ts'
import type { Genesis as ChainGenesis } from '../../../src/chain/genesis.ts'
import { toHex } from '../../../src/codec/bytes.ts'
import { consensusMachine } from '../../../src/consensus/consensus-actor.ts'
import { EvidencePool } from '../../../src/consensus/evidence-pool.ts'
import type { Genesis } from '../../../src/consensus/genesis.ts'
import type { Signer } from '../../../src/consensus/keys.ts'
import { MemoryHub } from '../../../src/consensus/memory-transport.ts'
import { Mempool } from '../../../src/consensus/mempool.ts'
import type { NodeComponents } from '../../../src/consensus/node-io.ts'
import { MemoryLastSignedStore, PrivValidator } from '../../../src/consensus/privval.ts'
import { MemoryBlockStore, MemoryStateStore } from '../../../src/consensus/stores.ts'
import type { CommittedBlock } from '../../../src/consensus/types.ts'
import { ValidatorSet } from '../../../src/consensus/validator-set.ts'
import { MemoryWal } from '../../../src/consensus/wal.ts'
import { SimulatedClock } from '../../../src/runtime/clock.ts'
import { MAX_ROUNDS_AHEAD } from '../../../src/runtime/limits.ts'
import { FAST_TIMEOUTS } from '../../consensus/helpers/fixtures.ts'

/** One-way delay of every message on the hub. */
const HUB_DELAY_MS = 5
/** How far `runUntil` advances the clock between two turns of the event loop. */
const CLOCK_STEP_MS = 5
const GOSSIP_INTERVAL_MS = 100

export interface ChainClusterInit {
  /** The chain's genesis: every node's `ChainApp` starts from it. */
  readonly chainGenesis: ChainGenesis
  /** The consensus genesis (its validators are the keys of `signers`). */
  readonly genesis: Genesis
  /** Node `i` signs with `signers[i]`, which must be a validator of `genesis`. */
  readonly signers: readonly Signer[]
  /** Told of every block node `node` executed, with its outcome. */
  readonly onExecuted?: (node: number, block: ChainBlock, outcome: BlockOutcome) => void
  /** Told of every block node `node` committed. */
  readonly onCommit?: (node: number, committed: CommittedBlock) => void
}

export interface ChainCluster {
  readonly clock: SimulatedClock
  /** By node, as `signers`. */
  readonly actors: readonly Actor<typeof consensusMachine>[]
  readonly apps: readonly ChainApplication[]
  readonly stateStores: readonly MemoryStateStore[]
  /** Each node's last executed height. */
  heights(): number[]
  /** Advance the clock a step at a time and let the nodes run, until `done()` or `maxSteps` steps. */
  runUntil(done: () => boolean, maxSteps: number): Promise<void>
  stop(): void
}

/** Let every callback and promise job queued so far run. */
export async function settle(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
}

export function startChainCluster(init: ChainClusterInit): ChainCluster {
  const { chainGenesis, genesis } = init
  const chainId = genesis.chainId
  const validators = ValidatorSet.create(genesis.validators)
  const clock = new SimulatedClock(genesis.genesisTimeMs)
  const hub = new MemoryHub(clock, HUB_DELAY_MS)
  const apps: ChainApplication[] = []
  const stateStores: MemoryStateStore[] = []
  const actors = init.signers.map((signer, i) => {
    const app = new ChainApplication({
      chain: new ChainApp(chainGenesis),
      validators,
      onExecuted: (block, outcome) => init.onExecuted?.(i, block, outcome),
    })
    apps.push(app)
    const stateStore = new MemoryStateStore()
    stateStores.push(stateStore)
    const link = hub.connect(`v${i}`)
    const v = validators.validators.find((x) => Buffer.compare(x.publicKey, signer.publicKey) === 0)
    assert.ok(v !== undefined, `signer ${i} (${toHex(signer.publicKey).slice(0, 8)}) is a genesis validator`)
    const components: NodeComponents = {
      genesis,
      config: {
        chainId,
        myAddress: v.address,
        timeouts: FAST_TIMEOUTS,
        maxBlockBytes: 1024 * 1024,
        maxEvidenceAgeHeights: 100,
        maxRoundsAhead: MAX_ROUNDS_AHEAD,
      },
      privval: new PrivValidator(signer, new MemoryLastSignedStore()),
      wal: new MemoryWal(),
      app,
      mempool: new Mempool(app),
      evidencePool: new EvidencePool(chainId, validators),
      blockStore: new MemoryBlockStore(),
      stateStore,
      clock,
      transport: link,
      onCommit: (committed) => init.onCommit?.(i, committed),
    }
    return createActor(consensusMachine, {
      input: { components, inbox: link, gossipIntervalMs: GOSSIP_INTERVAL_MS },
    }).start()
  })
  return {
    clock,
    actors,
    apps,
    stateStores,
    heights: () => apps.map((a) => a.info().height),
    runUntil: async (done, maxSteps) => {
      for (let i = 0; i < maxSteps && !done(); i++) {
        clock.advance(CLOCK_STEP_MS)
        await settle()
      }
    },
    stop: () => {
      for (const a of actors) a.stop()
    },
  }
}
