/**
 * The randomness beacon. Every block header carries its proposer's ECVRF proof over the
 * previous block's beacon, and its own beacon is SHA-256(tag ‖ previous beacon ‖ VRF output).
 * A VRF has one output per (key, input), so the proposer of a height cannot choose the beacon:
 * it can only withhold its block, and the next round's proposer then brings its own key and a
 * different output. The beacon before height 1 comes from what the genesis fixes (chain id,
 * genesis time, validators, initial app hash), so nobody picks that one either.
 */
import { bytesEqual } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'
import { PROOF_BYTES, vrfProofToHash, vrfVerify } from '../codec/vrf.ts'
import { encode } from './codec.ts'
import type { Genesis } from './genesis.ts'

export const BEACON_SIZE_BYTES = 32
export const VRF_PROOF_SIZE_BYTES = PROOF_BYTES

const encoder = new TextEncoder()
/** What the proposer proves over: the tag keeps these proofs apart from any other use of the key. */
const ALPHA_TAG = encoder.encode('r3mes/beacon-alpha/1\0')
const BEACON_TAG = encoder.encode('r3mes/beacon/1\0')
const GENESIS_TAG = encoder.encode('r3mes/beacon-genesis/1\0')

/** The VRF input of the block after the one whose beacon is `previousBeacon`. */
export function beaconAlpha(previousBeacon: Uint8Array): Uint8Array {
  const alpha = new Uint8Array(ALPHA_TAG.byteLength + previousBeacon.byteLength)
  alpha.set(ALPHA_TAG)
  alpha.set(previousBeacon, ALPHA_TAG.byteLength)
  return alpha
}

/** The beacon of a block whose proposer's VRF output over `beaconAlpha(previousBeacon)` is `vrfOutput`. */
export function nextBeacon(previousBeacon: Uint8Array, vrfOutput: Uint8Array): Uint8Array {
  return sha256(BEACON_TAG, previousBeacon, vrfOutput)
}

/** The beacon a proof gives, without checking it (for the proposer's own, fresh proof); undefined when it does not decode. */
export function beaconFromProof(previousBeacon: Uint8Array, vrfProof: Uint8Array): Uint8Array | undefined {
  const output = vrfProofToHash(vrfProof)
  return output === undefined ? undefined : nextBeacon(previousBeacon, output)
}

/** The beacon "of height 0": everything the genesis fixes, hashed. */
export function genesisBeacon(genesis: Genesis, initialAppHash: Uint8Array): Uint8Array {
  const validators = genesis.validators.map((v) => [v.publicKey, v.power])
  return sha256(GENESIS_TAG, encode([genesis.chainId, genesis.genesisTimeMs, validators, initialAppHash]))
}

/**
 * Why a header's (proof, beacon) pair is wrong for a proposer with `publicKey` after
 * `previousBeacon`, or undefined when it is right.
 */
export function beaconFault(
  publicKey: Uint8Array,
  previousBeacon: Uint8Array,
  vrfProof: Uint8Array,
  beacon: Uint8Array,
): string | undefined {
  const output = vrfVerify(publicKey, beaconAlpha(previousBeacon), vrfProof)
  if (output === undefined) return "VRF proof does not verify under the proposer's key over the previous beacon"
  if (!bytesEqual(beacon, nextBeacon(previousBeacon, output)))
    return 'beacon is not the one derived from the VRF output'
  return undefined
}
