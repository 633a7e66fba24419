/**
 * Transactions: types, canonical encoding, signing and decoding.
 *
 * Wire form (tx-wire.ts): canonical msgpack of `{ b: body, k: pubKey, s: sig }`, short field
 * names, keys sorted at every depth, amounts as decimal strings, keys, signatures, commitments
 * and salts as raw bytes, CIDs in their binary form; a commit and a reveal together take under
 * 512 bytes. Decoding re-encodes and refuses anything that is not byte-identical, so one
 * transaction has exactly one encoding (and one hash). The signature is ed25519 over
 * "r3mes/tx/2\0" ‖ the canonical msgpack of the wire body; the body names the chain id and the
 * sender's nonce, so a transaction cannot be replayed on another chain or twice on this one.
 */

import { bytesEqual, fromHex, toHex } from '../codec/bytes.ts'
import { isCid } from '../codec/cid.ts'
import { ed25519Sign, ed25519Verify } from '../codec/ed25519.ts'
import { sha256 } from '../codec/hash.ts'
import { packCanonical, unpackCanonical } from '../codec/msgpack.ts'
import { MAX_UNAVAILABLE_BITMAP_BYTES } from '../runtime/limits.ts'
import { reject, TxCode } from './errors.ts'
import { addressOf, isPeerId, type KeyPair } from './keys.ts'
import { ROLES, type Role } from './params.ts'
import { L2_VERDICTS, type L2Verdict, type ProposalContent, VERDICTS, type Verdict } from './state.ts'
import { bodyFromWire, bodyToWire, msgFromWire, sortedKeys, TX_KEYS } from './tx-wire.ts'

export type Msg =
  | { readonly type: 'transfer'; readonly to: string; readonly amount: bigint }
  | { readonly type: 'stake'; readonly amount: bigint }
  | { readonly type: 'unstake'; readonly amount: bigint }
  | {
      readonly type: 'register'
      readonly roles: readonly Role[]
      readonly subnet: number | null
      /** Hex of a new consensus key for the sender, with its proof of possession (key-proofs.ts). */
      readonly consensusKey?: string
      readonly consensusKeyProof?: string
      /** The libp2p peer id of the sender's node, with its proof of possession (key-proofs.ts). */
      readonly peerId?: string
      readonly peerIdProof?: string
    }
  | { readonly type: 'commit'; readonly taskId: string; readonly commitment: string }
  | {
      readonly type: 'reveal'
      readonly taskId: string
      readonly cid: string
      readonly salt: string
      readonly metadata: string
    }
  | {
      readonly type: 'aggregate'
      readonly window: number
      readonly subnet: number
      /**
       * claimListDigest (claim-list.ts) of the accepted submissions it took, in the chain's order:
       * 32 bytes however many there are, checked against the list the chain derives.
       */
      readonly claimsDigest: string
      /**
       * Hex of a bitmap over the accepted submissions of the window and subnet, in the chain's
       * order (unavailable-bitmap.ts): bit i set leaves submission i out because its gradient
       * could not be fetched in time, which opens an availability dispute for it. One bit each,
       * so the fullest window's declaration fits `maxTxBytes`.
       */
      readonly unavailable: string
      readonly adapterCid: string
    }
  | {
      readonly type: 'challenge'
      readonly claimId: string
      readonly bond: bigint
      /** CID of the challenger's step trace of the claim, which a dispute bisects against the owner's. */
      readonly trace?: string
    }
  | { readonly type: 'verifierClaim'; readonly challengeId: string; readonly proof: string }
  | {
      readonly type: 'verifierResponse'
      readonly challengeId: string
      readonly verdict: L2Verdict
      readonly proof: string
    }
  /** The challenger appeals the verifier's 'owner' to an L3 panel, with a second bond. */
  | { readonly type: 'appeal'; readonly challengeId: string; readonly bond: bigint }
  | { readonly type: 'arbiterVote'; readonly challengeId: string; readonly verdict: Verdict; readonly proof: string }
  | { readonly type: 'propose'; readonly content: ProposalContent }
  | { readonly type: 'vote'; readonly proposalId: string; readonly option: 'yes' | 'no' | 'abstain' }

export type MsgType = Msg['type']

export interface TxBody {
  readonly chainId: string
  readonly nonce: number
  readonly fee: bigint
  readonly msg: Msg
}

export interface SignedTx {
  readonly body: TxBody
  readonly pubKey: Uint8Array
  readonly sender: string
  readonly bytes: Uint8Array
  /** Hex SHA-256 of the encoded transaction. */
  readonly id: string
}

const SIGN_DOMAIN = new TextEncoder().encode('r3mes/tx/2\0')

function signPayload(body: TxBody): Uint8Array {
  const packed = packCanonical(bodyToWire(body))
  const out = new Uint8Array(SIGN_DOMAIN.length + packed.length)
  out.set(SIGN_DOMAIN)
  out.set(packed, SIGN_DOMAIN.length)
  return out
}

function packTx(body: TxBody, pubKey: Uint8Array, sig: Uint8Array): Uint8Array {
  return packCanonical(
    sortedKeys([
      [TX_KEYS.body, bodyToWire(body)],
      [TX_KEYS.pubKey, pubKey],
      [TX_KEYS.sig, sig],
    ]),
  )
}

export function encodeTx(body: TxBody, key: KeyPair): Uint8Array {
  return packTx(body, key.publicKey, ed25519Sign(key.secretKey, signPayload(body)))
}

/** Commitment of a submission: SHA-256("r3mes/commit/1" ‖ cid ‖ miner ‖ task ‖ salt), hex. */
export function commitmentOf(cid: string, miner: string, taskId: string, salt: string): string {
  return toHex(sha256(`r3mes/commit/1\0${cid}\0${miner}\0${taskId}\0${salt}`))
}

// ---- decoding: every field checked, errors name the field -------------------------------

type Obj = Record<string, unknown>

/** Field `key` of `o`; missing, it is refused under `name` (its in-memory name where the wire key is short). */
function field(o: Obj, key: string, name = key): unknown {
  if (!Object.hasOwn(o, key)) reject(TxCode.invalidField, `missing field '${name}'`, { field: name })
  return o[key]
}

/** `o` has every one of `names`, may have the `optional` ones, and nothing else. */
function onlyFields(o: Obj, names: readonly string[], where: string, optional: readonly string[] = []): void {
  for (const k of Object.keys(o)) {
    if (!names.includes(k) && !optional.includes(k))
      reject(TxCode.invalidField, `unknown field '${where}.${k}'`, { field: `${where}.${k}` })
  }
  for (const n of names) field(o, n)
}

function obj(v: unknown, name: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    reject(TxCode.invalidField, `'${name}' must be an object`, { field: name })
  return v as Obj
}

export function str(v: unknown, name: string, maxLength = 128): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength)
    reject(TxCode.invalidField, `'${name}' must be a string of 1..${maxLength} characters`, { field: name })
  return v
}

function int(v: unknown, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    reject(TxCode.invalidField, `'${name}' must be an integer in [${min}, ${max}]`, { field: name })
  return v
}

export function amount(v: unknown, name: string): bigint {
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,30})$/.test(v))
    reject(TxCode.invalidField, `'${name}' must be a non-negative integer amount as a decimal string`, { field: name })
  return BigInt(v)
}

function hex(v: unknown, name: string, bytes: number): string {
  if (fromHex(v, bytes) === undefined)
    reject(TxCode.invalidField, `'${name}' must be ${bytes} bytes of lowercase hex`, { field: name })
  return v as string
}

/** Lowercase hex of at most `maxBytes` bytes (its exact length is the chain's to check). */
function bitmap(v: unknown, name: string, maxBytes: number): string {
  const bytes = fromHex(v)
  if (bytes === undefined || bytes.length > maxBytes)
    reject(TxCode.invalidField, `'${name}' must be a bitmap of at most ${maxBytes} bytes, as lowercase hex`, {
      field: name,
    })
  return v as string
}

/** A key and its proof come together: one without the other is refused. */
function pairedFields(m: Obj, key: string, proof: string): boolean {
  const hasKey = Object.hasOwn(m, key)
  if (hasKey !== Object.hasOwn(m, proof))
    reject(TxCode.invalidField, `'msg.${key}' and 'msg.${proof}' come together`, {
      field: `msg.${hasKey ? proof : key}`,
    })
  return hasKey
}

/** The optional consensus key and peer id a `register` names, each with its proof, checked for shape. */
function namedKeys(m: Obj): {
  consensusKey?: string
  consensusKeyProof?: string
  peerId?: string
  peerIdProof?: string
} {
  const out: { consensusKey?: string; consensusKeyProof?: string; peerId?: string; peerIdProof?: string } = {}
  if (pairedFields(m, 'consensusKey', 'consensusKeyProof')) {
    out.consensusKey = hex(m.consensusKey, 'msg.consensusKey', 32)
    out.consensusKeyProof = hex(m.consensusKeyProof, 'msg.consensusKeyProof', 64)
  }
  if (pairedFields(m, 'peerId', 'peerIdProof')) {
    if (!isPeerId(m.peerId))
      reject(TxCode.invalidField, "'msg.peerId' must be an ed25519 libp2p peer id (12D3KooW…)", {
        field: 'msg.peerId',
      })
    out.peerId = m.peerId
    out.peerIdProof = hex(m.peerIdProof, 'msg.peerIdProof', 64)
  }
  return out
}

function decodeMsg(m: Obj): Msg {
  const type = field(m, 'type')
  switch (type) {
    case 'transfer':
      onlyFields(m, ['type', 'to', 'amount'], 'msg')
      return { type, to: str(m.to, 'msg.to', 90), amount: amount(m.amount, 'msg.amount') }
    case 'stake':
    case 'unstake':
      onlyFields(m, ['type', 'amount'], 'msg')
      return { type, amount: amount(m.amount, 'msg.amount') }
    case 'register': {
      onlyFields(m, ['type', 'roles', 'subnet'], 'msg', ['consensusKey', 'consensusKeyProof', 'peerId', 'peerIdProof'])
      const roles = m.roles
      if (!Array.isArray(roles) || roles.length === 0 || roles.length > ROLES.length)
        reject(TxCode.invalidField, "'msg.roles' must list 1 to 4 roles", { field: 'msg.roles' })
      for (const r of roles)
        if (!ROLES.includes(r)) reject(TxCode.invalidField, `unknown role ${JSON.stringify(r)}`, { field: 'msg.roles' })
      const sorted = [...new Set(roles as Role[])].sort()
      if (sorted.join() !== roles.join())
        reject(TxCode.invalidField, "'msg.roles' must be sorted and distinct", { field: 'msg.roles' })
      const subnet = m.subnet === null ? null : int(m.subnet, 'msg.subnet', 0, 1023)
      return { type, roles: sorted, subnet, ...namedKeys(m) }
    }
    case 'commit':
      onlyFields(m, ['type', 'taskId', 'commitment'], 'msg')
      return { type, taskId: str(m.taskId, 'msg.taskId', 64), commitment: hex(m.commitment, 'msg.commitment', 32) }
    case 'reveal':
      onlyFields(m, ['type', 'taskId', 'cid', 'salt', 'metadata'], 'msg')
      if (typeof m.metadata !== 'string')
        reject(TxCode.invalidField, "'msg.metadata' must be a string", { field: 'msg.metadata' })
      return {
        type,
        taskId: str(m.taskId, 'msg.taskId', 64),
        cid: str(m.cid, 'msg.cid', 128),
        salt: hex(m.salt, 'msg.salt', 16),
        metadata: m.metadata,
      }
    case 'aggregate': {
      onlyFields(m, ['type', 'window', 'subnet', 'claimsDigest', 'unavailable', 'adapterCid'], 'msg')
      return {
        type,
        window: int(m.window, 'msg.window'),
        subnet: int(m.subnet, 'msg.subnet', 0, 1023),
        claimsDigest: hex(m.claimsDigest, 'msg.claimsDigest', 32),
        unavailable: bitmap(m.unavailable, 'msg.unavailable', MAX_UNAVAILABLE_BITMAP_BYTES),
        adapterCid: str(m.adapterCid, 'msg.adapterCid', 128),
      }
    }
    case 'challenge': {
      onlyFields(m, ['type', 'claimId', 'bond'], 'msg', ['trace'])
      const claimId = str(m.claimId, 'msg.claimId', 160)
      const bond = amount(m.bond, 'msg.bond')
      if (m.trace === undefined) return { type, claimId, bond }
      const trace = str(m.trace, 'msg.trace', 128)
      if (!isCid(trace)) reject(TxCode.invalidField, "'msg.trace' must be a CID", { field: 'msg.trace' })
      return { type, claimId, bond, trace }
    }
    case 'verifierClaim':
      onlyFields(m, ['type', 'challengeId', 'proof'], 'msg')
      return { type, challengeId: str(m.challengeId, 'msg.challengeId', 32), proof: hex(m.proof, 'msg.proof', 80) }
    case 'verifierResponse':
      onlyFields(m, ['type', 'challengeId', 'verdict', 'proof'], 'msg')
      if (!(L2_VERDICTS as readonly unknown[]).includes(m.verdict))
        reject(TxCode.invalidField, `'msg.verdict' must be one of ${L2_VERDICTS.join(', ')}`, { field: 'msg.verdict' })
      return {
        type,
        challengeId: str(m.challengeId, 'msg.challengeId', 32),
        verdict: m.verdict as L2Verdict,
        proof: hex(m.proof, 'msg.proof', 80),
      }
    case 'appeal':
      onlyFields(m, ['type', 'challengeId', 'bond'], 'msg')
      return { type, challengeId: str(m.challengeId, 'msg.challengeId', 32), bond: amount(m.bond, 'msg.bond') }
    case 'arbiterVote':
      onlyFields(m, ['type', 'challengeId', 'verdict', 'proof'], 'msg')
      if (!(VERDICTS as readonly unknown[]).includes(m.verdict))
        reject(TxCode.invalidField, `'msg.verdict' must be one of ${VERDICTS.join(', ')}`, { field: 'msg.verdict' })
      return {
        type,
        challengeId: str(m.challengeId, 'msg.challengeId', 32),
        verdict: m.verdict as Verdict,
        proof: hex(m.proof, 'msg.proof', 80),
      }
    case 'propose': {
      onlyFields(m, ['type', 'content'], 'msg')
      const c = obj(m.content, 'msg.content')
      if (c.kind === 'dataset') {
        onlyFields(c, ['kind', 'cid', 'name', 'shardCount'], 'msg.content')
        return {
          type,
          content: {
            kind: 'dataset',
            cid: str(c.cid, 'msg.content.cid', 128),
            name: str(c.name, 'msg.content.name', 64),
            shardCount: int(c.shardCount, 'msg.content.shardCount', 1, 1_000_000),
          },
        }
      }
      if (c.kind === 'params') {
        onlyFields(c, ['kind', 'changes'], 'msg.content')
        const changes = obj(c.changes, 'msg.content.changes')
        for (const [k, v] of Object.entries(changes))
          if (typeof v !== 'string' && typeof v !== 'number')
            reject(TxCode.invalidField, `'msg.content.changes.${k}' must be a number or a string`, { field: k })
        return { type, content: { kind: 'params', changes: changes as Record<string, string | number> } }
      }
      return reject(TxCode.invalidField, "'msg.content.kind' must be 'dataset' or 'params'", {
        field: 'msg.content.kind',
      })
    }
    case 'vote':
      onlyFields(m, ['type', 'proposalId', 'option'], 'msg')
      if (m.option !== 'yes' && m.option !== 'no' && m.option !== 'abstain')
        reject(TxCode.invalidField, "'msg.option' must be yes, no or abstain", { field: 'msg.option' })
      return { type, proposalId: str(m.proposalId, 'msg.proposalId', 32), option: m.option }
    default:
      return reject(TxCode.invalidField, `unknown message type ${JSON.stringify(type)}`, { field: 'msg.type' })
  }
}

/**
 * Transactions decoded, per bytes object. A node decodes the same bytes at admission, at every
 * recheck while the transaction waits, and when its own proposal executes it, and each decoding
 * re-encodes the transaction twice and hashes the signed payload. Bytes are never written once
 * received or encoded (a change makes a new array), decoding is a pure function of them, and the
 * result is never changed; the map holds nothing alive. Refusals are not remembered.
 */
const decodedTxs = new WeakMap<Uint8Array, SignedTx>()

/**
 * Stateless admission: size, canonical form, shape, signature. Throws TxRejected with the
 * code of the first problem found.
 */
export function decodeTx(bytes: Uint8Array, maxTxBytes: number): SignedTx {
  if (bytes.length > maxTxBytes)
    reject(TxCode.tooLarge, `transaction is ${bytes.length} bytes, the limit is ${maxTxBytes}`)
  let tx = decodedTxs.get(bytes)
  if (tx === undefined) {
    tx = decodeTxUncached(bytes)
    decodedTxs.set(bytes, tx)
  }
  return tx
}

/** `decodeTx` without the size bound or the memo of decoded transactions. */
function decodeTxUncached(bytes: Uint8Array): SignedTx {
  let wire: unknown
  try {
    wire = unpackCanonical(bytes)
    // Widths, number types and duplicate keys first: what msgpack itself encodes two ways.
    if (!bytesEqual(packCanonical(wire), bytes)) throw new RangeError('not canonical')
  } catch {
    return reject(TxCode.decode, 'transaction is not canonical msgpack')
  }
  const top = obj(wire, 'tx')
  for (const k of Object.keys(top))
    if (k !== TX_KEYS.body && k !== TX_KEYS.pubKey && k !== TX_KEYS.sig)
      reject(TxCode.invalidField, `unknown field 'tx.${k}'`, { field: `tx.${k}` })
  const b = bodyFromWire(field(top, TX_KEYS.body, 'body'))
  onlyFields(b, ['chainId', 'nonce', 'fee', 'msg'], 'body')
  const body: TxBody = {
    chainId: str(b.chainId, 'body.chainId', 64),
    nonce: int(b.nonce, 'body.nonce'),
    fee: amount(b.fee, 'body.fee'),
    msg: decodeMsg(msgFromWire(obj(b.msg, 'body.msg'))),
  }
  const pubKey = field(top, TX_KEYS.pubKey, 'pubKey')
  const sig = field(top, TX_KEYS.sig, 'sig')
  if (!(pubKey instanceof Uint8Array) || pubKey.length !== 32 || !(sig instanceof Uint8Array) || sig.length !== 64)
    return reject(TxCode.badSignature, 'pubKey or sig is malformed')
  const key = new Uint8Array(pubKey)
  if (!bytesEqual(packTx(body, key, sig), bytes))
    reject(TxCode.decode, 'transaction is not in canonical form (sorted keys, compact fields)')
  if (!ed25519Verify(key, signPayload(body), new Uint8Array(sig)))
    reject(TxCode.badSignature, 'signature does not verify')
  return { body, pubKey: key, sender: addressOf(key), bytes, id: toHex(sha256(bytes)) }
}
