import assert from 'node:assert/strict'
import {
  lossChartSvg,
  lossDrop,
  submissionBytes,
  tokensReached,
  trainingMeasures,
} from '../../../bench/training-measures.ts'
import type { Claim } from '../../../src/chain/state.ts'

function claim(c: Partial<Claim> & Pick<Claim, 'id' | 'kind'>): Claim {
  return {
    owner: 'r3mes1owner',
    window: 1,
    subnet: 0,
    taskId: null,
    cid: 'bafy',
    height: 10,
    status: 'accepted',
    flag: null,
    challengeUntil: 20,
    metadata: '',
    previousCid: null,
    claims: [],
    ...c,
  }
}

describe('bench/training: the measures of the training benchmark', () => {
  it('counts each aggregated task once (replicas trained the same tokens), per subnet, and leaves slashed aggregates and unaggregated work out', () => {
    const claims = [
      claim({ id: 's1', kind: 'submission', taskId: '1.0.0' }),
      claim({ id: 's2', kind: 'submission', taskId: '1.0.0' }), // the replica
      claim({ id: 's3', kind: 'submission', taskId: '1.0.1' }),
      claim({ id: 's4', kind: 'submission', taskId: '1.1.0', subnet: 1 }),
      claim({ id: 's5', kind: 'submission', taskId: '1.1.1', subnet: 1 }), // not taken in
      claim({ id: 's6', kind: 'submission', taskId: '2.0.0', window: 2 }),
      claim({ id: 'a1', kind: 'aggregate', claims: ['s1', 's2', 's3'] }),
      claim({ id: 'a2', kind: 'aggregate', subnet: 1, claims: ['s4'] }),
      claim({ id: 'a3', kind: 'aggregate', window: 2, status: 'slashed', claims: ['s6'] }),
    ]
    const r = tokensReached(claims, 256, 2)
    assert.deepEqual(r, { aggregates: 2, tasks: 3, submissions: 4, modelTokens: (3 * 256) / 2 })
  })

  it('charges every commit and reveal to the submissions revealed', () => {
    const s = submissionBytes([
      { type: 'commit', bytes: 300 },
      { type: 'reveal', bytes: 400 },
      { type: 'transfer', bytes: 1000 },
      { type: 'commit', bytes: 310 },
      { type: 'reveal', bytes: 410 },
    ])
    assert.deepEqual(s, { commits: 2, reveals: 2, commitBytes: 610, revealBytes: 810, perSubmission: 710 })
    assert.equal(submissionBytes([{ type: 'commit', bytes: 300 }]).perSubmission, null)
  })

  it('compares the network with the central run against the goals, and fails what was not measured', () => {
    const m = trainingMeasures({
      networkTokensPerSecond: 25,
      modelTokensPerSecond: 12.5,
      centralTokensPerSecond: 625,
      networkLossDrop: 0.009,
      centralLossDrop: 0.1,
      minerDownloadFractions: [0.48, 0.52],
      subnets: 2,
      chainBytesPerSubmission: 710,
    })
    assert.equal(m.networkVsCentralTokens.value, 0.04)
    assert.equal(m.networkVsCentralTokens.pass, false)
    assert.equal(m.networkVsCentralTokens.goal, '≥ 0.5')
    assert.equal(m.modelTokensVsCentral.value, 0.02, 'the distinct tokens that reached the model')
    assert.ok(Math.abs((m.lossDropVsCentral.value as number) - 0.09) < 1e-12)
    assert.equal(m.downloadPerMinerVsModel.value, 0.52, 'the miner that fetched most')
    assert.equal(m.downloadPerMinerVsModel.goal, '≤ 1/2')
    assert.equal(m.downloadPerMinerVsModel.pass, false)
    assert.equal(m.chainBytesPerSubmission.pass, false)

    const good = trainingMeasures({
      networkTokensPerSecond: 400,
      modelTokensPerSecond: 320,
      centralTokensPerSecond: 625,
      networkLossDrop: 0.08,
      centralLossDrop: 0.1,
      minerDownloadFractions: [0.25, 0.25],
      subnets: 4,
      chainBytesPerSubmission: 300,
    })
    assert.deepEqual(
      Object.values(good).map((x) => x.pass),
      [true, true, true, true, true],
    )
    const none = trainingMeasures({
      networkTokensPerSecond: 0,
      modelTokensPerSecond: 0,
      centralTokensPerSecond: 625,
      networkLossDrop: null,
      centralLossDrop: 0,
      minerDownloadFractions: [],
      subnets: 2,
      chainBytesPerSubmission: null,
    })
    assert.equal(none.lossDropVsCentral.value, null)
    assert.equal(none.downloadPerMinerVsModel.value, null)
    assert.deepEqual(
      Object.values(none).map((x) => x.pass),
      [false, false, false, false, false],
    )
  })

  it('takes the loss drop from the first and last evaluations', () => {
    assert.equal(lossDrop([]), null)
    assert.equal(lossDrop([{ seconds: 0, loss: 2.2 }]), null)
    assert.ok(
      Math.abs(
        (lossDrop([
          { seconds: 0, loss: 2.2 },
          { seconds: 20, loss: 2.25 },
          { seconds: 40, loss: 2.0 },
        ]) as number) - 0.2,
      ) < 1e-12,
    )
  })

  it('draws both loss curves in one SVG, each point where its time and loss put it', () => {
    const svg = lossChartSvg(
      [
        {
          name: 'central <ml>',
          color: '#1f77b4',
          points: [
            { seconds: 0, loss: 2.2 },
            { seconds: 120, loss: 2.0 },
          ],
        },
        { name: 'network', color: '#ff7f0e', points: [{ seconds: 60, loss: 2.1 }] },
      ],
      'held-out loss',
    )
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
    assert.ok(svg.trimEnd().endsWith('</svg>'))
    assert.equal((svg.match(/<polyline /g) ?? []).length, 2)
    assert.match(svg, /central &lt;ml&gt;/, 'names are escaped')
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])])
    assert.equal(circles.length, 3)
    const [start, end, mid] = circles as [number[], number[], number[]]
    // Later sits further right, lower loss lower down.
    assert.ok((start[0] as number) < (mid[0] as number) && (mid[0] as number) < (end[0] as number))
    assert.ok((end[1] as number) > (mid[1] as number) && (mid[1] as number) > (start[1] as number))
    // The network's point at 1 of 2 minutes sits halfway along the x axis.
    assert.ok(Math.abs((mid[0] as number) - ((start[0] as number) + (end[0] as number)) / 2) < 0.2)
  })
})
