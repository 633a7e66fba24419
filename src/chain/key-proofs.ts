/**
 * Proofs of possession for the keys a staker names besides its account key.
 *
 * A staker names a consensus key (it signs votes) and a libp2p peer id (its node). Naming a
 * key costs nothing, so without a proof anyone could register another operator's consensus key
 * or peer id first and lock that operator out (keys are unique per staker), or pose as its
 * node to the peers that look stakers up by peer id. Each named key therefore signs
 * "r3mes/key-proof/1\0" ‖ kind ‖ "\0" ‖ chain id ‖ "\0" ‖ account address: a proof that
 * cannot be replayed for another account or on another chain.
 *
 * Every key of this network is ed25519, and an ed25519 peer id embeds its public key, so the
 * chain checks a peer-id proof without libp2p.
 */
import { base58btc } from 'multiformats/bases/base58'
import { fromHex, toHex } from '../codec/bytes.ts'
import { ed25519Sign, ed25519Verify } from '../codec/ed25519.ts'
import { isPeerId } from './keys.ts'

export type KeyProofKind = 'consensus' | 'peer'

export function keyProofPayload(kind: KeyProofKind, chainId: string, address: string): Uint8Array {
  return new TextEncoder().encode(`r3mes/key-proof/1\0${kind}\0${chainId}\0${address}`)
}

/** The proof (hex signature) that the holder of `seed` lets `address` name its key on `chainId`. */
export function signKeyProof(kind: KeyProofKind, seed: Uint8Array, chainId: string, address: string): string {
  return toHex(ed25519Sign(seed, keyProofPayload(kind, chainId, address)))
}

/** The ed25519 public key inside an ed25519 peer id; undefined when `peerId` is not one. */
export function publicKeyOfPeerId(peerId: string): Uint8Array | undefined {
  if (!isPeerId(peerId)) return undefined
  return base58btc.baseDecode(peerId).subarray(6)
}

/** Whether `proofHex` is a valid proof by `publicKey` for `address` on `chainId`. */
export function verifyKeyProof(
  kind: KeyProofKind,
  publicKey: Uint8Array,
  chainId: string,
  address: string,
  proofHex: unknown,
): boolean {
  const sig = fromHex(proofHex, 64)
  return sig !== undefined && ed25519Verify(publicKey, keyProofPayload(kind, chainId, address), sig)
}
