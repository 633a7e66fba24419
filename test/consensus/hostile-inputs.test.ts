/**
 * Hostile inputs against the real consensus core and node: each test performs the attack (a
 * far-future round, a poisoned decided block, a far-future block time, an evidence flood, a
 * failing IO component) and checks the node neither hangs, forks, halts nor dies silently.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createActor } from 'xstate'
import { bytesEqual } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { genesisBeacon } from '../../src/consensus/beacon.ts'
import { hashBlock, makeBlock, validateBlock } from '../../src/consensus/block.ts'
import { consensusMachine } from '../../src/consensus/consensus-actor.ts'
import { initialState, step } from '../../src/consensus/core.ts'
import type { ConsensusConfig, ConsensusInput, ConsensusState } from '../../src/consensus/core-types.ts'
import { InvalidConsensusDataError } from '../../src/consensus/errors.ts'
import { EvidencePool } from '../../src/consensus/evidence-pool.ts'
import { genesisTip } from '../../src/consensus/genesis.ts'
import type { Signer } from '../../src/consensus/keys.ts'
import { MemoryHub } from '../../src/consensus/memory-transport.ts'
import { ConsensusNode } from '../../src/consensus/node.ts'
import type { NodeComponents } from '../../src/consensus/node-io.ts'
import { evidenceKey, makeEvidence, proposalSignBytes, voteSignBytes } from '../../src/consensus/signing.ts'
import type { Block, Commit, DuplicateVoteEvidence, Proposal, Vote } from '../../src/consensus/types.ts'
import { FileWal } from '../../src/consensus/wal.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import {
  MAX_BLOCK_TIME_DRIFT_MS,
  MAX_BLOCK_TIME_STEP_MS,
  MAX_CONSENSUS_ROUND,
  MAX_PENDING_EVIDENCE,
  MAX_PENDING_EVIDENCE_PER_VALIDATOR,
} from '../../src/runtime/limits.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import { SkewedClock } from '../../src/runtime/skewed-clock.ts'
import { machineMonotonicMs } from '../../src/runtime/system-clock.ts'
import { Cluster } from './helpers/cluster.ts'
import { beaconFields, makeChain, makeConfig, memoryComponents, type TestChain } from './helpers/fixtures.ts'

/** Rounds whose proposer, computed by stepping the rotation once per round, costs seconds with 100 validators. */
const EXPENSIVE_ROUND = 2 ** 24
/** What "returns promptly" means: far below the seconds the unbounded work takes, far above a loaded machine's noise. */
const PROMPT_MS = 1500

function emptyBlock(chain: TestChain, height: number, proposer: Uint8Array): Block {
  return makeBlock({
    chainId: chain.genesis.chainId,
    height,
    timeMs: chain.genesis.genesisTimeMs + 1000,
    previousBlockHash: new Uint8Array(32),
    appHash: sha256(),
    proposer,
    ...beaconFields(chain, proposer),
    txs: [],
    evidence: [],
    lastCommit: null,
  })
}

/** A proposal for (height, round) signed by validator `by` (who need not be that round's proposer). */
function signedProposal(chain: TestChain, by: number, height: number, round: number, block: Block): Proposal {
  const unsigned = { height, round, polRound: -1, blockHash: hashBlock(block) }
  const signer = chain.signerByIndex[by] as Signer
  return { ...unsigned, signature: signer.sign(proposalSignBytes(chain.genesis.chainId, unsigned)) }
}

function timed<T>(fn: () => T): { value: T; ms: number } {
  const start = machineMonotonicMs()
  const value = fn()
  return { value, ms: machineMonotonicMs() - start }
}

describe('hostile inputs: consensus core', () => {
  describe('far-future rounds (finding 1)', () => {
    const chain = makeChain(100)
    const fresh = (config: ConsensusConfig = makeConfig(chain, 0)): ConsensusState =>
      step(initialState(config, genesisTip(chain.genesis, sha256())), { type: 'start' }).state

    it('refuses a proposal past MAX_CONSENSUS_ROUND, for this height and the next, at once', () => {
      const state = fresh()
      for (const height of [1, 2])
        for (const round of [MAX_CONSENSUS_ROUND + 1, EXPENSIVE_ROUND, Number.MAX_SAFE_INTEGER]) {
          const block = emptyBlock(chain, height, chain.validators.at(0)?.address as Uint8Array)
          const input: ConsensusInput = {
            type: 'proposal',
            proposal: signedProposal(chain, 0, height, round, block),
            block,
          }
          const { value, ms } = timed(() => step(state, input))
          assert.ok(ms < PROMPT_MS, `proposal for height ${height} round ${round} took ${ms.toFixed(0)} ms`)
          assert.equal(value.state.nextHeightInputs.length, 0, 'nothing buffered')
          assert.equal(value.state.proposals.size, 0, 'nothing taken')
        }
    })

    it('selects the proposer of round MAX_CONSENSUS_ROUND among 100 validators cheaply, again and again', () => {
      // A look-ahead as wide as the bound: every round a peer may name is considered.
      const state = fresh({ ...makeConfig(chain, 0), maxRoundsAhead: MAX_CONSENSUS_ROUND })
      const { ms } = timed(() => {
        let s = state
        for (let i = 0; i < 200; i++) {
          const block = emptyBlock(chain, 1 + (i % 2), chain.validators.at(i % 100)?.address as Uint8Array)
          // Signed by the wrong validator: refused, so every one costs a fresh proposer check.
          const proposal = signedProposal(chain, i % 100, 1 + (i % 2), MAX_CONSENSUS_ROUND - (i % 3), block)
          s = step(s, { type: 'proposal', proposal, block }).state
        }
        return s
      })
      assert.ok(ms < PROMPT_MS, `200 proposals at the last round took ${ms.toFixed(0)} ms`)
    })

    it('the memoised proposer of every round is the one r increments of the rotation choose', () => {
      const uneven = makeChain(7, [1, 2, 3, 5, 8, 13, 21]).validators
      for (let r = 0; r <= 300; r++)
        assert.deepEqual(uneven.proposerForRound(r).address, uneven.forRound(r).proposer.address, `round ${r}`)
      assert.throws(() => uneven.proposerForRound(MAX_CONSENSUS_ROUND + 1), /round out of range/)
    })

    it('a node that logged a far-future proposal to its WAL restarts and replays it promptly', () => {
      const dir = mkdtempSync(join(tmpdir(), 'r3mes-round-'))
      try {
        const clock = new SimulatedClock()
        const transport = { broadcast: () => {}, send: () => {} }
        const parts = memoryComponents(chain, 0, clock, transport)
        const components = { ...parts.components, wal: new FileWal({ dir }) }
        const node = ConsensusNode.open(components)
        const block = emptyBlock(chain, 2, chain.validators.at(1)?.address as Uint8Array)
        const attack = {
          kind: 'proposal' as const,
          proposal: signedProposal(chain, 1, 2, EXPENSIVE_ROUND, block),
          block,
        }
        const live = timed(() => node.receive(attack, 'attacker'))
        assert.ok(live.ms < PROMPT_MS, `live proposal took ${live.ms.toFixed(0)} ms`)
        assert.equal(node.crashed, undefined)
        node.stop()
        components.wal.close()
        const restarted = timed(() => ConsensusNode.open({ ...components, wal: new FileWal({ dir }) }))
        assert.ok(restarted.ms < PROMPT_MS, `replay took ${restarted.ms.toFixed(0)} ms`)
        assert.equal(restarted.value.crashed, undefined)
        assert.equal(restarted.value.state.nextHeightInputs.length, 0)
        restarted.value.stop()
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  })

  describe('a poisoned decided block (finding 4)', () => {
    const chain = makeChain(4)
    const chainId = chain.genesis.chainId
    const proposer0 = chain.validators.proposerForRound(0).address
    const honest = makeBlock({
      chainId,
      height: 1,
      timeMs: chain.genesis.genesisTimeMs + 1000,
      previousBlockHash: new Uint8Array(32),
      appHash: sha256(),
      proposer: proposer0,
      ...beaconFields(chain, proposer0),
      txs: [new TextEncoder().encode('x=1')],
      evidence: [],
      lastCommit: null,
    })
    const hash = hashBlock(honest)
    const realCommit: Commit = {
      height: 1,
      round: 0,
      blockHash: hash,
      signatures: [0, 1, 2].map((i) => ({
        validatorIndex: i,
        signature: (chain.signerByIndex[i] as Signer).sign(
          voteSignBytes(chainId, { type: 'precommit', height: 1, round: 0, blockHash: hash, validatorIndex: i }),
        ),
      })),
    }
    const junkCommit: Commit = { height: 1, round: 0, blockHash: hash, signatures: [] }
    // The real header (so the same hash) with the transactions stripped.
    const poison: Block = { ...honest, txs: [] }
    const follower = (): ConsensusState =>
      step(initialState(makeConfig(chain, -1), genesisTip(chain.genesis, sha256())), { type: 'start' }).state
    const committed = (effects: readonly { type: string }[]) => effects.some((e) => e.type === 'commitBlock')

    for (const [label, commit] of [
      ['a junk commit', junkCommit],
      ['the real commit', realCommit],
    ] as const)
      it(`the honest decided block is accepted after the real header with no txs and ${label}`, () => {
        let state = follower()
        const r1 = step(state, { type: 'decided', block: poison, commit })
        assert.ok(!committed(r1.effects), 'the poisoned body is not decided')
        state = r1.state
        const r2 = step(state, { type: 'decided', block: honest, commit: realCommit })
        assert.ok(committed(r2.effects), 'the honest block is decided')
        assert.equal(r2.state.decision?.block.txs.length, 1)
      })

    it('after a poisoned decided block or a relayed proposal with a swapped body, a validator prevotes the honest proposal', () => {
      const me = [0, 1, 2, 3].find(
        (i) => !bytesEqual(chain.validators.at(i)?.address as Uint8Array, proposer0),
      ) as number
      const proposerIndex = chain.validators.indexOf(proposer0)
      const signed = signedProposal(chain, proposerIndex, 1, 0, honest)
      let state = step(initialState(makeConfig(chain, me), genesisTip(chain.genesis, sha256())), {
        type: 'start',
      }).state
      state = step(state, { type: 'decided', block: poison, commit: junkCommit }).state
      // The proposer's signature with someone else's body: the slot of round 0 must stay free.
      state = step(state, { type: 'proposal', proposal: signed, block: poison }).state
      const r = step(state, { type: 'proposal', proposal: signed, block: honest })
      const prevote = r.effects.find((e) => e.type === 'signVote')
      assert.ok(prevote?.type === 'signVote' && prevote.vote.blockHash !== null, 'prevote for the block, not nil')
      assert.ok(bytesEqual(prevote.vote.blockHash, hash))
    })

    it('a node whose WAL holds the poison restarts and still accepts the honest decided block', () => {
      const dir = mkdtempSync(join(tmpdir(), 'r3mes-poison-'))
      try {
        const clock = new SimulatedClock()
        const transport = { broadcast: () => {}, send: () => {} }
        const parts = memoryComponents(chain, 0, clock, transport)
        const components = {
          ...parts.components,
          config: { ...parts.components.config, myAddress: null },
          privval: null,
          wal: new FileWal({ dir }),
        }
        const node = ConsensusNode.open(components)
        node.receive({ kind: 'decided', block: poison, commit: junkCommit }, 'attacker')
        assert.equal(node.state.tip.height, 1)
        node.stop()
        components.wal.close()
        const restarted = ConsensusNode.open({ ...components, wal: new FileWal({ dir }) })
        restarted.receive({ kind: 'decided', block: honest, commit: realCommit }, 'honest')
        assert.equal(restarted.crashed, undefined)
        assert.equal(restarted.state.tip.height, 2, 'height 1 committed')
        assert.ok(bytesEqual(restarted.state.tip.lastBlockHash, hash))
        assert.equal(parts.app.info().height, 1)
        restarted.stop()
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  })

  describe('far-future block times (finding 3)', () => {
    it('validateBlock refuses a block time more than MAX_BLOCK_TIME_STEP_MS past its parent, naming the rule', () => {
      const chain = makeChain(4)
      const tip = {
        chainId: chain.genesis.chainId,
        height: 1,
        previousBlockHash: new Uint8Array(32),
        previousTimeMs: chain.genesis.genesisTimeMs,
        previousBeacon: genesisBeacon(chain.genesis, sha256()),
        appHash: sha256(),
        validators: chain.validators,
        lastValidators: null,
        committedEvidence: new Set<string>(),
        maxBlockBytes: 1024,
        maxEvidenceAgeHeights: 10,
      }
      const at = (timeMs: number): Block => ({
        ...emptyBlock(chain, 1, chain.validators.at(0)?.address as Uint8Array),
        header: { ...emptyBlock(chain, 1, chain.validators.at(0)?.address as Uint8Array).header, timeMs },
      })
      validateBlock(tip, at(tip.previousTimeMs + MAX_BLOCK_TIME_STEP_MS))
      for (const timeMs of [tip.previousTimeMs + MAX_BLOCK_TIME_STEP_MS + 1, Number.MAX_SAFE_INTEGER])
        assert.throws(
          () => validateBlock(tip, at(timeMs)),
          (e: unknown) => e instanceof InvalidConsensusDataError && /MAX_BLOCK_TIME_STEP_MS/.test(e.message),
        )
      assert.throws(() => validateBlock(tip, at(tip.previousTimeMs)), /time does not move forward/)
    })

    it('a Byzantine proposer with a far-future clock gets no block decided; the chain goes on with sane, increasing times', function () {
      this.timeout(60_000)
      const cluster = new Cluster(4, 7)
      const skewed = new SkewedClock(cluster.clock)
      skewed.offsetMs = Number.MAX_SAFE_INTEGER - cluster.clock.nowMs() - 1_000_000
      cluster.open(0, (d) => ({ ...d, clock: skewed }))
      for (let i = 1; i < 4; i++) cluster.open(i)
      const target = 12
      cluster.runUntil(120_000, () => [1, 2, 3].every((i) => cluster.height(i) >= target))
      cluster.assertAgreement()
      const farProposals = (cluster.sent[0] ?? []).filter(
        (m) => m.kind === 'proposal' && m.block.header.timeMs > cluster.clock.nowMs() + MAX_BLOCK_TIME_DRIFT_MS,
      )
      assert.ok(farProposals.length > 0, 'the Byzantine validator proposed far-future blocks')
      for (const i of [1, 2, 3]) {
        assert.ok(cluster.height(i) >= target, `validator ${i} reached height ${target}`)
        let previous = cluster.chain.genesis.genesisTimeMs
        for (let h = 1; h <= cluster.height(i); h++) {
          const stored = cluster.nodes[i]?.io.components.blockStore.load(h)
          assert.ok(stored !== undefined)
          const t = stored.block.header.timeMs
          assert.ok(t > previous, `height ${h}: block time moves forward`)
          assert.ok(t <= cluster.clock.nowMs() + MAX_BLOCK_TIME_DRIFT_MS, `height ${h}: block time ${t} is sane`)
          previous = t
        }
      }
    })
  })

  describe('an evidence flood (finding 10)', () => {
    /** Validator `by`'s two conflicting prevotes at (height, round), as evidence. */
    function equivocation(chain: TestChain, by: number, height: number, round: number): DuplicateVoteEvidence {
      const signer = chain.signerByIndex[by] as Signer
      const v = (blockHash: Uint8Array | null): Vote => {
        const unsigned = { type: 'prevote' as const, height, round, blockHash, validatorIndex: by }
        return { ...unsigned, signature: signer.sign(voteSignBytes(chain.genesis.chainId, unsigned)) }
      }
      return makeEvidence(v(sha256(new Uint8Array([height % 256, round % 256]))), v(null))
    }

    it('a Byzantine validator flooding its own equivocations cannot crowd out real evidence, which is committed', function () {
      this.timeout(60_000)
      const cluster = new Cluster(4, 11)
      for (let i = 0; i < 4; i++) cluster.open(i)
      cluster.runUntil(60_000, () => [0, 1, 2, 3].every((i) => cluster.height(i) >= 2))
      const byzantine = 3
      const flood: DuplicateVoteEvidence[] = []
      // Heights no block can carry yet (or ever), then many rounds of a height a block can.
      for (let k = 0; k < MAX_PENDING_EVIDENCE + 100; k++)
        flood.push(equivocation(cluster.chain, byzantine, 1_000_000 + k, 0))
      for (let r = 0; r < 50; r++) flood.push(equivocation(cluster.chain, byzantine, 1, r))
      for (const e of flood)
        for (let i = 0; i < 4; i++) cluster.nodes[i]?.receive({ kind: 'evidence', evidence: e }, 'attacker')
      for (let i = 0; i < 4; i++) {
        const held = cluster.nodes[i]?.io.components.evidencePool.pending() ?? []
        assert.ok(
          held.length <= MAX_PENDING_EVIDENCE_PER_VALIDATOR,
          `node ${i} holds ${held.length} items of one validator`,
        )
        assert.ok(
          held.every((e) => e.voteA.height < 1_000_000),
          'nothing from heights not reached',
        )
      }
      // A real equivocation by another validator, at a height a block can carry.
      const real = equivocation(cluster.chain, 1, cluster.height(0), 0)
      for (let i = 0; i < 4; i++) cluster.nodes[i]?.receive({ kind: 'evidence', evidence: real }, 'witness')
      const start = cluster.height(0)
      cluster.runUntil(cluster.clock.monotonicMs() + 60_000, () =>
        [0, 1, 2, 3].every((i) => cluster.height(i) >= start + 4),
      )
      cluster.assertAgreement()
      const node = cluster.nodes[0]
      assert.ok(node !== undefined)
      const carried = []
      for (let h = start; h <= cluster.height(0); h++)
        carried.push(...(node.io.components.blockStore.load(h)?.block.evidence ?? []))
      assert.ok(
        carried.some((e) => evidenceKey(e) === evidenceKey(real)),
        'the real evidence was committed',
      )
    })

    it('the pool drops evidence past the age window at a new height, and refuses it afterwards', () => {
      const chain = makeChain(4)
      const pool = new EvidencePool(chain.genesis.chainId, chain.validators)
      pool.setHeight(3, chain.validators, 10)
      const e = equivocation(chain, 0, 2, 0)
      assert.ok(pool.add(e))
      assert.ok(!pool.add(equivocation(chain, 0, 4, 0)), 'from a height not reached yet')
      pool.setHeight(13, chain.validators, 10)
      assert.equal(pool.pending().length, 0, 'pruned once too old')
      assert.ok(!pool.add(e), 'refused once too old')
    })
  })

  describe('no silent death (finding 14)', () => {
    it('a consensus actor whose IO fails logs at fatal level and reports the error through onFatal', async () => {
      const chain = makeChain(4)
      const clock = new SimulatedClock()
      const link = new MemoryHub(clock, 1).connect('v0')
      const { components } = memoryComponents(chain, 0, clock, link)
      const lines: string[] = []
      const logger = createLogger({ name: 'v0', clock, destination: { write: (line: string) => lines.push(line) } })
      const diskFull = new Error('ENOSPC: no space left on device')
      const failing: NodeComponents = {
        ...components,
        logger,
        wal: {
          ...components.wal,
          readFrom: (h) => components.wal.readFrom(h),
          startHeight: (h) => components.wal.startHeight(h),
          sync: () => {},
          close: () => {},
          append: () => {
            throw diskFull
          },
        },
      }
      const fatal: unknown[] = []
      const actor = createActor(consensusMachine, {
        input: { components: failing, inbox: link, onFatal: (e) => fatal.push(e) },
      }).start()
      await new Promise<void>((resolve) => setImmediate(resolve))
      assert.equal(actor.getSnapshot().value, 'failed')
      assert.deepEqual(fatal, [diskFull], 'onFatal called once, with the IO error')
      const logged = lines.map((l) => JSON.parse(l) as { level: number; err?: { message: string } })
      assert.ok(
        logged.some((l) => l.level === 60 && l.err?.message === diskFull.message),
        'a fatal line names the error',
      )
      actor.stop()
    })

    it('a programmer error inside block validation propagates instead of counting as an invalid block', () => {
      const chain = makeChain(4)
      const proposer = chain.validators.proposerForRound(0)
      const me = chain.validators.indexOf(chain.validators.proposerForRound(1).address)
      const good = emptyBlock(chain, 1, proposer.address)
      // No decoder yields a proposer that is not bytes: it stands for a bug that breaks validation.
      const broken: Block = { ...good, header: { ...good.header, proposer: 42 as unknown as Uint8Array } }
      const proposal = signedProposal(chain, chain.validators.indexOf(proposer.address), 1, 0, broken)
      const state = step(initialState(makeConfig(chain, me), genesisTip(chain.genesis, sha256())), {
        type: 'start',
      }).state
      assert.throws(() => step(state, { type: 'proposal', proposal, block: broken }), TypeError)
    })
  })
})
