import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { ShapeError } from '../../src/ml/errors.ts'
import { availableBackends, getKernels } from '../../src/ml/kernels/select.ts'
import { nesterovStep, pseudoGradient } from '../../src/ml/outer.ts'
import type { Params } from '../../src/ml/weights.ts'

const f = Math.fround
const ts = getKernels('ts')

function params(entries: Record<string, number[]>): Params {
  return new Map(Object.entries(entries).map(([k, v]) => [k, Float32Array.from(v)]))
}

describe('outer optimizer (DiLoCo)', () => {
  it('the pseudo-gradient is before − after, tensor by tensor', () => {
    const d = pseudoGradient(ts, params({ a: [1, 2], b: [0.5] }), params({ a: [0.75, 2.5], b: [0.5] }))
    assert.deepEqual([...(d.get('a') as Float32Array)], [0.25, -0.5])
    assert.deepEqual([...(d.get('b') as Float32Array)], [0])
  })

  it('refuses tensors that do not match', () => {
    assert.throws(() => pseudoGradient(ts, params({ a: [1, 2] }), params({ a: [1] })), ShapeError)
    assert.throws(() => pseudoGradient(ts, params({ a: [1] }), params({ a: [1], b: [2] })), ShapeError)
  })

  it('a Nesterov step is v ← μv + Δ, θ ← θ − lr·Δ − lr·μ·v, each op rounded to float32', () => {
    const p = params({ w: [1, -2] })
    const v = params({ w: [0.5, 0] })
    const delta = params({ w: [0.1, -0.3] })
    nesterovStep(ts, p, v, delta, { lr: 0.7, momentum: 0.9 })
    for (const [i, [theta, v0, d]] of [
      [1, 0.5, 0.1],
      [-2, 0, -0.3],
    ].entries()) {
      const v1 = f(f(f(0.9) * f(v0 as number)) + f(d as number))
      assert.equal((v.get('w') as Float32Array)[i], v1)
      const lr = f(0.7)
      const expected = f(f(f(theta as number) + f(f(-lr) * f(d as number))) + f(f(-f(lr * f(0.9))) * v1))
      assert.equal((p.get('w') as Float32Array)[i], expected)
    }
  })

  it('with zero momentum and lr 1 the step lands on θ − Δ (plain averaging of the replicas)', () => {
    const before = params({ w: [1, 2, 3] })
    const after = params({ w: [0.5, 2.25, -1] })
    const theta = params({ w: [1, 2, 3] })
    nesterovStep(ts, theta, params({ w: [0, 0, 0] }), pseudoGradient(ts, before, after), { lr: 1, momentum: 0 })
    assert.deepEqual([...(theta.get('w') as Float32Array)], [0.5, 2.25, -1])
  })

  it('gives the same bytes on every available backend', () => {
    const backends = availableBackends().filter((b) => b !== 'cuda')
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -4, max: 4 }), { minLength: 1, maxLength: 40 }),
        (values) => {
          const runs = backends.map((b) => {
            const K = getKernels(b)
            const theta = params({ w: values })
            const v = params({ w: values.map((x) => x / 2) })
            nesterovStep(K, theta, v, params({ w: values.map((x) => x / 3) }), { lr: 0.7, momentum: 0.9 })
            return Buffer.from((theta.get('w') as Float32Array).buffer).toString('hex')
          })
          for (const r of runs) assert.equal(r, runs[0])
        },
      ),
      { numRuns: 50 },
    )
  })
})
