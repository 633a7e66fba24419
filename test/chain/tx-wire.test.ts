import assert from 'node:assert/strict'
import { CID } from 'multiformats/cid'
import { TxRejected } from '../../src/chain/errors.ts'
import { labelCid } from '../../src/chain/genesis.ts'
import { testKey } from '../../src/chain/keys.ts'
import { decodeTx, encodeTx, type Msg, type TxBody } from '../../src/chain/tx.ts'
import { bodyToWire } from '../../src/chain/tx-wire.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { ed25519Sign } from '../../src/codec/ed25519.ts'
import { packCanonical, unpackCanonical } from '../../src/codec/msgpack.ts'

const alice = testKey('wire/alice')
const cid = labelCid('gradient')
const trace = labelCid('trace')
const salt = '5a'.repeat(16)
const reveal: TxBody = {
  chainId: 'r3mes-default',
  nonce: 3,
  fee: 10_000_000_000n,
  msg: { type: 'reveal', taskId: '12.0.1', cid, salt, metadata: trace },
}

/** Sign a hand-built wire body as a client would, under the transaction domain. */
function signWire(wireBody: unknown, domain = 'r3mes/tx/2\0'): Uint8Array {
  const packed = packCanonical(wireBody)
  const payload = new Uint8Array([...new TextEncoder().encode(domain), ...packed])
  return packCanonical({ b: wireBody, k: alice.publicKey, s: ed25519Sign(alice.secretKey, payload) })
}

function refusal(bytes: Uint8Array): string {
  try {
    decodeTx(bytes, 2048)
    return 'OK'
  } catch (error) {
    assert.ok(error instanceof TxRejected, String(error))
    return `${error.code}${error.details.field === undefined ? '' : ` ${String(error.details.field)}`}`
  }
}

describe('chain/tx-wire: the compact wire form of a transaction', () => {
  it('holds keys, signature, salt and CIDs as raw bytes under short sorted keys, and decodes to the body signed', () => {
    const bytes = encodeTx(reveal, alice)
    const wire = unpackCanonical(bytes) as { b: Record<string, unknown>; k: Uint8Array; s: Uint8Array }
    assert.deepEqual(Object.keys(wire), ['b', 'k', 's'])
    assert.deepEqual(Object.keys(wire.b), ['c', 'f', 'm', 'n'])
    const m = wire.b.m as Record<string, unknown>
    assert.deepEqual(Object.keys(m), ['c', 'i', 'm', 's', 't'])
    assert.equal(toHex(m.c as Uint8Array), toHex(CID.parse(cid).bytes), 'the CID travels in binary')
    assert.equal(toHex(m.m as Uint8Array), toHex(CID.parse(trace).bytes), 'CID-valued metadata travels in binary')
    assert.equal(toHex(m.s as Uint8Array), salt)
    assert.equal(toHex(wire.k), toHex(alice.publicKey))
    assert.equal(wire.s.length, 64)
    const tx = decodeTx(bytes, 2048)
    assert.deepEqual(tx.body, reveal)
    assert.equal(tx.sender, alice.address)
    assert.ok(bytes.length < 280, `a reveal is ${bytes.length} B`)
  })

  it('carries metadata that is not a CID as text, and decodes it back', () => {
    const body = { ...reveal, msg: { ...reveal.msg, metadata: '{"note":"free text"}' } as Msg }
    assert.deepEqual(decodeTx(encodeTx(body, alice), 2048).body, body)
  })

  it('refuses every second encoding of the same transaction with ERR_TX_DECODE', () => {
    const wire = bodyToWire(reveal) as Record<string, unknown>
    assert.equal(refusal(signWire(wire)), 'OK', 'the hand-built canonical form is the encoding')
    // Keys out of order.
    const { c, f, m, n } = wire
    assert.equal(refusal(signWire({ n, m, f, c })), 'ERR_TX_DECODE')
    // Metadata that is a CID sent as its text rather than its bytes.
    const msg = wire.m as Record<string, unknown>
    assert.equal(refusal(signWire({ ...wire, m: { ...msg, m: trace } })), 'ERR_TX_DECODE')
    // An integer wider than it needs (nonce 3 as uint32), and trailing bytes.
    const bytes = signWire(wire)
    const at = Buffer.from(bytes).indexOf(Buffer.from([0xa1, 0x6e, 0x03])) + 2 // 'n': 3
    assert.ok(at > 2, 'the nonce follows its key')
    const wide = new Uint8Array([...bytes.subarray(0, at), 0xce, 0, 0, 0, 3, ...bytes.subarray(at + 1)])
    assert.equal(refusal(wide), 'ERR_TX_DECODE')
    assert.equal(refusal(new Uint8Array([...bytes, 0xc0])), 'ERR_TX_DECODE')
  })

  it('refuses fields in the wrong form naming the field', () => {
    const wire = bodyToWire(reveal) as Record<string, unknown>
    const msg = wire.m as Record<string, unknown>
    const withMsg = (m: Record<string, unknown>) => signWire({ ...wire, m })
    assert.equal(refusal(withMsg({ ...msg, c: cid })), 'ERR_INVALID_FIELD msg.cid', 'a CID as text')
    assert.equal(refusal(withMsg({ ...msg, c: new Uint8Array([1, 2, 3]) })), 'ERR_INVALID_FIELD msg.cid')
    assert.equal(refusal(withMsg({ ...msg, s: salt })), 'ERR_INVALID_FIELD msg.salt', 'a salt as hex')
    assert.equal(refusal(withMsg({ ...msg, s: new Uint8Array(15) })), 'ERR_INVALID_FIELD msg.salt')
    assert.equal(refusal(withMsg({ ...msg, salt: msg.s })), 'ERR_INVALID_FIELD msg.salt', 'a long field name')
    const { m: _m, ...noMetadata } = msg
    assert.equal(refusal(withMsg(noMetadata)), 'ERR_INVALID_FIELD metadata')
    assert.equal(refusal(signWire({ ...wire, x: 1 })), 'ERR_INVALID_FIELD body.x')
    assert.equal(refusal(signWire({ ...wire, f: 1 })), 'ERR_INVALID_FIELD body.fee')
  })

  it('signs under r3mes/tx/2: a signature under the JSON-era domain does not verify', () => {
    const wire = bodyToWire(reveal)
    assert.equal(refusal(signWire(wire, 'r3mes/tx/1\0')), 'ERR_BAD_SIGNATURE')
  })

  it('encodes a CID field that is not a CID as it is, so the decoder refuses it naming the field', () => {
    const bad = { ...reveal, msg: { ...reveal.msg, cid: 'not-a-cid' } as Msg }
    assert.equal(refusal(encodeTx(bad, alice)), 'ERR_INVALID_FIELD msg.cid')
    const trace = { ...reveal, msg: { type: 'challenge', claimId: 'x/y', bond: 1n, trace: 'nope' } as Msg }
    assert.equal(refusal(encodeTx(trace, alice)), 'ERR_INVALID_FIELD msg.trace')
  })
})
