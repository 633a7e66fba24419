import { strict as assert } from 'node:assert'
import { decodeMessage, encodeMessage } from '../../src/net/codec.ts'
import { MalformedMessageError, MessageTooLargeError, UnknownTopicError } from '../../src/net/errors.ts'
import { parseTopic, topicKinds, topicSpecs, topicString } from '../../src/net/topics.ts'

describe('net: topics and codec', () => {
  it('builds versioned per-chain and per-subnet topic strings and parses them back', () => {
    assert.equal(topicString({ kind: 'tx', chainId: 'r3mes-1' }), '/r3mes/r3mes-1/tx/1')
    assert.equal(topicString({ kind: 'presence', chainId: 'r3mes-1', subnet: 3 }), '/r3mes/r3mes-1/subnet/3/presence/1')
    for (const kind of topicKinds) {
      const address = topicSpecs[kind].scope === 'chain' ? { kind, chainId: 'c' } : { kind, chainId: 'c', subnet: 12 }
      assert.deepEqual(parseTopic(topicString(address), 'c'), address)
    }
  })

  it('refuses unknown topics with the reason', () => {
    const cases: [string, RegExp][] = [
      ['/eth2/beacon_block/ssz', /not an r3mes topic/],
      ['/r3mes/other/tx/1', /not chain c/],
      ['/r3mes/c/blocks/1', /unknown kind/],
      ['/r3mes/c/tx/2', /unsupported version/],
      ['/r3mes/c/subnet/01/holdings/1', /bad subnet/],
      ['/r3mes/c/subnet/1/tx/1', /wrong scope/],
      ['/r3mes/c/holdings/1', /wrong scope/],
      ['/r3mes/c/subnet/1/gradients/1', /unknown kind/],
      ['/r3mes/c/tx', /segments/],
      ['/r3mes/c/toString/1', /unknown kind/],
    ]
    for (const [topic, reason] of cases) {
      assert.throws(
        () => parseTopic(topic, 'c'),
        (error: unknown) => error instanceof UnknownTopicError && reason.test(error.message),
        topic,
      )
    }
    assert.throws(() => topicString({ kind: 'holdings', chainId: 'c' }), UnknownTopicError)
    assert.throws(() => topicString({ kind: 'tx', chainId: 'C/../x' }), UnknownTopicError)
  })

  it('caps sizes before decoding and rejects malformed or mistyped payloads', () => {
    const spec = topicSpecs.presence
    const good = {
      peer: '12D3KooWLZ3xW3Z2uvL8Ymbk5dpQmUDdBcjJmyHYGAHYmQ1bXJqQ',
      window: 1,
      roles: ['miner'],
      range: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
      adapter: null,
    }
    assert.deepEqual(spec.shape(decodeMessage(encodeMessage(good, spec.maxBytes), spec.maxBytes), 't'), good)
    assert.throws(() => encodeMessage({ tx: new Uint8Array(70_000) }, topicSpecs.tx.maxBytes), MessageTooLargeError)
    assert.throws(() => decodeMessage(new Uint8Array(spec.maxBytes + 1), spec.maxBytes), MessageTooLargeError)
    assert.throws(() => decodeMessage(new Uint8Array([0xc1]), spec.maxBytes), MalformedMessageError)
    const bad: unknown[] = [
      [1, 2, 3],
      'text',
      { ...good, window: -1 },
      { ...good, window: 1.5 },
      { ...good, range: 'not a cid!' },
      { ...good, peer: 'not-a-peer-id' },
      { ...good, roles: [] },
      { ...good, roles: ['miner', 'miner'] },
      { ...good, roles: ['validator'] },
      { ...good, extra: 1 },
      { peer: good.peer, window: 1, roles: ['miner'], range: null },
    ]
    for (const value of bad) {
      const bytes = encodeMessage(value, spec.maxBytes)
      assert.throws(
        () => spec.shape(decodeMessage(bytes, spec.maxBytes), 't'),
        MalformedMessageError,
        JSON.stringify(value),
      )
    }
    const tx = topicSpecs.tx.shape(decodeMessage(encodeMessage({ tx: new Uint8Array([1, 2]) }, 1024), 1024), 't')
    assert.ok(tx.tx instanceof Uint8Array && !Buffer.isBuffer(tx.tx))
  })
})
