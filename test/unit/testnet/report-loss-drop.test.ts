import assert from 'node:assert/strict'
import { formatReport, lossDropOf, type TestnetReport } from '../../../src/testnet/report.ts'

function report(losses: readonly number[]): TestnetReport {
  const lossPerWindow = losses.map((loss, i) => ({ window: i, height: 20 * i, loss }))
  return {
    name: 'default',
    seed: 1,
    finished: true,
    elapsedMs: 103_000,
    blocks: 83,
    windows: Math.max(0, losses.length - 1),
    lossPerWindow,
    lossDrop: lossDropOf(lossPerWindow),
    submissions: {
      total: 0,
      accepted: 0,
      flagged: 0,
      flaggedCopied: 0,
      flaggedMismatch: 0,
      challenged: 0,
      slashed: 0,
    },
    challenges: { total: 0, upheld: 0, unavailable: 0, rejected: 0, lapsed: 0, availability: 0 },
    supply: { minted: '0', slashed: '0' },
    honestSlashed: 0,
    cheatersSlashed: 0,
    cheaters: [],
    bytesMoved: 0,
    sharding: { minerBackboneBytes: 0, fullModelBytes: 1, saving: 0 },
  }
}

describe('testnet report: the held-out loss drop over the run', () => {
  it('is the first evaluation against the last, whatever came between', () => {
    const d = lossDropOf([{ loss: 2.2 }, { loss: 2.3 }, { loss: 2.1 }, { loss: 2.0 }])
    assert.ok(d !== null)
    assert.equal(d.first, 2.2)
    assert.equal(d.last, 2.0)
    assert.ok(Math.abs(d.drop - 0.2) < 1e-12)
    assert.ok(Math.abs(d.relative - 0.2 / 2.2) < 1e-12)
  })

  it('is not measured from fewer than two evaluations', () => {
    assert.equal(lossDropOf([]), null)
    assert.equal(lossDropOf([{ loss: 2.1685 }]), null)
  })

  it('is stated in the summary line, a rise as a rise', () => {
    const down = formatReport(report([2.1685, 2.1649, 2.1595])).split('\n')[0] as string
    assert.match(
      down,
      /^testnet default \(seed 1\): finished after 103 s, held-out loss down 0\.0090 nats\/byte \(0\.42%: 2\.1685 → 2\.1595\)$/,
    )
    const up = formatReport(report([2.1685, 2.1762])).split('\n')[0] as string
    assert.match(up, /held-out loss up 0\.0077 nats\/byte \(0\.36%: 2\.1685 → 2\.1762\)$/)
    const none = formatReport(report([2.1685])).split('\n')[0] as string
    assert.match(none, /held-out loss drop not measured/)
  })
})
