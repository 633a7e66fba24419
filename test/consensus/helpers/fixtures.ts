/** Deterministic validator keys and node components for tests. */
import { createHash } from 'node:crypto'
import { sha256 } from '../../../src/codec/hash.ts'
import { beaconAlpha, beaconFromProof, genesisBeacon } from '../../../src/consensus/beacon.ts'
import type { ConsensusConfig, TimeoutConfig } from '../../../src/consensus/core-types.ts'
import { EvidencePool } from '../../../src/consensus/evidence-pool.ts'
import type { Genesis } from '../../../src/consensus/genesis.ts'
import { addressOf, type Signer, signerFromSeed } from '../../../src/consensus/keys.ts'
import { KvApplication } from '../../../src/consensus/kv-application.ts'
import { Mempool } from '../../../src/consensus/mempool.ts'
import type { ConsensusTransport } from '../../../src/consensus/messages.ts'
import type { NodeComponents } from '../../../src/consensus/node-io.ts'
import { MemoryLastSignedStore, PrivValidator } from '../../../src/consensus/privval.ts'
import { MemoryBlockStore, MemoryStateStore } from '../../../src/consensus/stores.ts'
import type { CommittedBlock } from '../../../src/consensus/types.ts'
import { ValidatorSet } from '../../../src/consensus/validator-set.ts'
import { MemoryWal } from '../../../src/consensus/wal.ts'
import type { Clock } from '../../../src/runtime/clock.ts'
import { MAX_ROUNDS_AHEAD } from '../../../src/runtime/limits.ts'

export function seedFor(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(label).digest())
}

export interface TestChain {
  genesis: Genesis
  signers: Signer[]
  /** Signer of each validator index (the set orders validators by power, then address). */
  signerByIndex: Signer[]
  validators: ValidatorSet
}

export function makeChain(n: number, powers?: number[], chainId = 'r3mes-test'): TestChain {
  const signers = Array.from({ length: n }, (_, i) => signerFromSeed(seedFor(`${chainId}/validator/${i}`)))
  const genesis: Genesis = {
    chainId,
    genesisTimeMs: 1_767_225_600_000,
    validators: signers.map((s, i) => ({ publicKey: s.publicKey, power: powers?.[i] ?? 10 })),
  }
  const validators = ValidatorSet.create(genesis.validators)
  const signerByIndex = validators.validators.map(
    (v) => signers.find((s) => Buffer.compare(s.publicKey, v.publicKey) === 0) as Signer,
  )
  return { genesis, signers, signerByIndex, validators }
}

/**
 * The VRF proof and beacon of a block proposed by `proposer` (an address of `chain`) after
 * `previousBeacon`; by default the genesis beacon with the tests' initial app hash (a height-1 block).
 */
export function beaconFields(
  chain: TestChain,
  proposer: Uint8Array,
  previousBeacon: Uint8Array = genesisBeacon(chain.genesis, sha256()),
): { vrfProof: Uint8Array; beacon: Uint8Array } {
  const signer = chain.signers.find((s) => Buffer.compare(addressOf(s.publicKey), proposer) === 0)
  if (signer === undefined) throw new Error('beaconFields: the proposer is not a validator of the test chain')
  const vrfProof = signer.proveVrf(beaconAlpha(previousBeacon))
  return { vrfProof, beacon: beaconFromProof(previousBeacon, vrfProof) as Uint8Array }
}

export const FAST_TIMEOUTS: TimeoutConfig = {
  proposeMs: 300,
  proposeDeltaMs: 100,
  prevoteMs: 100,
  prevoteDeltaMs: 50,
  precommitMs: 100,
  precommitDeltaMs: 50,
  commitMs: 20,
}

/** The config of validator `myIndex` of the genesis set (-1: a node that only follows). */
export function makeConfig(chain: TestChain, myIndex: number, timeouts = FAST_TIMEOUTS): ConsensusConfig {
  return {
    chainId: chain.genesis.chainId,
    myAddress: chain.validators.at(myIndex)?.address ?? null,
    timeouts,
    maxBlockBytes: 1024 * 1024,
    maxEvidenceAgeHeights: 100,
    maxRoundsAhead: MAX_ROUNDS_AHEAD,
  }
}

export interface MemoryNodeParts {
  components: NodeComponents
  app: KvApplication
}

export function memoryComponents(
  chain: TestChain,
  index: number,
  clock: Clock,
  transport: ConsensusTransport,
  onCommit?: (cb: CommittedBlock) => void,
  /** Sign with this key instead of genesis validator `index`'s (a validator that joins later). */
  signer?: Signer,
): MemoryNodeParts {
  const app = new KvApplication(chain.genesis.validators)
  const key = signer ?? (chain.signerByIndex[index] as Signer)
  const components: NodeComponents = {
    genesis: chain.genesis,
    config: { ...makeConfig(chain, index), myAddress: addressOf(key.publicKey) },
    privval: new PrivValidator(key, new MemoryLastSignedStore()),
    wal: new MemoryWal(),
    app,
    mempool: new Mempool(app),
    evidencePool: new EvidencePool(chain.genesis.chainId, chain.validators),
    blockStore: new MemoryBlockStore(),
    stateStore: new MemoryStateStore(),
    clock,
    transport,
  }
  if (onCommit !== undefined) components.onCommit = onCommit
  return { components, app }
}
