import { strict as assert } from 'node:assert'
import { windowProtocols } from '../../src/actors/training/window-protocol.ts'
import { localTestnetParams, trainingParamsOf } from '../../src/chain/params.ts'
import type { Window } from '../../src/chain/state.ts'
import { getModelConfig } from '../../src/ml/config.ts'

describe('actors: the training protocol of a window', () => {
  const config = getModelConfig('micro')
  const recorded = { ...trainingParamsOf(localTestnetParams), innerSteps: 5, innerLrPpm: 1500, outerMomentumPpm: 0 }
  const chain = {
    params: { ...localTestnetParams, innerSteps: 12, outerLrPpm: 300_000, outerMomentumPpm: 500_000 },
    window: (id: number) => (id === 2 ? ({ id, training: recorded } as unknown as Window) : null),
  }
  const protocolAt = windowProtocols(config, chain)

  it('follows the parameters the window recorded when it opened, not the current ones', () => {
    const p = protocolAt(2)
    assert.equal(p.innerSteps, 5)
    assert.equal(p.optimizer.lr, Math.fround(0.0015))
    assert.deepEqual(p.outer, { lr: Math.fround(0.35), momentum: 0 })
  })

  it('a window the chain does not hold (not open yet, or pruned) takes the current parameters', () => {
    const p = protocolAt(3)
    assert.equal(p.innerSteps, 12)
    assert.deepEqual(p.outer, { lr: Math.fround(0.3), momentum: Math.fround(0.5) })
  })
})
