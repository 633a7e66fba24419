/**
 * Block rewards from inflation: each block mints supply × inflationBps / 10^4 / blocks-per-year
 * (blocks per year from blockTimeMs) and splits it among validators in proportion to stake;
 * the rounding remainder is not minted. Miners, verifiers and arbiters are paid where their
 * work is judged (windows.ts, game.ts); all of it is minted, so supply grows only here and there.
 */
import type { ChainState } from './state.ts'

const MS_PER_YEAR = 31_536_000_000n

export function blockInflation(state: ChainState): bigint {
  const p = state.params
  const blocksPerYear = MS_PER_YEAR / BigInt(p.blockTimeMs)
  return (state.globals.supply * BigInt(p.inflationBps)) / 10_000n / blocksPerYear
}

export function payValidators(state: ChainState): void {
  const total = blockInflation(state)
  const validators = state.withRole('validator')
  const stake = validators.reduce((s, v) => s + v.weight, 0n)
  if (total === 0n || stake === 0n) return
  for (const v of validators) state.mint(v.address, (total * v.weight) / stake)
}
