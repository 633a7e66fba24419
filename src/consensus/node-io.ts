/**
 * The IO half of a consensus node: everything the pure core asks for, carried out against
 * its components. Used by the synchronous driver (`ConsensusNode`, for simulations and crash
 * tests) and by the XState actor (`consensus-actor.ts`), so both run the same IO in the same
 * order:
 *
 * - an input is appended to the WAL before the core sees it; a peer's input only when the
 *   core could use it (`admission.ts`) and the height's segment is under its cap for peers'
 *   inputs, so a peer can neither fill the disk nor the replay;
 * - an own vote or proposal is signed by the privval (which fsyncs its last-signed state),
 *   appended to the WAL with fsync, and only then broadcast and fed back to the core;
 * - a decided block goes to the block store, then the application, then `blockApplied`
 *   (WAL'd as an input), then the core persists the new tip through `newHeight`.
 */

import { bytesEqual } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'
import { assert } from '../runtime/assert.ts'
import type { Clock } from '../runtime/clock.ts'
import { nextTurn } from '../runtime/event-loop.ts'
import {
  MAX_DECIDED_BLOCKS_PER_STATUS,
  MAX_HELP_BYTES_PER_PEER_PER_S,
  MAX_HELPED_PEERS,
  MAX_REFUSED_TXS_PER_PEER,
  MAX_WAL_SEGMENT_PEER_BYTES,
  MIN_HELP_INTERVAL_PER_PEER_MS,
  NOT_YET_TXS_PER_REFUSAL,
  TX_CHECK_BATCH,
  TX_REFUSAL_WINDOW_MS,
} from '../runtime/limits.ts'
import type { Logger } from '../runtime/logger.ts'
import { admitPeerInput } from './admission.ts'
import type { Application, ExecutedBlock } from './application.ts'
import { blockSizeBytes } from './block.ts'
import { gossipMessages, initialState, missingProposalRound, nextTip, step } from './core.ts'
import type { ConsensusConfig, ConsensusEffect, ConsensusInput, ConsensusState, Tip } from './core-types.ts'
import { DoubleSignRefusedError, StoreCorruptError } from './errors.ts'
import type { EvidencePool } from './evidence-pool.ts'
import { type Genesis, genesisTip } from './genesis.ts'
import type { Mempool } from './mempool.ts'
import type { ConsensusMessage, ConsensusTransport } from './messages.ts'
import type { PrivValidator } from './privval.ts'
import type { BlockStore, StateStore } from './stores.ts'
import type { Block, CommittedBlock, Proposal, Vote } from './types.ts'
import type { Wal } from './wal.ts'

/**
 * Peers a node that makes no progress asks per gossip tick, for its height and a proposal it
 * lacks. Two: an answer may be lost or the peer as stuck; each tick asks two others.
 */
export const STATUS_PEERS_PER_TICK = 2

export interface NodeComponents {
  genesis: Genesis
  config: ConsensusConfig
  /** null for a node that follows the chain without signing. */
  privval: PrivValidator | null
  wal: Wal
  app: Application
  mempool: Mempool
  evidencePool: EvidencePool
  blockStore: BlockStore
  stateStore: StateStore
  clock: Clock
  transport: ConsensusTransport
  logger?: Logger
  /** Told of every block this node commits (tests, metrics, the chain's subscribers). */
  onCommit?: (committed: CommittedBlock) => void
  /** WAL bytes of a height past which peers' inputs are dropped. @default MAX_WAL_SEGMENT_PEER_BYTES */
  maxWalSegmentPeerBytes?: number
}

export interface Recovered {
  tip: Tip
  /** Inputs of the WAL to replay, oldest first. */
  replay: ConsensusInput[]
}

/** Where a timeout effect goes: the driver arms a timer whose firing is fed back as an input. */
export type TimeoutRequest = Extract<ConsensusEffect, { type: 'scheduleTimeout' }>

export class NodeIo {
  readonly components: NodeComponents
  /**
   * The last height served to each lagging peer, with when (bounds the help one peer can ask
   * for). Keyed by the authenticated neighbour, least recently helped first, at most
   * MAX_HELPED_PEERS entries.
   */
  readonly #helped = new Map<
    string,
    { height: number; next: number; atMs: number; windowStartMs: number; windowBytes: number }
  >()
  /** Peer inputs dropped because the height's WAL segment reached its cap for peers. */
  droppedOverWalCap = 0
  /** Invalid gossiped txs per neighbour in the current window (see `#countRefused`). */
  readonly #refusedTxs = new Map<string, { count: number; sinceMs: number }>()

  constructor(components: NodeComponents) {
    this.components = components
  }

  /**
   * The restart handshake: load the tip, bring the application up to it by re-executing
   * stored blocks, check the app hash, open the WAL at the tip's height and read what to replay.
   */
  recover(): Recovered {
    const { app, blockStore, stateStore, wal, genesis, config } = this.components
    let tip = stateStore.load() ?? genesisTip(genesis, app.info().appHash)
    // A persistent application may be one block ahead of the state store (a crash after it
    // executed the block, before the tip was saved): adopt its result instead of re-executing.
    if (app.info().height === tip.height) {
      const stored = blockStore.load(tip.height)
      if (stored === undefined)
        throw new StoreCorruptError('application is ahead of the block store', { height: tip.height })
      const info = app.info()
      tip = nextTip(config, tip, stored.block, stored.commit, info.appHash, info.validatorUpdates)
      stateStore.save(tip)
    }
    if (app.info().height >= tip.height)
      throw new StoreCorruptError('application is more than one block ahead of the state', {
        appHeight: app.info().height,
        stateHeight: tip.height - 1,
      })
    for (let h = app.info().height + 1; h < tip.height; h++) {
      const stored = blockStore.load(h)
      if (stored === undefined && h < blockStore.base())
        throw new StoreCorruptError(
          `block ${h} is pruned (blocks below ${blockStore.base()} are): the application must start from a snapshot of height ${blockStore.base() - 1} or later`,
          { height: h, base: blockStore.base() },
        )
      if (stored === undefined) throw new StoreCorruptError('block store is behind the state store', { height: h })
      const replayed = app.executeBlock(stored.block)
      this.components.mempool.update(stored.block.txs, replayed.rejected)
    }
    if (!bytesEqual(app.info().appHash, tip.appHash))
      throw new StoreCorruptError('application state does not match the stored app hash', { height: tip.height - 1 })
    // Blocks stored but not yet reflected in the state (a crash between the two saves) were
    // decided: apply them rather than wait to decide them again, so the committed height never goes back.
    for (let stored = blockStore.load(tip.height); stored !== undefined; stored = blockStore.load(tip.height)) {
      const executed = app.executeBlock(stored.block)
      this.components.mempool.update(stored.block.txs, executed.rejected)
      this.components.evidencePool.markCommitted(stored.block.evidence)
      tip = nextTip(config, tip, stored.block, stored.commit, executed.appHash, executed.validatorUpdates)
      stateStore.save(tip)
    }
    this.components.evidencePool.setHeight(tip.height, tip.validators, config.maxEvidenceAgeHeights)
    const replay = wal.readFrom(tip.height)
    wal.startHeight(tip.height)
    return { tip, replay }
  }

  /** WAL first: called for every input before the core sees it (own signed messages were logged with fsync already). */
  log(input: ConsensusInput): void {
    this.components.wal.append(input, input.type === 'blockApplied')
  }

  /**
   * Carry out one effect. Returns the inputs it produces (already in the WAL), which the
   * caller feeds to the core in order. During replay only effects that rebuild local state
   * run; `resume` re-issues the rest afterwards.
   */
  execute(effect: ConsensusEffect, replaying: boolean, schedule: (t: TimeoutRequest) => void): ConsensusInput[] {
    const { chainId } = this.components.genesis
    switch (effect.type) {
      case 'signVote': {
        if (replaying || this.components.privval === null) return []
        let vote: Vote
        try {
          vote = this.components.privval.signVote(chainId, effect.vote)
        } catch (error) {
          if (error instanceof DoubleSignRefusedError) {
            this.components.logger?.warn({ err: error }, 'refused to sign a vote')
            return []
          }
          throw error
        }
        const input: ConsensusInput = { type: 'vote', vote }
        this.components.wal.append(input, true)
        this.components.transport.broadcast({ kind: 'vote', vote })
        return [input]
      }
      case 'signProposal': {
        if (replaying || this.components.privval === null) return []
        let proposal: Proposal
        try {
          proposal = this.components.privval.signProposal(chainId, effect.proposal)
        } catch (error) {
          if (error instanceof DoubleSignRefusedError) {
            this.components.logger?.warn({ err: error }, 'refused to sign a proposal')
            return []
          }
          throw error
        }
        const input: ConsensusInput = { type: 'proposal', proposal, block: effect.block }
        this.components.wal.append(input, true)
        this.components.transport.broadcast({ kind: 'proposal', proposal, block: effect.block })
        return [input]
      }
      case 'requestProposalContent': {
        if (replaying || this.components.privval === null) return []
        const input: ConsensusInput = {
          type: 'proposalContent',
          height: effect.height,
          round: effect.round,
          timeMs: Math.floor(this.components.clock.nowMs()),
          txs: this.components.mempool.reap(effect.maxBytes),
          evidence: this.components.evidencePool.pending(),
          vrfProof: this.components.privval.proveBeacon(effect.previousBeacon),
        }
        this.log(input)
        return [input]
      }
      case 'scheduleTimeout':
        if (!replaying) schedule(effect)
        return []
      case 'commitBlock': {
        // The inputs that decided this block must survive a power loss before the block is
        // stored, or a restart could find a stored block its WAL cannot re-decide.
        if (!replaying) this.components.wal.sync()
        const executed = this.#apply({ block: effect.block, commit: effect.commit })
        if (replaying) return []
        const input: ConsensusInput = {
          type: 'blockApplied',
          height: effect.block.header.height,
          appHash: executed.appHash,
          validatorUpdates: executed.validatorUpdates,
        }
        this.log(input)
        return [input]
      }
      case 'newHeight':
        this.components.stateStore.save(effect.tip)
        this.components.evidencePool.setHeight(
          effect.tip.height,
          effect.tip.validators,
          this.components.config.maxEvidenceAgeHeights,
        )
        this.components.wal.startHeight(effect.tip.height)
        // Catching up: ask the peer that sent the block for the next one at once rather than at
        // the next gossip tick, or a lagging node would never close the gap to a chain faster
        // than its ticks. Only that peer: every peer ahead would answer a broadcast.
        if (!replaying && this.#catchingUp?.height === effect.tip.height - 1)
          this.components.transport.send(this.#catchingUp.peer, { kind: 'status', height: effect.tip.height })
        return []
      case 'evidence':
        if (this.components.evidencePool.add(effect.evidence) && !replaying)
          this.components.transport.broadcast({ kind: 'evidence', evidence: effect.evidence })
        return []
    }
  }

  #apply(committed: CommittedBlock): ExecutedBlock {
    const { app, blockStore } = this.components
    const block: Block = committed.block
    const height = block.header.height
    blockStore.save(committed)
    const info = app.info()
    if (info.height === height - 1) {
      const executed = app.executeBlock(block)
      this.components.mempool.update(block.txs, executed.rejected)
      this.components.evidencePool.markCommitted(block.evidence)
      this.components.onCommit?.(committed)
      return executed
    }
    // Already executed before a crash: the handshake brought the app to this height.
    assert(info.height === height, `application at height ${info.height} cannot apply block ${height}`)
    return info
  }

  /**
   * A message from a peer, as a core input (undefined when it is not one). A peer whose
   * `status` names a height this node has decided is behind (a node announces its height only
   * after a whole gossip interval without progress): it is sent the decided block
   * with its commit, at most once per height per second. Votes and proposals for a decided
   * height prove nothing of the kind: the last precommits of a height routinely arrive after
   * the receiver has moved on, from peers that have moved on too, and answering each of them
   * with a whole block cost more than the rest of a height's traffic.
   */
  receive(message: ConsensusMessage, from: string, state: ConsensusState): ConsensusInput | undefined {
    const height =
      message.kind === 'proposal' ? message.proposal.height : message.kind === 'vote' ? message.vote.height : 0
    if (height >= state.tip.height + 2) this.#askAhead(from, state)
    switch (message.kind) {
      case 'proposal':
        return this.#admit(
          {
            type: 'proposal',
            proposal: message.proposal,
            block: message.block,
            receivedMs: Math.floor(this.components.clock.nowMs()),
          },
          state,
        )
      case 'vote':
        return this.#admit({ type: 'vote', vote: message.vote }, state)
      case 'decided': {
        const input = this.#admit({ type: 'decided', block: message.block, commit: message.commit }, state)
        if (input !== undefined) this.#catchingUp = { height: state.tip.height, peer: from }
        return input
      }
      case 'evidence':
        this.components.evidencePool.add(message.evidence)
        return undefined
      case 'status':
        if (message.height === state.tip.height && message.proposalRound !== undefined)
          this.#sendProposal(message.proposalRound, from, state)
        else this.#helpIfBehind(message.height, from, state)
        return undefined
      case 'txs':
        this.addTxs(message.txs)
        return undefined
    }
  }

  /**
   * A peer's input if the core could use it and the WAL has room for it (the caller logs it),
   * else undefined: nothing of it reaches the WAL.
   */
  #admit<T extends Extract<ConsensusInput, { type: 'vote' | 'proposal' | 'decided' }>>(
    input: T,
    state: ConsensusState,
  ): T | undefined {
    if (admitPeerInput(state, input) !== 'admit') return undefined
    if (this.components.wal.segmentBytes >= (this.components.maxWalSegmentPeerBytes ?? MAX_WAL_SEGMENT_PEER_BYTES)) {
      if (this.droppedOverWalCap++ === 0)
        this.components.logger?.warn(
          { height: state.tip.height },
          'WAL segment at its cap for peer inputs: dropping them',
        )
      return undefined
    }
    return input
  }

  /**
   * One gossip tick, for a node that has been at the same height, round and step since the
   * previous tick: it re-sends its own votes of the height (and the polka behind its valid
   * block), and asks STATUS_PEERS_PER_TICK peers, a different few each tick, for what it lacks:
   * a peer that is ahead answers with the decided block, one that holds the proposal the node
   * is missing (`missingProposalRound`) answers with it. Proposals are never re-sent unasked: a
   * block is the largest message there is, and at 100 validators each holder re-sending it to
   * every peer on every stuck tick queued hundreds of megabytes per height on every link.
   * A node that moved on since the previous tick (a new height, round or step: each step starts
   * with the node's own proposal or vote of it) sent what it has moments ago and is not
   * behind, so re-sending would only multiply traffic: every re-send is a new message that
   * every peer decodes and checks (the consensus channel numbers each message, so no peer
   * drops it as a duplicate). The commit wait (`newHeight`) is not being stuck either: the
   * node waits by its own timeout, having just decided; the first tick past it without
   * progress counts.
   */
  gossip(state: ConsensusState): void {
    const { transport } = this.components
    const last = this.#lastGossip
    const stuck =
      state.step !== 'newHeight' &&
      last?.height === state.tip.height &&
      last.round === state.round &&
      last.step === state.step
    this.#lastGossip = { height: state.tip.height, round: state.round, step: state.step }
    if (!stuck) return
    const proposalRound = missingProposalRound(state)
    const status: ConsensusMessage =
      proposalRound === undefined
        ? { kind: 'status', height: state.tip.height }
        : { kind: 'status', height: state.tip.height, proposalRound }
    const asked = this.#peersToAsk()
    if (asked === undefined) transport.broadcast(status)
    else for (const peer of asked) transport.send(peer, status)
    for (const vote of gossipMessages(state).votes) transport.broadcast({ kind: 'vote', vote })
  }

  /**
   * The next STATUS_PEERS_PER_TICK of the transport's peers, turn by turn, from a start that
   * differs between nodes (so lagging nodes do not all ask the same few first); undefined when
   * the transport cannot name its peers (then a node asks by broadcast).
   */
  #peersToAsk(): readonly string[] | undefined {
    const peers = this.components.transport.peers?.()
    if (peers === undefined) return undefined
    if (peers.length <= STATUS_PEERS_PER_TICK) return peers
    if (this.#askStart === undefined) {
      // A node is never its own peer, so the list itself differs between nodes.
      const seed = sha256(this.components.config.myAddress ?? new Uint8Array(0), peers.join('\n'))
      this.#askStart = new DataView(seed.buffer, seed.byteOffset, 4).getUint32(0)
    }
    const from = (this.#askStart + this.#askTurn++ * STATUS_PEERS_PER_TICK) % peers.length
    return Array.from({ length: STATUS_PEERS_PER_TICK }, (_, j) => peers[(from + j) % peers.length] as string)
  }

  /**
   * A peer at this height lacks the proposal of `round`: send it, if this node holds it, at most
   * once a second per peer and round (a lost copy is asked for again at the peer's next stuck
   * tick; a peer asking faster gets nothing more). Keyed by the authenticated neighbour, at most
   * MAX_HELPED_PEERS entries, least recently answered first out.
   */
  #sendProposal(round: number, from: string, state: ConsensusState): void {
    const entry = state.proposals.get(round)
    if (entry === undefined) return
    const nowMs = this.components.clock.monotonicMs()
    const last = this.#proposalsSent.get(from)
    if (last !== undefined && last.height === state.tip.height && last.round === round && nowMs - last.atMs < 1000)
      return
    this.#proposalsSent.delete(from)
    this.#proposalsSent.set(from, { height: state.tip.height, round, atMs: nowMs })
    if (this.#proposalsSent.size > MAX_HELPED_PEERS) {
      const oldest = this.#proposalsSent.keys().next().value
      if (oldest !== undefined) this.#proposalsSent.delete(oldest)
    }
    this.components.transport.send(from, { kind: 'proposal', proposal: entry.proposal, block: entry.block })
  }

  /**
   * A peer's vote or proposal two heights ahead: this node is a whole height behind, so it asks
   * that peer for the decided block at once (once per height) rather than after a gossip tick
   * without progress, by which time a fast chain is further ahead still. A message one height
   * ahead proves nothing of the kind: the fastest peers routinely move on while this node's
   * last precommits are still arriving.
   */
  #askAhead(from: string, state: ConsensusState): void {
    if (this.#askedAheadAt === state.tip.height) return
    this.#askedAheadAt = state.tip.height
    this.components.transport.send(from, { kind: 'status', height: state.tip.height })
  }

  #askedAheadAt = -1
  #lastGossip: { height: number; round: number; step: ConsensusState['step'] } | undefined
  /** The height of the last decided block a peer sent this node (it is catching up), and that peer. */
  #catchingUp: { height: number; peer: string } | undefined
  /** Where this node's turn through its peers starts, and how many turns it took. */
  #askStart: number | undefined
  #askTurn = 0
  /** The last proposal sent to each peer that asked for one. */
  readonly #proposalsSent = new Map<string, { height: number; round: number; atMs: number }>()

  /** Admit gossiped or submitted txs; returns those the mempool took. */
  addTxs(txs: readonly Uint8Array[]): Uint8Array[] {
    return this.#addTxs(txs).added
  }

  /**
   * The txs the mempool took, and how many were invalid (refused by the application or out of
   * bounds: not merely duplicate or late) and refused for now (`notYet`).
   */
  #addTxs(txs: readonly Uint8Array[]): { added: Uint8Array[]; invalid: number; notYet: number } {
    const added: Uint8Array[] = []
    let invalid = 0
    let notYet = 0
    for (const tx of txs) {
      // Duplicate, full or invalid: a gossiped tx is simply not kept.
      const refusal = this.components.mempool.admit(tx)
      if (refusal === null) added.push(tx)
      else if (refusal.invalid) invalid++
      else if (refusal.notYet) notYet++
    }
    return { added, invalid, notYet }
  }

  /**
   * Gossiped txs from the neighbour `from`, checked TX_CHECK_BATCH at a time with a turn of
   * the event loop between batches (each check is a signature verification and more), so a
   * flood of txs never holds the loop for long. Resolves true while `from` stays under
   * MAX_REFUSED_TXS_PER_PEER invalid txs per TX_REFUSAL_WINDOW_MS; false once it went over
   * (the caller disconnects it; its remaining txs are not checked). A tx refused for now (a
   * nonce ahead: one sender's txs reach a node out of order by different peers) counts
   * 1 / NOT_YET_TXS_PER_REFUSAL of an invalid one: an honest relay is not cut off for the order
   * txs reached it in, and a peer flooding such txs still is, ten times later.
   */
  async addGossipedTxs(
    txs: readonly Uint8Array[],
    from: string,
    isStopped: () => boolean = () => false,
  ): Promise<boolean> {
    for (let i = 0; i < txs.length; i += TX_CHECK_BATCH) {
      if (i > 0) await nextTurn()
      if (isStopped()) return true
      const { invalid, notYet } = this.#addTxs(txs.slice(i, i + TX_CHECK_BATCH))
      // Counted in parts of an invalid tx, in whole numbers.
      const parts = invalid * NOT_YET_TXS_PER_REFUSAL + notYet
      if (parts > 0 && this.#countRefused(from, parts) > MAX_REFUSED_TXS_PER_PEER * NOT_YET_TXS_PER_REFUSAL)
        return false
    }
    return true
  }

  /** Adds `parts` (1 / NOT_YET_TXS_PER_REFUSAL of a refused tx each) to `from`'s count in the window; returns the count. */
  #countRefused(from: string, parts: number): number {
    const nowMs = this.components.clock.monotonicMs()
    let entry = this.#refusedTxs.get(from)
    if (entry === undefined || nowMs - entry.sinceMs > TX_REFUSAL_WINDOW_MS) {
      entry = { count: 0, sinceMs: nowMs }
      // Entries of quiet peers go with the window; the map holds only peers refused lately.
      for (const [peer, e] of this.#refusedTxs)
        if (nowMs - e.sinceMs > TX_REFUSAL_WINDOW_MS) this.#refusedTxs.delete(peer)
      this.#refusedTxs.set(from, entry)
    }
    entry.count += parts
    return entry.count
  }

  /**
   * `from` is the authenticated neighbour the status came on (never an author it names), so
   * blocks go only to the peer that asked. One answer is a run of decided blocks from the height
   * asked for (at most MAX_DECIDED_BLOCKS_PER_STATUS), and one peer gets at most
   * MAX_HELP_BYTES_PER_PEER_PER_S of them a second. A status that continues exactly where the
   * last answer ended is answered at once (the peer applied the run and asks for the next: a
   * catch-up goes at the speed of its round trips); any other at most once per
   * MIN_HELP_INTERVAL_PER_PEER_MS, and the same height at most once a second.
   */
  #helpIfBehind(peerHeight: number, from: string, state: ConsensusState): void {
    if (peerHeight >= state.tip.height) return
    const nowMs = this.components.clock.monotonicMs()
    const last = this.#helped.get(from)
    if (last !== undefined && peerHeight !== last.next) {
      if (nowMs - last.atMs < MIN_HELP_INTERVAL_PER_PEER_MS) return
      if (last.height === peerHeight && nowMs - last.atMs < 1000) return
    }
    const fresh = last === undefined || nowMs - last.windowStartMs >= 1000
    const windowStartMs = fresh ? nowMs : last.windowStartMs
    let windowBytes = fresh ? 0 : last.windowBytes
    let height = peerHeight
    for (
      ;
      height < state.tip.height &&
      height - peerHeight < MAX_DECIDED_BLOCKS_PER_STATUS &&
      windowBytes < MAX_HELP_BYTES_PER_PEER_PER_S;
      height++
    ) {
      const stored = this.components.blockStore.load(height)
      if (stored === undefined) break
      windowBytes += blockSizeBytes(stored.block)
      this.components.transport.send(from, { kind: 'decided', block: stored.block, commit: stored.commit })
    }
    if (height === peerHeight) return
    this.#helped.delete(from)
    this.#helped.set(from, { height: peerHeight, next: height, atMs: nowMs, windowStartMs, windowBytes })
    if (this.#helped.size > MAX_HELPED_PEERS) {
      const oldest = this.#helped.keys().next().value
      if (oldest !== undefined) this.#helped.delete(oldest)
    }
  }

  /** Peers remembered as helped (bounded by MAX_HELPED_PEERS). */
  get helpedPeers(): number {
    return this.#helped.size
  }
}

/**
 * Recover and replay: the core's state after the stores and the WAL, and the input that
 * starts it (`start` on an empty WAL, else `resume` to re-issue what it still owes), which
 * the caller must log and submit. Effects during replay only rebuild local state.
 */
export function recoverState(io: NodeIo): { state: ConsensusState; next: ConsensusInput } {
  const { tip, replay } = io.recover()
  let state = initialState(io.components.config, tip)
  for (const input of replay) state = drive(io, state, input, true, () => {})
  return { state, next: replay.length === 0 ? { type: 'start' } : { type: 'resume' } }
}

/** Bound on inputs one input may cascade into (own votes, content, applied): a runaway loop is a bug. */
export const MAX_INPUTS_PER_DRIVE = 10_000

/**
 * Step the core with `first` (already in the WAL) and carry out the effects, feeding the
 * inputs they produce back in order, until quiet. Returns the final state.
 */
export function drive(
  io: NodeIo,
  state: ConsensusState,
  first: ConsensusInput,
  replaying: boolean,
  schedule: (t: TimeoutRequest) => void,
): ConsensusState {
  const queue: ConsensusInput[] = [first]
  for (let n = 0; queue.length > 0; n++) {
    assert(n < MAX_INPUTS_PER_DRIVE, 'consensus input cascade did not settle')
    const r = step(state, queue.shift() as ConsensusInput)
    state = r.state
    for (const effect of r.effects) queue.push(...io.execute(effect, replaying, schedule))
  }
  return state
}

/** The catch-up loop: decided blocks from `source`, verified by the core, applied in order, until it has no more. */
export async function catchUpFrom(
  io: NodeIo,
  start: ConsensusState,
  source: BlockSource,
  isStopped: () => boolean = () => false,
): Promise<{ state: ConsensusState; applied: number }> {
  let state = start
  let applied = 0
  while (!isStopped()) {
    const height = state.tip.height
    const stored = await source.getBlock(height)
    if (stored === undefined) break
    const input: ConsensusInput = { type: 'decided', block: stored.block, commit: stored.commit }
    io.log(input)
    state = drive(io, state, input, false, () => {})
    if (state.tip.height === height) break
    applied++
  }
  return { state, applied }
}

export interface BlockSource {
  /** The decided block at `height` with a commit for it, or undefined when the peer lacks it. */
  getBlock(height: number): Promise<CommittedBlock | undefined>
}
