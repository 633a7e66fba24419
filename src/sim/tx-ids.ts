/**
 * The hex SHA-256 of a transaction's bytes, remembered per bytes object. In the simulator one
 * client transaction is ONE Uint8Array handed to every validator's mempool, where a real
 * network would give each node its own copy to hash: the id is the same, so it is computed once
 * (about 100 hashes of the same bytes otherwise, at admission, in the shared check and at each
 * recheck). Transaction bytes are never written after they are encoded; the map holds no object
 * alive, an entry goes with its bytes.
 */
import { toHex } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'

const ids = new WeakMap<Uint8Array, string>()

export function txIdOf(bytes: Uint8Array): string {
  let id = ids.get(bytes)
  if (id === undefined) {
    id = toHex(sha256(bytes))
    ids.set(bytes, id)
  }
  return id
}
