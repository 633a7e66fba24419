/** Stake-weighted draws without replacement: aggregators, replicas, verifiers, arbiters. */
import { sha512 } from '../codec/hash.ts'
import { intToLe, leToInt } from '../codec/little-endian.ts'

export interface Weighted {
  readonly address: string
  readonly weight: bigint
}

/**
 * Stake-weighted sortition from random bytes (a VRF output, or chain-derived seed bytes).
 *
 * Picks `count` distinct candidates without replacement; candidate i is chosen with
 * probability weight_i / (total weight still in the pool) at each draw. The candidates are
 * sorted by address first, so the answer depends only on the set, never on the caller's
 * order. Draw j uses r_j = SHA-512("r3mes/sortition/1" ‖ random ‖ j) read as a 512-bit
 * integer mod the remaining weight: the modulo bias is below 2^-400 for any real stake.
 */
export function sortition(random: Uint8Array, candidates: readonly Weighted[], count: number): string[] {
  const pool = candidates
    .filter((c) => c.weight > 0n)
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
  const chosen: string[] = []
  const label = new TextEncoder().encode('r3mes/sortition/1\0')
  for (let j = 0; j < count && pool.length > 0; j++) {
    const total = pool.reduce((sum, c) => sum + c.weight, 0n)
    const r = leToInt(sha512(label, random, intToLe(BigInt(j), 4))) % total
    let acc = 0n
    let index = 0
    for (; index < pool.length; index++) {
      acc += (pool[index] as Weighted).weight
      if (r < acc) break
    }
    chosen.push((pool[index] as Weighted).address)
    pool.splice(index, 1)
  }
  return chosen
}
