/**
 * The links of a two-stage path joined in memory, for tests that run stage trainers side by
 * side without a network: a tensor one stage sends for (inner step, micro-batch, direction)
 * is what the other receives for the same key, whichever comes first. The tensor is copied on
 * the way, as a network would.
 */
import type { LinkDirection, StageLinks } from '../../src/actors/training/stage-trainer.ts'

export function inMemoryLinks(): StageLinks {
  const slots = new Map<string, { promise: Promise<Float32Array>; resolve: (t: Float32Array) => void }>()
  const slot = (step: number, micro: number, d: LinkDirection) => {
    const key = `${step}/${micro}/${d}`
    let s = slots.get(key)
    if (s === undefined) {
      let resolve!: (t: Float32Array) => void
      const promise = new Promise<Float32Array>((r) => {
        resolve = r
      })
      s = { promise, resolve }
      slots.set(key, s)
    }
    return s
  }
  return {
    receive: (step, micro, d) => slot(step, micro, d).promise,
    send: async (step, micro, d, t) => slot(step, micro, d).resolve(new Float32Array(t)),
  }
}
