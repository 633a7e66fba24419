import assert from 'node:assert/strict'
import { validateBlock } from '../../src/consensus/block.ts'
import { EvidencePool } from '../../src/consensus/evidence-pool.ts'
import { evidenceKey, verifyEvidence } from '../../src/consensus/signing.ts'
import type { DuplicateVoteEvidence } from '../../src/consensus/types.ts'
import { ValidatorSet } from '../../src/consensus/validator-set.ts'
import { makeChain } from './helpers/fixtures.ts'
import { simulate } from './helpers/simulator.ts'

describe('evidence of equivocation', function () {
  this.timeout(60_000)
  const chain = makeChain(4)
  // A run with one equivocating validator over a hostile network: evidence must end up in blocks.
  const run = simulate({
    seed: 4242,
    validators: 4,
    byzantine: 1,
    gstMs: 1000,
    heightsAfterGst: 6,
    livenessBudgetMs: 60_000,
  })
  const committed: DuplicateVoteEvidence[] = [...run.blocks.values()].flatMap((b) => b.evidence)

  it('is detected, gossiped and committed in blocks, each equivocation once', () => {
    assert.equal(run.safetyViolation, undefined)
    assert.ok(committed.length > 0, 'the equivocator was caught')
    const keys = committed.map(evidenceKey)
    assert.equal(new Set(keys).size, keys.length, 'no equivocation is committed twice')
  })

  it('is verifiable by anyone holding only the genesis validator set', () => {
    const outsider = ValidatorSet.create(chain.genesis.validators)
    for (const e of committed) verifyEvidence(chain.genesis.chainId, outsider, e)
    const e = committed[0] as DuplicateVoteEvidence
    const forged = { ...e, voteB: { ...e.voteB, signature: new Uint8Array(64).fill(1) } }
    assert.throws(() => verifyEvidence(chain.genesis.chainId, outsider, forged), /bad signature/)
    assert.throws(
      () => verifyEvidence(chain.genesis.chainId, outsider, { voteA: e.voteA, voteB: e.voteA }),
      /not in canonical order|equal/,
    )
    assert.throws(() => verifyEvidence('another-chain', outsider, e), /bad signature/)
  })

  it('a block that repeats committed evidence is invalid; the pool never offers it again', () => {
    const [height, withEvidence] = [...run.blocks].find(([, b]) => b.evidence.length > 0) ?? [0, undefined]
    assert.ok(withEvidence !== undefined)
    const previous = run.blocks.get(height - 1)
    assert.ok(previous !== undefined)
    const tip = {
      chainId: chain.genesis.chainId,
      height,
      previousBlockHash: withEvidence.header.previousBlockHash,
      previousTimeMs: previous.header.timeMs,
      previousBeacon: previous.header.beacon,
      appHash: withEvidence.header.appHash,
      validators: chain.validators,
      lastValidators: chain.validators,
      committedEvidence: new Set<string>(),
      maxBlockBytes: 1 << 20,
      maxEvidenceAgeHeights: 100,
    }
    validateBlock(tip, withEvidence)
    const already = new Set(withEvidence.evidence.map(evidenceKey))
    assert.throws(
      () => validateBlock({ ...tip, committedEvidence: already }, withEvidence),
      /evidence already committed/,
    )
    const pool = new EvidencePool(chain.genesis.chainId, chain.validators)
    pool.setHeight(height, chain.validators, 100)
    const e = withEvidence.evidence[0] as DuplicateVoteEvidence
    assert.ok(pool.add(e))
    assert.ok(!pool.add(e), 'held once')
    pool.markCommitted([e])
    assert.deepEqual(pool.pending(), [])
    assert.ok(!pool.add(e), 'never offered again once committed')
  })
})
