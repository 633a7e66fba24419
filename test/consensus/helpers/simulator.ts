/**
 * A deterministic whole-network simulation of n validators (TigerBeetle's VOPR in spirit):
 * one seed fixes the message schedule (delays, reordering, drops, duplicates, partitions),
 * which validators are Byzantine and what transactions arrive. Until `gstMs` the network is
 * hostile; after it every message arrives within a bound (the partial synchrony model), so
 * liveness can be checked. Byzantine validators equivocate: each vote they sign goes to half
 * of the peers, a conflicting vote to the other half; proposals likewise.
 */

import { bytesEqual, toHex } from '../../../src/codec/bytes.ts'
import { hashBlock, makeBlock } from '../../../src/consensus/block.ts'
import { type Signer, signerFromSeed, verifySignature } from '../../../src/consensus/keys.ts'
import type { ConsensusMessage, ConsensusTransport } from '../../../src/consensus/messages.ts'
import { ConsensusNode } from '../../../src/consensus/node.ts'
import { evidenceKey, proposalSignBytes, voteSignBytes } from '../../../src/consensus/signing.ts'
import type { Block, CommittedBlock, Vote } from '../../../src/consensus/types.ts'
import { SimulatedClock } from '../../../src/runtime/clock.ts'
import { SeededRandom } from '../../../src/runtime/random.ts'
import { makeChain, memoryComponents, seedFor, type TestChain } from './fixtures.ts'

export interface SimOptions {
  seed: number
  validators: number
  /** How many validators equivocate (at most f for the safety claim to hold). */
  byzantine: number
  /** Until this time the network drops, duplicates, delays and partitions. */
  gstMs: number
  /** After GST, every honest node must reach this many more heights. */
  heightsAfterGst: number
  /** Give up (liveness failure) this long after GST. */
  livenessBudgetMs: number
  /** Stake per validator (equal when absent). */
  powers?: number[]
  /**
   * Byzantine validators collude: a vote for a Byzantine proposer's block has its twin for the
   * twin block (sent to the same half of the network), the strongest split they can make.
   */
  collude?: boolean
  /**
   * Membership changes through the application: a validator outside genesis follows from the
   * start, a `val:` transaction adds it a quarter of the way to GST, and another removes one
   * honest genesis validator halfway to GST (both take effect two heights after their block).
   */
  membership?: boolean
}

export interface MembershipResult {
  /** Heights of the blocks that carried the join and the removal (undefined: not committed). */
  joinHeight: number | undefined
  removeHeight: number | undefined
  /** Heights at which the joining and the removed node signed votes. */
  joinerVoteHeights: number[]
  removedVoteHeights: number[]
  /** Precommits of the joiner found in committed blocks' last commits. */
  joinerCommitSignatures: number
}

export interface SimResult {
  seed: number
  /** Committed block hash per height, as agreed by the honest nodes. */
  chain: Map<number, string>
  /** The committed blocks themselves, by height. */
  blocks: Map<number, Block>
  safetyViolation: string | undefined
  livenessReached: boolean
  minHonestHeight: number
  evidenceCommitted: number
  duplicateEvidenceInChain: boolean
  crashed: string | undefined
  messages: number
  /** The nodes themselves (debugging a failing seed). */
  raw: ConsensusNode[]
  /** Where each node stopped (height/round/step), for the failure message. */
  nodes: string[]
  membership: MembershipResult | undefined
}

const GOSSIP_INTERVAL_MS = 150

export function simulate(opts: SimOptions): SimResult {
  const rng = new SeededRandom(opts.seed)
  const net = rng.fork('network')
  const chain: TestChain = makeChain(opts.validators, opts.powers)
  const clock = new SimulatedClock()
  // With membership changes, node `validators` is the joiner: it follows until it is added.
  const n = opts.validators + (opts.membership === true ? 1 : 0)
  const joinerIndex = opts.membership === true ? opts.validators : -1
  const joiner = signerFromSeed(seedFor(`${chain.genesis.chainId}/joiner`))
  const byz = new Set(rng.shuffle([...Array(opts.validators).keys()]).slice(0, opts.byzantine))
  const honest = [...Array(n).keys()].filter((i) => !byz.has(i))
  const removedIndex = opts.membership === true ? rng.pick(honest.filter((i) => i !== joinerIndex)) : -1
  /** Votes each node broadcast (its own, and others' it relays). */
  const broadcastVotes = new Map<number, Vote[]>()
  const agreed = new Map<number, string>()
  const blocks = new Map<number, Block>()
  const evidenceSeen = new Set<string>()
  let evidenceCommitted = 0
  let duplicateEvidence = false
  let safetyViolation: string | undefined
  let messages = 0

  // Partition: during the hostile period, a random cut for a random window.
  const cutStart = net.nextInt(Math.max(1, opts.gstMs))
  const cutEnd = cutStart + net.nextInt(Math.max(1, opts.gstMs - cutStart) + 1)
  const side = Array.from({ length: n }, () => net.chance(0.5))
  const dropP = net.nextFloat() * 0.4
  const dupP = net.nextFloat() * 0.2
  const maxDelayMs = 10 + net.nextInt(400)

  const nodes: ConsensusNode[] = []
  /** Twin block hash by original block hash (hex), shared by colluding Byzantine validators. */
  const twins = new Map<string, Uint8Array>()
  const deliver = (from: number, to: number, m: ConsensusMessage): void => {
    const now = clock.monotonicMs()
    const hostile = now < opts.gstMs
    if (hostile) {
      if (now >= cutStart && now < cutEnd && side[from] !== side[to]) return
      if (net.chance(dropP)) return
      const copies = net.chance(dupP) ? 2 : 1
      for (let c = 0; c < copies; c++) {
        messages++
        clock.setTimer(1 + net.nextInt(maxDelayMs), () => nodes[to]?.receive(m, `v${from}`))
      }
    } else {
      messages++
      clock.setTimer(1 + net.nextInt(20), () => nodes[to]?.receive(m, `v${from}`))
    }
  }

  const transportFor = (me: number): ConsensusTransport => {
    const honestTransport: ConsensusTransport = {
      broadcast: (m) => {
        if (m.kind === 'vote') broadcastVotes.set(me, [...(broadcastVotes.get(me) ?? []), m.vote])
        for (let to = 0; to < n; to++) if (to !== me) deliver(me, to, m)
      },
      send: (peer, m) => deliver(me, Number(peer.slice(1)), m),
    }
    if (!byz.has(me)) return honestTransport
    const signer = chain.signerByIndex[me] as Signer
    return {
      send: honestTransport.send,
      broadcast: (m) => {
        const twin = equivocate(chain, signer, m, rng, opts.collude === true ? twins : undefined)
        for (let to = 0; to < n; to++) {
          if (to === me) continue
          deliver(me, to, twin !== undefined && to % 2 === 0 ? twin : m)
        }
      },
    }
  }

  for (let i = 0; i < n; i++) {
    const onCommit = (cb: CommittedBlock): void => {
      if (byz.has(i)) return
      const h = cb.block.header.height
      const hash = toHex(hashBlock(cb.block))
      const prior = agreed.get(h)
      if (prior === undefined) {
        agreed.set(h, hash)
        blocks.set(h, cb.block)
        for (const e of cb.block.evidence) {
          const key = evidenceKey(e)
          if (evidenceSeen.has(key)) duplicateEvidence = true
          evidenceSeen.add(key)
          evidenceCommitted++
        }
      } else if (prior !== hash && safetyViolation === undefined) {
        safetyViolation = `height ${h}: validator ${i} committed ${hash.slice(0, 12)}, another honest one ${prior.slice(0, 12)}`
      }
    }
    const signer = i === joinerIndex ? joiner : undefined
    const { components } = memoryComponents(chain, i, clock, transportFor(i), onCommit, signer)
    nodes.push(ConsensusNode.open(components))
  }
  // Gossip ticks, staggered per node.
  for (let i = 0; i < n; i++) {
    const tick = (): void => {
      nodes[i]?.gossip()
      clock.setTimer(GOSSIP_INTERVAL_MS, tick)
    }
    clock.setTimer(1 + rng.nextInt(GOSSIP_INTERVAL_MS), tick)
  }
  // Transactions arrive at random honest nodes.
  const txRng = rng.fork('txs')
  let txCounter = 0
  const txTick = (): void => {
    const to = txRng.pick(honest)
    const tx = new TextEncoder().encode(`k${txCounter % 17}=v${txCounter++}`)
    nodes[to]?.receive({ kind: 'txs', txs: [tx] }, 'client')
    if (clock.monotonicMs() < opts.gstMs + opts.livenessBudgetMs) clock.setTimer(50 + txRng.nextInt(200), txTick)
  }
  clock.setTimer(10, txTick)
  const update = (publicKey: Uint8Array, power: number): Uint8Array =>
    new TextEncoder().encode(`val:${toHex(publicKey)}=${power}`)
  const joinTx = update(joiner.publicKey, 10)
  const removed = removedIndex < 0 ? undefined : (chain.signerByIndex[removedIndex] as Signer)
  const removeTx = removed === undefined ? joinTx : update(removed.publicKey, 0)
  if (opts.membership === true) {
    // Every honest node holds the update, so whichever proposer comes next can include it.
    const submit = (tx: Uint8Array) => () => {
      for (const i of honest) nodes[i]?.receive({ kind: 'txs', txs: [tx] }, 'client')
    }
    clock.setTimer(Math.floor(opts.gstMs / 4), submit(joinTx))
    clock.setTimer(Math.floor(opts.gstMs / 2), submit(removeTx))
  }

  const minHonestHeight = (): number => Math.min(...honest.map((i) => (nodes[i] as ConsensusNode).state.tip.height - 1))
  const crashedNode = (): string | undefined => {
    for (const i of honest) {
      const c = nodes[i]?.crashed
      if (c !== undefined) return `validator ${i}: ${c instanceof Error ? c.stack : String(c)}`
    }
    return undefined
  }

  clock.runUntil(opts.gstMs, () => safetyViolation !== undefined || crashedNode() !== undefined)
  const target = Math.max(...honest.map((i) => (nodes[i] as ConsensusNode).state.tip.height - 1)) + opts.heightsAfterGst
  clock.runUntil(
    opts.gstMs + opts.livenessBudgetMs,
    () => safetyViolation !== undefined || crashedNode() !== undefined || minHonestHeight() >= target,
  )
  for (const node of nodes) node.stop()
  const heightOf = (tx: Uint8Array): number | undefined =>
    [...blocks].find(([, b]) => b.txs.some((t) => bytesEqual(t, tx)))?.[0]
  const joinerCommitSignatures = [...blocks.values()].filter((b) => {
    const c = b.lastCommit
    return c?.signatures.some((s) =>
      verifySignature(
        joiner.publicKey,
        voteSignBytes(chain.genesis.chainId, {
          type: 'precommit',
          height: c.height,
          round: c.round,
          blockHash: c.blockHash,
          validatorIndex: s.validatorIndex,
        }),
        s.signature,
      ),
    )
  }).length
  const membership: MembershipResult | undefined =
    opts.membership === true
      ? {
          joinHeight: heightOf(joinTx),
          removeHeight: heightOf(removeTx),
          joinerVoteHeights: ownVoteHeights(chain, joinerIndex, joiner, broadcastVotes),
          removedVoteHeights: ownVoteHeights(chain, removedIndex, removed as Signer, broadcastVotes),
          joinerCommitSignatures,
        }
      : undefined
  return {
    membership,
    seed: opts.seed,
    chain: agreed,
    blocks,
    safetyViolation,
    livenessReached: minHonestHeight() >= target,
    minHonestHeight: minHonestHeight(),
    evidenceCommitted,
    duplicateEvidenceInChain: duplicateEvidence,
    crashed: crashedNode(),
    messages,
    raw: nodes,
    nodes: nodes.map((node, i) => {
      const st = node.state
      const role = byz.has(i) ? '(byz)' : i === joinerIndex ? '(joiner)' : i === removedIndex ? '(removed)' : ''
      return `v${i}${role} h${st.tip.height} r${st.round} ${st.step} locked=${st.lockedRound} valid=${st.validRound}`
    }),
  }
}

/** Heights of the votes node `index` broadcast that `signer` signed (not those it relayed). */
function ownVoteHeights(chain: TestChain, index: number, signer: Signer, votes: Map<number, Vote[]>): number[] {
  return (votes.get(index) ?? [])
    .filter((v) => verifySignature(signer.publicKey, voteSignBytes(chain.genesis.chainId, v), v.signature))
    .map((v) => v.height)
}

/** The conflicting twin a Byzantine validator sends to half of its peers, signed with its key. */
function equivocate(
  chain: TestChain,
  signer: Signer,
  m: ConsensusMessage,
  rng: SeededRandom,
  twins: Map<string, Uint8Array> | undefined,
): ConsensusMessage | undefined {
  const chainId = chain.genesis.chainId
  if (m.kind === 'vote') {
    const other = new Uint8Array(32)
    for (let i = 0; i < 32; i++) other[i] = rng.nextInt(256)
    const colluding = m.vote.blockHash === null ? undefined : twins?.get(toHex(m.vote.blockHash))
    const blockHash = colluding ?? (m.vote.blockHash === null ? other : rng.chance(0.5) ? null : other)
    const unsigned = { ...m.vote, blockHash }
    const vote: Vote = { ...unsigned, signature: signer.sign(voteSignBytes(chainId, unsigned)) }
    return { kind: 'vote', vote }
  }
  if (m.kind === 'proposal' && m.proposal.polRound === -1) {
    const b = m.block
    const block = makeBlock({
      chainId,
      height: b.header.height,
      timeMs: b.header.timeMs + 1,
      previousBlockHash: b.header.previousBlockHash,
      appHash: b.header.appHash,
      proposer: b.header.proposer,
      // The same proposer over the same previous beacon: the twin can only carry the same beacon.
      vrfProof: b.header.vrfProof,
      beacon: b.header.beacon,
      txs: [],
      evidence: [],
      lastCommit: b.lastCommit,
    })
    const unsigned = { ...m.proposal, blockHash: hashBlock(block) }
    twins?.set(toHex(m.proposal.blockHash), unsigned.blockHash)
    twins?.set(toHex(unsigned.blockHash), m.proposal.blockHash)
    return {
      kind: 'proposal',
      proposal: { ...unsigned, signature: signer.sign(proposalSignBytes(chainId, unsigned)) },
      block,
    }
  }
  return undefined
}
