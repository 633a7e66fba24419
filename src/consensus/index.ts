/**
 * The consensus module's public surface, for `src/actors` (which hosts the actor) and
 * `src/net` (which implements `ConsensusTransport` and `ConsensusInbox` over the consensus
 * topic, carrying `encodeMessage` bytes, at most `MAX_CONSENSUS_MESSAGE_BYTES` (src/runtime/limits.ts) each).
 */
export type { Application, CheckTxResult } from './application.ts'
export { type ConsensusActorInput, type ConsensusInbox, consensusMachine } from './consensus-actor.ts'
export { gossipMessages, initialState, step } from './core.ts'
export type {
  ConsensusConfig,
  ConsensusEffect,
  ConsensusInput,
  ConsensusState,
  TimeoutConfig,
  Tip,
} from './core-types.ts'
export { DEFAULT_TIMEOUTS } from './core-types.ts'
export * from './errors.ts'
export { EvidencePool } from './evidence-pool.ts'
export { type Genesis, genesisTip } from './genesis.ts'
export { type Signer, signerFromSeed } from './keys.ts'
export { KvApplication } from './kv-application.ts'
export { MemoryHub } from './memory-transport.ts'
export { Mempool, type MempoolInit } from './mempool.ts'
export { type ConsensusMessage, type ConsensusTransport, decodeMessage, encodeMessage } from './messages.ts'
export { ConsensusNode } from './node.ts'
export type { BlockSource, NodeComponents } from './node-io.ts'
export { FileLastSignedStore, MemoryLastSignedStore, PrivValidator } from './privval.ts'
export { verifyCommit, verifyEvidence, verifyVote } from './signing.ts'
export { FileBlockStore, FileStateStore, MemoryBlockStore, MemoryStateStore } from './stores.ts'
export type * from './types.ts'
export { ValidatorSet } from './validator-set.ts'
export { FileWal, MemoryWal, type Wal } from './wal.ts'
