/**
 * Seeded pseudo-randomness for simulations, schedules and test fixtures: xoshiro128**
 * (Blackman & Vigna) seeded through splitmix32. One seed always gives one sequence, so a
 * failing run can be replayed from the seed it prints. Not for keys (see systemEntropy) and
 * not for anything that feeds a chain hash (that uses the chain-derived PRNG in src/ml and
 * src/chain, keyed by block data).
 */
import { assert } from './assert.ts'

function splitmix32(state: number): { state: number; value: number } {
  const next = (state + 0x9e3779b9) | 0
  let z = next
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return { state: next, value: (z ^ (z >>> 16)) >>> 0 }
}

/** FNV-1a over a label's UTF-16 code units: enough to separate named sub-streams. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193)
  return h >>> 0
}

export class SeededRandom {
  readonly seed: number
  #s0: number
  #s1: number
  #s2: number
  #s3: number

  /** @param seed any 32-bit unsigned integer */
  constructor(seed: number) {
    assert(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff, `seed must be a uint32, got ${seed}`)
    this.seed = seed
    let state = seed | 0
    const words: number[] = []
    for (let i = 0; i < 4; i++) {
      const step = splitmix32(state)
      state = step.state
      words.push(step.value)
    }
    ;[this.#s0, this.#s1, this.#s2, this.#s3] = words as [number, number, number, number]
    // xoshiro's state must not be all zero; splitmix32 never yields four zero words, but assert it.
    assert((this.#s0 | this.#s1 | this.#s2 | this.#s3) !== 0, 'xoshiro state is all zero')
  }

  /** A uniformly distributed uint32. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0
    const t = this.#s1 << 9
    this.#s2 ^= this.#s0
    this.#s3 ^= this.#s1
    this.#s1 ^= this.#s2
    this.#s0 ^= this.#s3
    this.#s2 ^= t
    this.#s3 = rotl(this.#s3, 11)
    return result
  }

  /** A float in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextU32() / 0x1_0000_0000
  }

  /** An integer in [0, bound), without modulo bias. */
  nextInt(bound: number): number {
    assert(Number.isInteger(bound) && bound > 0 && bound <= 0x1_0000_0000, `bound must be in 1..2^32, got ${bound}`)
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % bound)
    for (;;) {
      const x = this.nextU32()
      if (x < limit) return x % bound
    }
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.nextFloat() < p
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'cannot pick from an empty list')
    return items[this.nextInt(items.length)] as T
  }

  /** Fisher–Yates shuffle into a new array. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice()
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1)
      ;[out[i], out[j]] = [out[j] as T, out[i] as T]
    }
    return out
  }

  /** An independent stream for a named purpose, derived from this stream's seed only. */
  fork(label: string): SeededRandom {
    return new SeededRandom((splitmix32(this.seed ^ hashLabel(label)).value ^ hashLabel(label)) >>> 0)
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
