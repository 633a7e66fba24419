/** The chain's starting point: chain id, time and validators, and the tip height 1 starts from. */
import { genesisBeacon } from './beacon.ts'
import type { Tip } from './core-types.ts'
import { ZERO_HASH } from './types.ts'
import { type GenesisValidator, ValidatorSet } from './validator-set.ts'

export interface Genesis {
  readonly chainId: string
  readonly genesisTimeMs: number
  readonly validators: readonly GenesisValidator[]
}

export function genesisTip(genesis: Genesis, initialAppHash: Uint8Array): Tip {
  const validators = ValidatorSet.create(genesis.validators)
  return {
    height: 1,
    validators,
    nextValidators: validators.incrementProposerPriority(1),
    lastValidators: null,
    lastBlockHash: ZERO_HASH,
    lastBlockTimeMs: genesis.genesisTimeMs,
    lastBeacon: genesisBeacon(genesis, initialAppHash),
    appHash: initialAppHash,
    lastCommit: null,
    committedEvidence: new Map(),
  }
}
