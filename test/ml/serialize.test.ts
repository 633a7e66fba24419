import assert from 'node:assert/strict'
import { cidOf } from '../../src/codec/cid.ts'
import { ArtifactError, ShapeError } from '../../src/ml/errors.ts'
import { decodeBundle, decodeTensor, encodeBundle, encodeTensor, verifyCid } from '../../src/ml/serialize.ts'
import { f32, type Tensor, tensor } from '../../src/ml/tensor.ts'

describe('ml/serialize: canonical tensor bytes and CIDs', () => {
  const samples: Tensor[] = [
    f32([2, 3], Float32Array.of(1, -0, 3.5, Number.MIN_VALUE, -2, 1e30)),
    tensor('i8', [4], Int8Array.of(-128, 0, 1, 127)),
    tensor('u8', [2, 2], Uint8Array.of(0, 1, 254, 255)),
    tensor('i32', [3], Int32Array.of(-2147483648, 0, 2147483647)),
    tensor('ternary', [3, 3], Int8Array.of(-1, 0, 1, 1, 1, -1, 0, 0, -1)),
    f32([0], new Float32Array(0)),
  ]

  it('round-trips every dtype bit for bit', () => {
    for (const t of samples) {
      const bytes = encodeTensor(t)
      const back = decodeTensor(bytes)
      assert.equal(back.dtype, t.dtype)
      assert.deepEqual(back.shape, t.shape)
      assert.deepEqual(
        Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength),
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      )
      assert.deepEqual(encodeTensor(back), bytes)
    }
  })

  it('packs ternary weights at two bits per value', () => {
    const t = tensor('ternary', [1000], new Int8Array(1000).fill(1))
    assert.equal(encodeTensor(t).length, 8 + 4 + 250)
    assert.throws(() => encodeTensor(tensor('ternary', [1], Int8Array.of(2))), ArtifactError)
  })

  it('gives one encoding, hence one CID, whatever the insertion order', () => {
    const a = encodeBundle({
      meta: { z: 1, a: [1, { y: 2, b: 3 }] },
      tensors: new Map(samples.slice(0, 3).map((t, i) => [`t${i}`, t])),
    })
    const b = encodeBundle({
      meta: { a: [1, { b: 3, y: 2 }], z: 1 },
      tensors: new Map(
        samples
          .slice(0, 3)
          .map((t, i) => [`t${i}`, t] as [string, Tensor])
          .reverse(),
      ),
    })
    assert.deepEqual(a, b)
    assert.equal(cidOf(a).toString(), cidOf(b).toString())
    assert.match(cidOf(a).toString(), /^bafkrei/)
    const back = decodeBundle(a)
    assert.deepEqual([...back.tensors.keys()], ['t0', 't1', 't2'])
    assert.equal(back.meta.z, 1)
  })

  it('rejects truncated, corrupt and non-canonical bytes with a typed error', () => {
    const bytes = encodeBundle({ meta: { kind: 'x' }, tensors: new Map([['w', samples[0] as Tensor]]) })
    for (let cut = 0; cut < bytes.length; cut += 7)
      assert.throws(() => decodeBundle(bytes.subarray(0, cut)), ArtifactError)
    const badMagic = bytes.slice()
    badMagic[0] = 0
    assert.throws(() => decodeBundle(badMagic), /bad magic/)
    const trailing = Buffer.concat([bytes, Buffer.from([0])])
    assert.throws(() => decodeBundle(trailing), /trailing/)
    const tensorBytes = encodeTensor(samples[0] as Tensor)
    const hugeShape = tensorBytes.slice()
    new DataView(hugeShape.buffer).setUint32(8, 0xffffffff, true)
    assert.throws(() => decodeTensor(hugeShape), ArtifactError)
    const badDtype = tensorBytes.slice()
    badDtype[5] = 99
    assert.throws(() => decodeTensor(badDtype), /dtype/)
    const ternary = encodeTensor(samples[4] as Tensor)
    ternary[16] = 0xff
    assert.throws(() => decodeTensor(ternary), /invalid code 3/)
  })

  it('refuses content that does not match its CID', () => {
    const bytes = encodeTensor(samples[0] as Tensor)
    const cid = cidOf(bytes)
    assert.doesNotThrow(() => verifyCid(cid, bytes))
    const flipped = bytes.slice()
    flipped[bytes.length - 1] = (flipped[bytes.length - 1] as number) ^ 1
    assert.throws(() => verifyCid(cid.toString(), flipped), /does not match its CID/)
  })

  it('checks shapes when building tensors', () => {
    assert.throws(() => f32([2, 2], new Float32Array(3)), ShapeError)
    assert.throws(() => f32([-1]), ShapeError)
  })
})
