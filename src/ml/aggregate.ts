/**
 * Aggregation of several miners' gradients into one, weighted by the tokens each trained on.
 * The order is canonical (the caller's, e.g. the chain's order of accepted submissions), and
 * the coefficients are tokens_i / Σ tokens rounded once, so every aggregator gets the same
 * bytes.
 */
import { ShapeError } from './errors.ts'
import type { Kernels } from './kernels/contract.ts'
import type { Params } from './weights.ts'

export interface WeightedGradient {
  readonly grads: Params
  /** Tokens this gradient was computed on (a positive integer). */
  readonly tokens: number
}

export function aggregateGradients(K: Kernels, contributions: readonly WeightedGradient[]): Params {
  if (contributions.length === 0) throw new ShapeError('nothing to aggregate')
  let total = 0
  for (const c of contributions) {
    if (!(Number.isSafeInteger(c.tokens) && c.tokens > 0))
      throw new ShapeError(`token count ${c.tokens} is not a positive integer`)
    total += c.tokens
  }
  const coef = Float32Array.from(contributions, (c) => Math.fround(c.tokens / total))
  const first = (contributions[0] as WeightedGradient).grads
  const names = [...first.keys()].sort()
  const out: Params = new Map()
  for (const name of names) {
    const parts = contributions.map((c, i) => {
      const g = c.grads.get(name)
      const expected = first.get(name) as Float32Array
      if (g?.length !== expected.length)
        throw new ShapeError(`contribution ${i} lacks '${name}' of ${expected.length} values`)
      return g
    })
    for (const c of contributions) {
      if (c.grads.size !== first.size) throw new ShapeError('contributions name different parameters')
    }
    const sum = new Float32Array((first.get(name) as Float32Array).length)
    K.weightedSum(sum, parts, coef)
    out.set(name, sum)
  }
  return out
}
