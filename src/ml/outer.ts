/**
 * The outer step of DiLoCo (Douillard et al. 2023): miners run many local AdamW steps and submit
 * the change of their adapters, the pseudo-gradient Δ = θ_start − θ_end; the aggregate applies
 * SGD with Nesterov momentum to the mean Δ. Nesterov rather than plain averaging because the
 * paper (and INTELLECT-1 after it) found it both faster and steadier with few, large outer
 * steps. Every operation is a kernel of the contract, so the bytes are the same on every backend.
 */
import { MlConfigError, ShapeError } from './errors.ts'
import type { Kernels } from './kernels/contract.ts'
import type { Params } from './weights.ts'

const f = Math.fround

export interface NesterovConfig {
  /** Outer learning rate. @default 0.7 (DiLoCo) */
  readonly lr: number
  /** Momentum μ. @default 0.9 */
  readonly momentum: number
}

/** Δ = before − after for every tensor of `before` (sorted names); throws when the shapes differ. */
export function pseudoGradient(K: Kernels, before: Params, after: Params): Params {
  const out: Params = new Map()
  for (const name of [...before.keys()].sort()) {
    const a = before.get(name) as Float32Array
    const b = after.get(name)
    if (b?.length !== a.length) throw new ShapeError(`'${name}' has no matching tensor of ${a.length} values after`)
    const d = new Float32Array(a.length)
    K.addScaled(d, a, b, -1)
    out.set(name, d)
  }
  if (after.size !== before.size) throw new ShapeError('the two parameter sets name different tensors')
  return out
}

/**
 * One Nesterov step in place, tensors in sorted-name order: v ← μ·v + Δ, then
 * θ ← θ − lr·Δ − (lr·μ)·v, the fold of `weightedSum` (coefficients rounded once to float32).
 */
export function nesterovStep(K: Kernels, params: Params, momentum: Params, delta: Params, c: NesterovConfig): void {
  if (!(c.lr > 0 && c.momentum >= 0 && c.momentum < 1))
    throw new MlConfigError('Nesterov needs lr > 0 and momentum in [0, 1)')
  const mu = f(c.momentum)
  const lr = f(c.lr)
  const velocityCoef = Float32Array.of(mu, 1)
  const paramCoef = Float32Array.of(1, f(-lr), f(-f(lr * mu)))
  for (const name of [...delta.keys()].sort()) {
    const d = delta.get(name) as Float32Array
    const p = params.get(name)
    const v = momentum.get(name)
    if (p?.length !== d.length || v?.length !== d.length)
      throw new ShapeError(`pseudo-gradient '${name}' has no matching parameter and momentum of ${d.length} values`)
    const nextV = new Float32Array(d.length)
    K.weightedSum(nextV, [v, d], velocityCoef)
    v.set(nextV)
    const nextP = new Float32Array(d.length)
    K.weightedSum(nextP, [p, d, v], paramCoef)
    p.set(nextP)
  }
}
