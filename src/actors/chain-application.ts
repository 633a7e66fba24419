/**
 * The chain application (src/chain) as the consensus engine's `Application`: the adapter
 * between the engine's block and evidence types and the chain's own. The engine identifies
 * validators by index and by the 20-byte address of their consensus key; the chain names
 * stakers by the `r3mes1…` address of their account key, and each staker records its
 * consensus key, so this adapter keeps the map from one to the other.
 */
import type { BlockOutcome, ChainAppApi, Block as ChainBlock } from '../chain/app.ts'
import { TxCode } from '../chain/errors.ts'
import { encodeEvidence } from '../chain/evidence.ts'
import { hexToBytes, toHex } from '../codec/bytes.ts'
import type { Application, CheckTxResult, ExecutedBlock } from '../consensus/application.ts'
import { hashBlock } from '../consensus/block.ts'
import { addressOf as consensusAddressOf } from '../consensus/keys.ts'
import type { Block, DuplicateVoteEvidence } from '../consensus/types.ts'
import { type GenesisValidator, ValidatorSet, type ValidatorUpdate } from '../consensus/validator-set.ts'
import { assert } from '../runtime/assert.ts'

export interface ChainApplicationInit {
  readonly chain: ChainAppApi
  /** The consensus validator set at genesis, to turn a vote's validator index into its key. */
  readonly validators: ValidatorSet
  /**
   * Told of every block executed (replays after a restart included), with its outcome and the
   * header's beacon evidence: the proposer's VRF proof and public key.
   */
  readonly onExecuted?: (block: ChainBlock, outcome: BlockOutcome, beacon: BeaconEvidence) => void
}

/** What anyone needs to check a committed block's beacon against the previous one (consensus/beacon.ts). */
export interface BeaconEvidence {
  readonly vrfProof: Uint8Array
  readonly proposerKey: Uint8Array
}

export class ChainApplication implements Application {
  readonly chain: ChainAppApi
  readonly #onExecuted: ChainApplicationInit['onExecuted']
  /**
   * Membership of the consensus sets of the block being executed and of the next two heights
   * (the chain's updates after block h take effect at h + 2): evidence names a validator by its
   * index in the set of the block that carries it. Only the order matters here, and it depends
   * on power and address alone, not on proposer priorities.
   */
  #sets: [ValidatorSet, ValidatorSet]
  #lastUpdates: readonly ValidatorUpdate[] = []
  /**
   * Staker address by the consensus address (hex) of its consensus key, for proposers and
   * evidence: every staker's at start (a key is one staker's), then each key a validator update
   * brings in. Bounded by the stakers on chain.
   */
  readonly #addressByConsensusAddress = new Map<string, string>()

  constructor(init: ChainApplicationInit) {
    this.chain = init.chain
    this.#onExecuted = init.onExecuted
    this.#sets = [init.validators, init.validators]
    for (const [address, staker] of init.chain.state.stakers.entries())
      this.#learn(hexToBytes(staker.consensusKey, 'consensus key'), address)
  }

  #learn(consensusKey: Uint8Array, address: string): void {
    this.#addressByConsensusAddress.set(toHex(consensusAddressOf(consensusKey)), address)
  }

  /** The staker whose consensus key is `publicKey`; every member of a consensus set has one. */
  #stakerOf(publicKey: Uint8Array): string {
    const address = this.#addressByConsensusAddress.get(toHex(consensusAddressOf(publicKey)))
    assert(address !== undefined, `consensus key ${toHex(publicKey)} belongs to no staker`)
    return address
  }

  checkTx(tx: Uint8Array): CheckTxResult {
    const result = this.chain.checkTx(tx)
    if (result.ok) return { ok: true }
    const notYet = result.code === TxCode.wrongNonce || result.code === TxCode.tooManyPending
    return { ok: false, reason: `${result.code}: ${result.log}`, notYet }
  }

  executeBlock(block: Block): ExecutedBlock {
    const proposer = this.#addressByConsensusAddress.get(toHex(block.header.proposer))
    // The engine only decides blocks proposed by a member of its set.
    assert(proposer !== undefined, `block ${block.header.height} proposed by an unknown validator`)
    const [current, next] = this.#sets
    const proposerKey = current.at(current.indexOf(block.header.proposer))?.publicKey
    assert(proposerKey !== undefined, `block ${block.header.height} proposed outside its validator set`)
    const chainBlock: ChainBlock = {
      height: block.header.height,
      timeMs: block.header.timeMs,
      proposer,
      hash: hashBlock(block),
      beacon: block.header.beacon,
      txs: block.txs,
      evidence: block.evidence.map((e) => this.#evidence(current, e)),
    }
    const outcome = this.chain.executeBlock(chainBlock)
    this.#onExecuted?.(chainBlock, outcome, { vrfProof: block.header.vrfProof, proposerKey })
    const updates = outcome.validatorUpdates.map((v): ValidatorUpdate => {
      assert(v.power <= BigInt(Number.MAX_SAFE_INTEGER), `validator ${v.address} has more power than consensus counts`)
      const publicKey = hexToBytes(v.consensusKey, 'validator consensus key')
      this.#learn(publicKey, v.address)
      return { publicKey, power: Number(v.power) }
    })
    this.#sets = [next, next.applyUpdates(updates)]
    this.#lastUpdates = updates
    const rejected = outcome.results.flatMap((r, i) => (r.code === TxCode.ok ? [] : [i]))
    return { appHash: outcome.appHash, validatorUpdates: updates, rejected }
  }

  /**
   * What a snapshot needs beside the chain state: the membership of the consensus sets this
   * adapter tracks (of the next two heights), which the chain state alone does not give.
   */
  snapshotSets(): [GenesisValidator[], GenesisValidator[]] {
    const members = (set: ValidatorSet): GenesisValidator[] =>
      set.validators.map((v) => ({ publicKey: v.publicKey, power: v.power }))
    return [members(this.#sets[0]), members(this.#sets[1])]
  }

  /**
   * Start from a snapshot instead of genesis: the chain state (refused unless it hashes to
   * `expectedAppHash`, see ChainApp.restore) and the consensus sets it was taken with. Every
   * staker's consensus key is mapped back to its address, as at genesis.
   */
  restore(state: Uint8Array, expectedAppHash: Uint8Array, sets: [GenesisValidator[], GenesisValidator[]]): void {
    const restored: [ValidatorSet, ValidatorSet] = [ValidatorSet.create(sets[0]), ValidatorSet.create(sets[1])]
    this.chain.restore(state, expectedAppHash)
    this.#sets = restored
    this.#lastUpdates = []
    for (const [address, staker] of this.chain.state.stakers.entries())
      this.#learn(hexToBytes(staker.consensusKey, 'consensus key'), address)
  }

  info(): {
    readonly height: number
    readonly appHash: Uint8Array
    readonly validatorUpdates: readonly ValidatorUpdate[]
  } {
    return { height: this.chain.height, appHash: this.chain.appHash(), validatorUpdates: this.#lastUpdates }
  }

  /** `key` is a query path (UTF-8), e.g. `account/r3mes1…`; the answer is JSON. */
  query(key: Uint8Array): Uint8Array | undefined {
    const answer = this.chain.query(Buffer.from(key).toString('utf8'))
    return answer === undefined ? undefined : new TextEncoder().encode(JSON.stringify(answer))
  }

  #evidence(validators: ValidatorSet, e: DuplicateVoteEvidence): Uint8Array {
    const validator = validators.at(e.voteA.validatorIndex)
    assert(validator !== undefined, 'committed evidence names a validator outside the set')
    const vote = (v: DuplicateVoteEvidence['voteA']) => ({
      type: v.type,
      blockHash: v.blockHash === null ? null : toHex(v.blockHash),
      signature: toHex(v.signature),
    })
    return encodeEvidence({
      validator: this.#stakerOf(validator.publicKey),
      height: e.voteA.height,
      round: e.voteA.round,
      voteA: vote(e.voteA),
      voteB: vote(e.voteB),
    })
  }
}
