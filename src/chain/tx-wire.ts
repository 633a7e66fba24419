/**
 * The wire form of a transaction: canonical msgpack (src/codec/msgpack.ts) of
 * `{ b: body, k: pubKey, s: sig }` with short field names, keys sorted at every depth, public
 * keys, signatures, commitments, salts and proofs as raw bytes, and the CIDs a message names as
 * their binary form. Only the codec sees this form: the in-memory `TxBody` and `Msg` (and
 * everything in chain state) keep their string forms (hex bytes, CID text), converted here.
 *
 * The translation in both directions is total: a value that cannot take its compact form (hex
 * of the wrong length, text that is not a canonical CID, a field no message has) travels as it
 * is, so `encodeTx` signs whatever it is given and `decodeTx` refuses it naming the field, as
 * it did with the JSON form. Decoding translates back with the checks that name each field, and
 * `decodeTx` then re-encodes and refuses any byte string that differs.
 */
import { CID } from 'multiformats/cid'
import { fromHex, toHex } from '../codec/bytes.ts'
import { MAX_UNAVAILABLE_BITMAP_BYTES } from '../runtime/limits.ts'
import { reject, TxCode } from './errors.ts'
import { isCid } from './genesis.ts'

/**
 * How a message field travels: its short wire key, and whether it is raw bytes (of a fixed
 * length, or of any length up to `maxBytes`), a binary CID, or text that travels as a binary
 * CID exactly when it is the canonical text of one (reveal metadata: the CID of the miner's
 * step trace, or free text).
 */
interface FieldForm {
  readonly key: string
  readonly bytes?: number
  readonly maxBytes?: number
  readonly cid?: true
  readonly cidOrText?: true
}

/** Message fields (every message type shares one table: a field means the same everywhere). */
const MSG_FIELDS: Readonly<Record<string, FieldForm>> = {
  type: { key: 't' },
  to: { key: 'o' },
  amount: { key: 'a' },
  roles: { key: 'r' },
  subnet: { key: 'n' },
  consensusKey: { key: 'ck', bytes: 32 },
  consensusKeyProof: { key: 'cp', bytes: 64 },
  peerId: { key: 'pi' },
  peerIdProof: { key: 'pp', bytes: 64 },
  taskId: { key: 'i' },
  commitment: { key: 'h', bytes: 32 },
  cid: { key: 'c', cid: true },
  salt: { key: 's', bytes: 16 },
  metadata: { key: 'm', cidOrText: true },
  window: { key: 'w' },
  claimsDigest: { key: 'cl', bytes: 32 },
  // A bitmap over the window's accepted submissions (unavailable-bitmap.ts): its length is
  // checked against the chain's list when applied; here, against the most any window holds.
  unavailable: { key: 'ub', maxBytes: MAX_UNAVAILABLE_BITMAP_BYTES },
  adapterCid: { key: 'ac', cid: true },
  claimId: { key: 'ci' },
  bond: { key: 'b' },
  trace: { key: 'tr', cid: true },
  challengeId: { key: 'x' },
  proof: { key: 'p', bytes: 80 },
  verdict: { key: 'v' },
  content: { key: 'co' },
  proposalId: { key: 'pr' },
  option: { key: 'op' },
}

/**
 * Wire keys that fields no longer use, each refused with what took its place rather than as
 * an unknown field: a transaction built to an older form learns what changed.
 */
const RETIRED_MSG_KEYS: Readonly<Record<string, string>> = {
  u: "'msg.u', the aggregate's list of unavailable claim ids, is no longer accepted: 'msg.unavailable' (wire key 'ub') is a bitmap over the window's accepted submissions",
}

/** Fields of a proposal's content. */
const CONTENT_FIELDS: Readonly<Record<string, FieldForm>> = {
  kind: { key: 'k' },
  cid: { key: 'c', cid: true },
  name: { key: 'n' },
  shardCount: { key: 's' },
  changes: { key: 'ch' },
}

/** Fields of a body, and of the transaction around it. */
const BODY_FIELDS: Readonly<Record<string, FieldForm>> = {
  chainId: { key: 'c' },
  nonce: { key: 'n' },
  fee: { key: 'f' },
  msg: { key: 'm' },
}
export const TX_KEYS = { body: 'b', pubKey: 'k', sig: 's' } as const

function inverse(table: Readonly<Record<string, FieldForm>>): ReadonlyMap<string, string> {
  const out = new Map<string, string>()
  for (const [name, form] of Object.entries(table)) {
    if (out.has(form.key)) throw new Error(`wire key '${form.key}' names two fields`)
    out.set(form.key, name)
  }
  return out
}
const MSG_NAMES = inverse(MSG_FIELDS)
const CONTENT_NAMES = inverse(CONTENT_FIELDS)
const BODY_NAMES = inverse(BODY_FIELDS)

type Wire = { [key: string]: unknown }

/** An object with its keys in code-unit order: the one order canonical maps take. */
export function sortedKeys(entries: Iterable<readonly [string, unknown]>): Wire {
  const out: Wire = {}
  for (const [k, v] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = v
  return out
}

/** The compact form of one field's value, or the value as it is where it has none. */
function compactValue(form: FieldForm | undefined, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (form?.bytes !== undefined) return fromHex(value, form.bytes) ?? value
  if (form?.maxBytes !== undefined) return fromHex(value) ?? value
  if (form?.cid === true || form?.cidOrText === true) return isCid(value) ? CID.parse(value).bytes : value
  return value
}

function toWire(o: object, table: Readonly<Record<string, FieldForm>>, nested?: (name: string, v: unknown) => unknown) {
  const entries: [string, unknown][] = []
  for (const [name, value] of Object.entries(o)) {
    if (value === undefined) continue
    const form = Object.hasOwn(table, name) ? table[name] : undefined
    const inner = nested?.(name, value)
    entries.push([form?.key ?? name, inner ?? compactValue(form, value)])
  }
  return sortedKeys(entries)
}

function contentToWire(content: unknown): unknown {
  if (content === null || typeof content !== 'object' || Array.isArray(content)) return content
  return toWire(content, CONTENT_FIELDS, (name, v) =>
    name === 'changes' && v !== null && typeof v === 'object' && !Array.isArray(v)
      ? sortedKeys(Object.entries(v))
      : undefined,
  )
}

/** The wire form of a body (what is signed, and what `b` holds). */
export function bodyToWire(body: object): Wire {
  return toWire(body, BODY_FIELDS, (name, v) =>
    name === 'msg' && v !== null && typeof v === 'object' && !Array.isArray(v)
      ? toWire(v, MSG_FIELDS, (n, x) => (n === 'content' ? contentToWire(x) : undefined))
      : undefined,
  )
}

// ---- from the wire: each field back to its in-memory form, or refused naming it ----------

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array
}

function fromWireValue(form: FieldForm, v: unknown, field: string): unknown {
  if (form.bytes !== undefined) {
    if (!isBytes(v) || v.length !== form.bytes)
      reject(TxCode.invalidField, `'${field}' must be ${form.bytes} bytes`, { field })
    return toHex(v)
  }
  if (form.maxBytes !== undefined) {
    if (!isBytes(v) || v.length > form.maxBytes)
      reject(TxCode.invalidField, `'${field}' must be bytes, at most ${form.maxBytes}`, { field })
    return toHex(v)
  }
  if (form.cid === true || (form.cidOrText === true && isBytes(v))) {
    let text: string | undefined
    if (isBytes(v))
      try {
        text = CID.decode(new Uint8Array(v)).toString()
      } catch {
        text = undefined
      }
    if (text === undefined || !isCid(text)) reject(TxCode.invalidField, `'${field}' must be a CID`, { field })
    return text
  }
  return v
}

function plainObject(v: unknown, field: string): Wire {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || isBytes(v))
    reject(TxCode.invalidField, `'${field}' must be an object`, { field })
  return v as Wire
}

/**
 * The in-memory field names of a wire map, values converted; a key that no field of `table`
 * has is refused as an unknown field of `where`.
 */
function fromWire(
  v: unknown,
  table: Readonly<Record<string, FieldForm>>,
  names: ReadonlyMap<string, string>,
  where: string,
  nested?: (name: string, v: unknown) => unknown,
): Record<string, unknown> {
  const o = plainObject(v, where)
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(o)) {
    const name = names.get(key)
    if (name === undefined)
      return reject(TxCode.invalidField, `unknown field '${where}.${key}'`, { field: `${where}.${key}` })
    out[name] = nested?.(name, value) ?? fromWireValue(table[name] as FieldForm, value, `${where}.${name}`)
  }
  return out
}

/** The message of a wire body, with in-memory field names and string forms, for `decodeMsg`. */
export function msgFromWire(v: unknown): Record<string, unknown> {
  for (const key of Object.keys(plainObject(v, 'msg')))
    if (Object.hasOwn(RETIRED_MSG_KEYS, key))
      reject(TxCode.invalidField, RETIRED_MSG_KEYS[key] as string, { field: `msg.${key}` })
  return fromWire(v, MSG_FIELDS, MSG_NAMES, 'msg', (name, x) =>
    name === 'content' ? fromWire(x, CONTENT_FIELDS, CONTENT_NAMES, 'msg.content') : undefined,
  )
}

/** The body of a wire transaction, message left in its wire form. */
export function bodyFromWire(v: unknown): Record<string, unknown> {
  return fromWire(v, BODY_FIELDS, BODY_NAMES, 'body', (name, x) => (name === 'msg' ? x : undefined))
}
