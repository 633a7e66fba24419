import assert from 'node:assert/strict'
import { type SimOptions, simulate } from './helpers/simulator.ts'

function check(opts: SimOptions): ReturnType<typeof simulate> {
  const r = simulate(opts)
  const replay = `replay: simulate(${JSON.stringify(opts)})`
  assert.equal(r.crashed, undefined, `seed ${opts.seed}: an honest node crashed: ${r.crashed}\n${replay}`)
  assert.equal(r.safetyViolation, undefined, `seed ${opts.seed}: SAFETY: ${r.safetyViolation}\n${replay}`)
  assert.ok(
    r.livenessReached,
    `seed ${opts.seed}: no progress after GST (min honest height ${r.minHonestHeight})\n${r.nodes.join('\n')}\n${replay}`,
  )
  assert.ok(!r.duplicateEvidenceInChain, `seed ${opts.seed}: evidence committed twice\n${replay}`)
  return r
}

describe('consensus simulation (seeded, hostile network, Byzantine equivocators)', function () {
  this.timeout(120_000)
  for (const [validators, f, seeds] of [
    [4, 1, 200],
    [7, 2, 150],
  ] as const) {
    it(`${validators} validators, up to ${f} Byzantine: ${seeds} seeds keep safety and regain liveness after GST`, () => {
      let evidence = 0
      let heights = 0
      for (let seed = 1; seed <= seeds; seed++) {
        const r = check({
          seed: seed * 7919 + validators,
          validators,
          byzantine: seed % (f + 1),
          gstMs: 500 + ((seed * 37) % 3000),
          heightsAfterGst: 3,
          livenessBudgetMs: 60_000,
          // Every third seed the equivocators collude (twin votes for twin blocks).
          collude: seed % 3 === 0,
          // Unequal stake on odd seeds (each validator still holds less than 1/3 of it).
          ...(seed % 2 === 1 ? { powers: Array.from({ length: validators }, (_, i) => 10 + i) } : {}),
        })
        evidence += r.evidenceCommitted
        heights += r.chain.size
      }
      assert.ok(heights >= seeds * 3, 'the runs commit blocks')
      assert.ok(evidence > 0, 'equivocation by Byzantine validators ends up as evidence in blocks')
    })
  }

  it('one seed replays the same run: same blocks, same number of messages', () => {
    const opts = { seed: 31337, validators: 4, byzantine: 1, gstMs: 1500, heightsAfterGst: 3, livenessBudgetMs: 30_000 }
    const a = simulate(opts)
    const b = simulate(opts)
    assert.deepEqual([...a.chain], [...b.chain])
    assert.equal(a.messages, b.messages)
    assert.notDeepEqual([...simulate({ ...opts, seed: 31338 }).chain], [...a.chain], 'another seed, another run')
  })

  it('the checker does catch a fork when more than f validators collude (so its silence above means something)', () => {
    const forks: string[] = []
    // Not every schedule lets two colluders split the honest pair; about one seed in fifty does.
    for (let seed = 1; seed <= 120 && forks.length === 0; seed++) {
      const r = simulate({
        seed,
        validators: 4,
        byzantine: 2,
        gstMs: 2000,
        heightsAfterGst: 3,
        livenessBudgetMs: 20_000,
        collude: true,
      })
      if (r.safetyViolation !== undefined) forks.push(`seed ${seed}: ${r.safetyViolation}`)
    }
    assert.equal(forks.length, 1, 'two colluding equivocators of four split the honest validators')
    assert.match(forks[0] as string, /height \d+: validator \d+ committed/)
  })
})

describe('validator-set changes from the application (seeded simulation)', function () {
  this.timeout(120_000)
  for (const [validators, f, seeds] of [
    [4, 1, 30],
    [7, 2, 20],
  ] as const) {
    it(`${validators} validators, up to ${f} Byzantine: one joins and one honest leaves mid-run over ${seeds} seeds; safety holds, the joiner votes from H+2 on, the leaver stops at H+2`, () => {
      let joinerInCommits = 0
      let joinerVoted = 0
      for (let seed = 1; seed <= seeds; seed++) {
        const opts: SimOptions = {
          seed: seed * 104_729 + validators,
          validators,
          byzantine: seed % (f + 1),
          gstMs: 800 + ((seed * 53) % 2000),
          heightsAfterGst: 8,
          livenessBudgetMs: 60_000,
          collude: seed % 3 === 0,
          membership: true,
        }
        const r = check(opts)
        const m = r.membership
        const replay = `replay: simulate(${JSON.stringify(opts)})`
        assert.ok(m !== undefined)
        assert.ok(
          m.joinHeight !== undefined && m.removeHeight !== undefined,
          `seed ${seed}: updates committed\n${replay}`,
        )
        const joinedAt = m.joinHeight + 2
        const leftAt = m.removeHeight + 2
        assert.ok(
          m.joinerVoteHeights.every((h) => h >= joinedAt),
          `seed ${seed}: the joiner signed before height ${joinedAt}: ${m.joinerVoteHeights}\n${replay}`,
        )
        if (m.joinerVoteHeights.length > 0) joinerVoted++
        if (m.joinerCommitSignatures > 0) joinerInCommits++
        assert.ok(
          m.removedVoteHeights.every((h) => h < leftAt),
          `seed ${seed}: the removed validator signed at or after height ${leftAt}\n${replay}`,
        )
        assert.ok(r.minHonestHeight >= leftAt, `seed ${seed}: the chain went past the removal\n${replay}`)
      }
      // A joiner that fell behind during the hostile period catches up by decided blocks while
      // the others move on, and a run ends 8 heights after it heals: in a few seeds of a hundred
      // the joiner is still a height behind at the end and never got to vote. Over the seeds it
      // must vote. A commit holds the first +2/3 precommits to arrive, so a joiner that is
      // always a little late can be left out of a short run; over the seeds its votes must count.
      assert.ok(joinerVoted >= seeds - 1, `the joiner voted in ${joinerVoted} of ${seeds} runs`)
      assert.ok(
        joinerInCommits >= seeds / 2,
        `the joiner's precommit is in a commit in ${joinerInCommits} of ${seeds} runs`,
      )
    })
  }
})
