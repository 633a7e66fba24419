/**
 * Structural checks of decoded gossip payloads. msgpackr decodes whatever bytes it is given;
 * a payload reaches a handler only once its shape matches the topic's type exactly (known
 * keys, right types, integers in range), so handlers never see a half-formed value.
 */
import { MalformedMessageError } from './errors.ts'
import type { HoldingsGossip, PresenceGossip, TxGossip } from './topics.ts'

/** The roles a node can hold within a subnet, as its presence announces them. */
export const SUBNET_MEMBER_ROLES = ['miner', 'subnet-peer'] as const
export type SubnetMemberRole = (typeof SUBNET_MEMBER_ROLES)[number]

/** Returns the value typed as T, or throws MalformedMessageError naming the bad field. */
export type Shape<T> = (value: unknown, what: string) => T

type Field = (value: unknown) => string | undefined

const bytes =
  (maxBytes: number): Field =>
  (v) =>
    v instanceof Uint8Array ? (v.byteLength <= maxBytes ? undefined : `over ${maxBytes} bytes`) : 'not bytes'
const uint: Field = (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? undefined : 'not a uint')
const oneOf =
  (...values: string[]): Field =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? undefined : `not one of ${values.join('|')}`
const cidString: Field = (v) =>
  typeof v === 'string' && /^[a-z2-7]{20,120}$/.test(v) ? undefined : 'not a base32 CID string'
/** A libp2p peer id as `PeerId.toString()` writes it (base58btc multihash). */
const peerIdString: Field = (v) =>
  typeof v === 'string' && /^[1-9A-HJ-NP-Za-km-z]{40,64}$/.test(v) ? undefined : 'not a base58 peer id'
const nullable =
  (field: Field): Field =>
  (v) =>
    v === null ? undefined : field(v)
/** An array of `minItems` to `maxItems` items, each passing `item` (and distinct, if `unique`). */
const list =
  (
    item: Field,
    { minItems = 0, maxItems, unique = false }: { minItems?: number; maxItems: number; unique?: boolean },
  ): Field =>
  (v) => {
    if (!Array.isArray(v)) return 'not a list'
    if (v.length > maxItems) return `longer than ${maxItems}`
    if (v.length < minItems) return `shorter than ${minItems}`
    for (const [i, element] of v.entries()) {
      const problem = item(element)
      if (problem !== undefined) return `[${i}] ${problem}`
    }
    if (unique && new Set(v).size !== v.length) return 'has repeats'
    return undefined
  }
/** Structural bound on a list of CIDs; the byte cap is tighter, and the directory's count cap tighter still. */
const MAX_CIDS_IN_SHAPE = 256

function record<T>(fields: Record<keyof T & string, Field>): Shape<T> {
  const names = Object.keys(fields)
  return (value, what) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array)
      throw new MalformedMessageError(what, 'not a map')
    const keys = Object.keys(value)
    for (const key of keys) if (!names.includes(key)) throw new MalformedMessageError(what, `unexpected field ${key}`)
    for (const name of names) {
      const problem = (fields as Record<string, Field>)[name]?.((value as Record<string, unknown>)[name])
      if (problem !== undefined) throw new MalformedMessageError(what, `field ${name} ${problem}`)
    }
    return value as T
  }
}

export const shapes = {
  tx: record<TxGossip>({ tx: bytes(60 * 1024) }),
  presence: record<PresenceGossip>({
    peer: peerIdString,
    window: uint,
    roles: list(oneOf(...SUBNET_MEMBER_ROLES), { minItems: 1, maxItems: SUBNET_MEMBER_ROLES.length, unique: true }),
    range: nullable(cidString),
    adapter: nullable(cidString),
  }),
  holdings: record<HoldingsGossip>({
    peer: peerIdString,
    window: uint,
    cids: list(cidString, { maxItems: MAX_CIDS_IN_SHAPE }),
  }),
}
