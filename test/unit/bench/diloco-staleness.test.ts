/**
 * The staleness the DiLoCo bench models is the chain's: over the real chain application on the
 * default testnet's timing, a window's miners load the final pointer when it opens, and each
 * aggregate lands on the state after the previous window's, `staleRounds` rounds newer.
 */
import assert from 'node:assert/strict'
import { staleRounds } from '../../../bench/diloco.ts'
import { claimListDigest } from '../../../src/chain/claim-list.ts'
import { defaultParams, localTestnetParams, type Params } from '../../../src/chain/params.ts'
import type { Aggregation, Claim, Window } from '../../../src/chain/state.ts'
import { DEFAULT_TOPOLOGY_FILE, loadTopology } from '../../../src/topology/load.ts'
import { cid, gameCast, type Harness, submitPair } from '../../chain/harness.ts'

const cast = gameCast(0)
const [m0a, m0b] = cast.miners[0] as [(typeof cast.miners)[0][0], (typeof cast.miners)[0][0]]

/** Both miners of subnet 0 commit to the current window's task and reveal one CID: the accepted claim ids. */
const submit = (h: Harness): string[] => submitPair(h, [m0a, m0b])

describe('bench: the staleness of DiLoCo rounds on the chain', () => {
  let timing: Params
  before(async () => {
    timing = (await loadTopology(DEFAULT_TOPOLOGY_FILE)).chain.params
  })

  it('counts two rounds on the default testnet, the local preset and production; one when the challenge periods fit a window', () => {
    assert.equal(staleRounds(timing), 2)
    assert.equal(staleRounds(localTestnetParams), 2)
    assert.equal(staleRounds(defaultParams), 2)
    assert.equal(staleRounds({ windowBlocks: 20, challengePeriodBlocks: 10, aggregateChallengeBlocks: 9 }), 1)
  })

  it('window k starts from window k − 1 − d’s aggregate and its own lands on window k − 1’s, d = staleRounds', () => {
    const h = cast.net({
      windowBlocks: timing.windowBlocks,
      challengePeriodBlocks: timing.challengePeriodBlocks,
      aggregateChallengeBlocks: timing.aggregateChallengeBlocks,
      aggregationDeadlineBlocks: timing.aggregationDeadlineBlocks,
    })
    const windows = 8
    const label = (w: number): string => cid(`state-after-window-${w}`)
    const windowOfCid = new Map(Array.from({ length: windows }, (_, w) => [label(w), w]))
    // The window whose aggregate each window's miners start from (-1: the initial adapters).
    const startsFrom = new Map<number, number>()
    const submitted = new Map<number, string[]>()
    let seen = -1
    while (h.app.state.globals.currentWindow < windows) {
      h.block()
      const current = h.app.state.globals.currentWindow
      if (current !== seen && current < windows) {
        // What a miner loads on the block that opens the window, then its task.
        seen = current
        const pointer = h.app.query('final-pointer/0') as string | null
        startsFrom.set(current, pointer === null ? -1 : (windowOfCid.get(pointer) as number))
        submitted.set(current, submit(h))
      }
      // The drawn aggregator sends as soon as an aggregation is due (a = 1 block).
      for (const [w, claims] of submitted) {
        const a = h.app.query(`aggregation/${w}/0`) as Aggregation | null
        if (a?.stage !== 'due') continue
        const aggregator = cast.key((h.app.query(`window/${w}`) as Window).aggregator)
        h.ok(aggregator, {
          type: 'aggregate',
          window: w,
          subnet: 0,
          claimsDigest: claimListDigest(claims),
          unavailable: '00', // a bitmap over the two accepted submissions: none left out
          adapterCid: label(w),
        })
      }
    }
    const d = staleRounds(timing, 1)
    for (let k = 0; k < windows; k++) assert.equal(startsFrom.get(k), Math.max(-1, k - 1 - d), `window ${k}'s start`)
    for (let w = 1; w < windows - d - 1; w++) {
      const agg = h.app.state.claims.get(`agg/${w}/0`) as Claim
      assert.equal(agg.previousCid, label(w - 1), `window ${w}'s aggregate lands on window ${w - 1}'s`)
    }
  })
})
