/**
 * Counter-based randomness keyed by chain data ("deterministic seed locking").
 *
 * Philox4x32-10 (Salmon et al., SC'11): the i-th random block is a pure function of a 64-bit
 * key and a 128-bit counter, so any value can be recomputed alone, in any order, on any
 * backend. The key is derived from (seed, purpose) with SHA-256, so LoRA init, data sampling
 * and task assignment draw from unrelated streams of one window seed. The chain's task draw and
 * the trainer's data sampling must agree bit for bit, hence its place beside the other shared
 * encodings rather than in the ML engine.
 */
import { sha256 } from './hash.ts'

const M0 = 0xd2511f53
const M1 = 0xcd9e8d57
const W0 = 0x9e3779b9
const W1 = 0xbb67ae85

/** High 32 bits of the 64-bit product of two uint32s, with doubles that stay exact. */
function mulhi32(a: number, b: number): number {
  const al = a & 0xffff
  const ah = a >>> 16
  const bl = b & 0xffff
  const bh = b >>> 16
  const ll = al * bl
  const lh = al * bh
  const hl = ah * bl
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff)
  return (ah * bh + Math.floor(lh / 0x10000) + Math.floor(hl / 0x10000) + Math.floor(mid / 0x10000)) >>> 0
}

export type PhiloxKey = readonly [number, number]
export type PhiloxCounter = readonly [number, number, number, number]

/** Philox4x32-10: four uint32s for (key, counter). */
export function philox(key: PhiloxKey, counter: PhiloxCounter): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter
  let [k0, k1] = key
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi32(M0, c0)
    const lo0 = Math.imul(M0, c0) >>> 0
    const hi1 = mulhi32(M1, c2)
    const lo1 = Math.imul(M1, c2) >>> 0
    c0 = (hi1 ^ c1 ^ k0) >>> 0
    c1 = lo1
    c2 = (hi0 ^ c3 ^ k1) >>> 0
    c3 = lo0
    k0 = (k0 + W0) >>> 0
    k1 = (k1 + W1) >>> 0
  }
  return [c0, c1, c2, c3]
}

/** Key for one purpose of one seed: the first 8 bytes of SHA-256("r3mes/prng/1" ‖ 0 ‖ purpose ‖ 0 ‖ seed). */
export function deriveKey(seed: Uint8Array | string, purpose: string): PhiloxKey {
  const digest = sha256('r3mes/prng/1\0', purpose, '\0', typeof seed === 'string' ? Buffer.from(seed, 'utf8') : seed)
  const view = new DataView(digest.buffer, digest.byteOffset, digest.byteLength)
  return [view.getUint32(0, true), view.getUint32(4, true)]
}

/**
 * A sequential view of one Philox stream: counter (block, a, b, c) for block = 0, 1, 2, …
 * where (a, b, c) name the stream (e.g. layer, matrix, step).
 */
export class PhiloxStream {
  readonly #key: PhiloxKey
  readonly #a: number
  readonly #b: number
  readonly #c: number
  #block = 0
  #buffer: number[] = []

  constructor(key: PhiloxKey, a = 0, b = 0, c = 0) {
    this.#key = key
    this.#a = a >>> 0
    this.#b = b >>> 0
    this.#c = c >>> 0
  }

  nextU32(): number {
    if (this.#buffer.length === 0) {
      this.#buffer = philox(this.#key, [this.#block, this.#a, this.#b, this.#c]).reverse()
      this.#block = (this.#block + 1) >>> 0
    }
    return this.#buffer.pop() as number
  }

  /** A float32 uniform in [−1, 1): 24 random bits, exact in float32. */
  nextSignedUnit(): number {
    return ((this.nextU32() >>> 8) - 0x800000) / 0x800000
  }

  /** An integer in [0, bound) without modulo bias. */
  nextInt(bound: number): number {
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % bound)
    for (;;) {
      const x = this.nextU32()
      if (x < limit) return x % bound
    }
  }
}
