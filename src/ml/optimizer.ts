/**
 * AdamW over named parameters, in canonical (sorted-name) order.
 *
 * Why AdamW rather than SGD with momentum: LoRA fine-tuning mixes parameters whose gradients
 * differ by orders of magnitude (A and B, attention and feed-forward, early and late layers);
 * Adam's per-parameter scaling makes one learning rate work for all of them, which matters
 * when the step is applied by an aggregator for many miners. Its state (two moments) is
 * part of the adapter artifact, so every node that applies a step gets the same bytes.
 */
import { MlConfigError, ShapeError } from './errors.ts'
import type { Kernels } from './kernels/contract.ts'
import type { Params } from './weights.ts'

const f = Math.fround

export interface AdamWConfig {
  /** @default 1e-3 */
  readonly lr: number
  /** @default 0.9 */
  readonly beta1: number
  /** @default 0.999 */
  readonly beta2: number
  /** @default 1e-8 */
  readonly eps: number
  /** @default 0 (LoRA adapters are small and start at zero) */
  readonly weightDecay: number
}

export const defaultAdamW: AdamWConfig = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }

export interface AdamWState {
  /** Steps applied so far. */
  step: number
  readonly m: Params
  readonly v: Params
}

export function initAdamW(params: Params): AdamWState {
  const m: Params = new Map()
  const v: Params = new Map()
  for (const [name, p] of params) {
    m.set(name, new Float32Array(p.length))
    v.set(name, new Float32Array(p.length))
  }
  return { step: 0, m, v }
}

/** β^n by repeated float32 multiplication (no library pow). */
function powf(beta: number, n: number): number {
  let r = 1
  for (let i = 0; i < n; i++) r = f(r * beta)
  return r
}

/** Apply one AdamW step in place to every parameter that has a gradient. */
export function adamwStep(K: Kernels, params: Params, grads: Params, state: AdamWState, config: AdamWConfig): void {
  if (!(config.lr > 0 && config.beta1 >= 0 && config.beta1 < 1 && config.beta2 >= 0 && config.beta2 < 1)) {
    throw new MlConfigError('AdamW needs lr > 0 and betas in [0, 1)')
  }
  state.step += 1
  const bc1 = f(1 - powf(f(config.beta1), state.step))
  const bc2 = f(1 - powf(f(config.beta2), state.step))
  for (const name of [...grads.keys()].sort()) {
    const p = params.get(name)
    const g = grads.get(name) as Float32Array
    const m = state.m.get(name)
    const v = state.v.get(name)
    if (p === undefined || m === undefined || v === undefined || p.length !== g.length) {
      throw new ShapeError(`gradient '${name}' has no matching parameter of ${g.length} values`)
    }
    K.adamw(p, m, v, g, f(config.lr), f(config.beta1), f(config.beta2), f(config.eps), f(config.weightDecay), bc1, bc2)
  }
}
