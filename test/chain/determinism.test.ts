/**
 * Seeded random transaction sequences, each applied by two independent application instances
 * (the second also runs every transaction through checkTx first, as a mempool does, which
 * exercises the rollback journal). After every block: same app hash, same results, and token
 * supply = genesis + minted − slashed with every token accounted for. A failure names its seed.
 */
import assert from 'node:assert/strict'
import { encodeEvidence, signEvidenceVote } from '../../src/chain/evidence.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { randomHarness, randomTx, validators } from './random-chain.ts'

const SEQUENCES = Number(process.env.R3MES_CHAIN_SEQUENCES ?? 2000)
const BLOCKS = 4
const LONG_SEQUENCES = Number(process.env.R3MES_CHAIN_LONG_SEQUENCES ?? 40)
const LONG_BLOCKS = 30
interface Stats {
  total: number
  accepted: number
  codes: Set<string>
  games: { resolved: number; escalated: number; slashed: number; silentVerifiers: number }
  /** Blocks after which at least one window had been pruned. */
  prunedBlocks: number
}

/** Run `count` sequences of `blocks` blocks from seeds [first, first + count). */
function runSequences(first: number, count: number, blocks: number, maxTxs: number, windowBlocks: number): Stats {
  const stats: Stats = {
    total: 0,
    accepted: 0,
    codes: new Set(),
    games: { resolved: 0, escalated: 0, slashed: 0, silentVerifiers: 0 },
    prunedBlocks: 0,
  }
  for (let seed = first; seed < first + count; seed++) {
    const rng = new SeededRandom(seed)
    const h = randomHarness(rng, windowBlocks, true)
    h.hashLabel = `seed-${seed}`
    h.proposer = rng.pick(validators).address
    const picks = new Map<string, string>()
    const resolved = new Set<string>()
    const escalated = new Set<string>()
    const silent = new Set<string>()
    try {
      for (let b = 0; b < blocks; b++) {
        const txs = Array.from({ length: rng.nextInt(maxTxs + 1) }, () => randomTx(h, rng, picks))
        const evidence: Uint8Array[] = []
        if (rng.chance(0.03) && h.height > 0) {
          const v = rng.pick(validators)
          evidence.push(
            encodeEvidence({
              validator: v.address,
              height: h.height,
              round: 0,
              voteA: signEvidenceVote(v, h.genesis.chainId, h.height, 0, {
                type: 'precommit',
                blockHash: toHex(sha256('a', String(h.height))),
              }),
              voteB: signEvidenceVote(v, h.genesis.chainId, h.height, 0, {
                type: 'precommit',
                blockHash: toHex(sha256(rng.chance(0.8) ? 'b' : 'a', String(h.height))),
              }),
            }),
          )
        }
        const results = h.block(txs, evidence)
        for (const [, c] of h.app.state.challenges.entries()) {
          if (c.stage === 'resolved') resolved.add(c.id)
          if (c.panelSeed !== null) escalated.add(c.id)
          if (c.tried.length > 0) silent.add(c.id)
        }
        if (h.app.state.globals.prunedWindows > 0) stats.prunedBlocks++
        for (const r of results) stats.codes.add(r.code)
        stats.accepted += results.filter((r) => r.code === 'OK').length
        stats.total += results.length
      }
    } catch (error) {
      assert.fail(`seed ${seed}: ${(error as Error).stack}`)
    }
    stats.games.resolved += resolved.size
    stats.games.escalated += escalated.size
    stats.games.silentVerifiers += silent.size
    if (h.app.state.globals.slashed > 0n) stats.games.slashed++
  }
  if (process.env.R3MES_CHAIN_STATS) process.stderr.write(`${JSON.stringify({ ...stats, codes: [...stats.codes] })}\n`)
  assert.ok(stats.accepted > stats.total / 5, `only ${stats.accepted} of ${stats.total} transactions accepted`)
  return stats
}

describe('chain/determinism: seeded random transaction sequences on two independent instances', function () {
  this.timeout(120_000)

  it(`${SEQUENCES} short sequences (${BLOCKS} blocks): same app hash and results at every height, supply conserved`, () => {
    const stats = runSequences(0, SEQUENCES, BLOCKS, 3, 2)
    for (const code of ['OK', 'ERR_WRONG_NONCE', 'ERR_METADATA_TOO_LARGE', 'ERR_WRONG_WINDOW', 'ERR_DUPLICATE'])
      assert.ok(stats.codes.has(code), `the sequences never produced ${code}: ${[...stats.codes].join(' ')}`)
  })

  it(`${LONG_SEQUENCES} long sequences (${LONG_BLOCKS} blocks) through whole verification games: same app hashes`, () => {
    const stats = runSequences(1_000_000, LONG_SEQUENCES, LONG_BLOCKS, 4, 4)
    const g = stats.games
    assert.ok(
      g.resolved > 0 && g.escalated > 0 && g.slashed > 0 && g.silentVerifiers > 0,
      `games: ${JSON.stringify(g)}`,
    )
    assert.ok(stats.prunedBlocks > 0, 'no sequence pruned a window')
    for (const code of ['ERR_BOND_TOO_SMALL', 'ERR_NOT_CHALLENGEABLE', 'ERR_CHALLENGE_CLOSED'])
      assert.ok(stats.codes.has(code), `the sequences never produced ${code}: ${[...stats.codes].join(' ')}`)
  })
})
