/** Rotary position tables, from the project's own float32 exp/log/sin/cos (see fmath.ts). */
import type { ModelConfig } from './config.ts'
import { cosf, expf, logf, sinf } from './fmath.ts'

const f = Math.fround

export interface RopeTables {
  /** [contextLength, headDim/2] */
  readonly cos: Float32Array
  readonly sin: Float32Array
}

const cache = new Map<string, RopeTables>()

/** inv_freq_i = exp((−2i / headDim) · log base); angle = pos · inv_freq_i. */
export function ropeTables(config: ModelConfig): RopeTables {
  const headDim = config.dModel / config.nHeads
  const key = `${config.contextLength}/${headDim}/${config.ropeBase}`
  const hit = cache.get(key)
  if (hit !== undefined) return hit
  const half = headDim / 2
  const logBase = logf(config.ropeBase)
  const cos = new Float32Array(config.contextLength * half)
  const sin = new Float32Array(config.contextLength * half)
  for (let i = 0; i < half; i++) {
    const invFreq = expf(f(f(f(-2 * i) / headDim) * logBase))
    for (let pos = 0; pos < config.contextLength; pos++) {
      const angle = f(pos * invFreq)
      cos[pos * half + i] = cosf(angle)
      sin[pos * half + i] = sinf(angle)
    }
  }
  const tables = { cos, sin }
  cache.set(key, tables)
  return tables
}
