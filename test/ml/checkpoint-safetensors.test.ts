import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import {
  decodeSafetensors,
  encodeSafetensors,
  float32ToBf16Bytes,
  openSafetensors,
  type RawTensor,
  toFloat32,
} from '../../src/ml/checkpoint/safetensors.ts'
import { CheckpointError } from '../../src/ml/errors.ts'
import { R3mesError } from '../../src/runtime/errors.ts'

const f32 = (values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer)

function sample(): Map<string, RawTensor> {
  return new Map<string, RawTensor>([
    ['model.norm.weight', { dtype: 'BF16', shape: [4], bytes: float32ToBf16Bytes(Float32Array.of(1, -2, 0.5, 3)) }],
    ['w', { dtype: 'U8', shape: [2, 3], bytes: Uint8Array.of(0, 1, 2, 85, 170, 255) }],
    ['s', { dtype: 'F32', shape: [1], bytes: f32([0.25]) }],
    ['h', { dtype: 'F16', shape: [3], bytes: Uint8Array.of(0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00) }],
    ['i', { dtype: 'I8', shape: [0], bytes: new Uint8Array(0) }],
  ])
}

/** A file from a hand-written header (to state exactly what is wrong in it). */
function rawFile(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header))
  const out = new Uint8Array(8 + json.length + data.length)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  out.set(data, 8 + json.length)
  return out
}

describe('ml/checkpoint/safetensors', () => {
  it('round-trips tensors and metadata; the header is 8-byte aligned', () => {
    const bytes = encodeSafetensors(sample(), new Map([['format', 'pt']]))
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true))
    assert.equal(n % 8, 0)
    const back = decodeSafetensors(bytes)
    assert.equal(back.metadata.get('format'), 'pt')
    assert.deepEqual([...back.tensors.keys()], [...sample().keys()])
    for (const [name, t] of sample()) assert.deepEqual(back.tensors.get(name), t, name)
  })

  it('widens BF16 and F16 exactly, and rounds F32 to BF16 to nearest even', () => {
    const t = decodeSafetensors(encodeSafetensors(sample())).tensors
    assert.deepEqual([...toFloat32(t.get('model.norm.weight') as RawTensor, 'norm')], [1, -2, 0.5, 3])
    assert.deepEqual([...toFloat32(t.get('h') as RawTensor, 'h')], [1, -2, 2 ** -24])
    // 1 + 2^-8 is halfway between two bf16 values: to even (1); 1 + 3·2^-8 rounds up.
    const rounded = toFloat32(
      { dtype: 'BF16', shape: [2], bytes: float32ToBf16Bytes(Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8)) },
      'x',
    )
    assert.deepEqual([...rounded], [1, 1 + 2 ** -6])
    assert.throws(() => toFloat32(t.get('w') as RawTensor, 'w'), /w is U8, expected a floating type/)
  })

  it('reads tensors by range from a file, naming the file and tensor in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'r3mes-st-'))
    try {
      const path = join(dir, 'model.safetensors')
      writeFileSync(path, encodeSafetensors(sample()))
      const file = openSafetensors(path)
      assert.deepEqual(file.read('w'), sample().get('w'))
      assert.throws(
        () => file.read('nope'),
        (e: CheckpointError) => e.message.includes(path) && /'nope'/.test(e.message),
      )
      file.close()
      writeFileSync(path, encodeSafetensors(sample()).subarray(0, 60))
      assert.throws(() => openSafetensors(path), /truncated/)
      assert.throws(() => openSafetensors(join(dir, 'absent.safetensors')), /cannot open/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('rejects each malformed header with an error that says what is wrong', () => {
    const entry = (dtype: string, shape: number[], offsets: number[]) => ({ dtype, shape, data_offsets: offsets })
    const cases: [string, Uint8Array, RegExp][] = [
      ['too short', new Uint8Array(4), /no header length/],
      ['header past the end', Uint8Array.of(200, 0, 0, 0, 0, 0, 0, 0, 123), /truncated: header of 200 bytes/],
      ['huge header length', Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1), /exceeds/],
      ['not an object', rawFile([1, 2], new Uint8Array(0)), /does not start with/],
      ['bad dtype', rawFile({ a: entry('F64', [1], [0, 8]) }, new Uint8Array(8)), /'a' has dtype "F64"/],
      ['wrong byte count', rawFile({ a: entry('F32', [3], [0, 8]) }, new Uint8Array(8)), /'a' holds 8 bytes.*needs 12/],
      [
        'out of range',
        rawFile({ a: entry('U8', [9], [0, 9]) }, new Uint8Array(8)),
        /'a' data_offsets \[0, 9\] fall outside/,
      ],
      [
        'overlap',
        rawFile({ a: entry('U8', [4], [0, 4]), b: entry('U8', [4], [2, 6]) }, new Uint8Array(6)),
        /'b' overlaps tensor 'a'/,
      ],
      [
        'hole',
        rawFile({ a: entry('U8', [2], [2, 4]) }, new Uint8Array(4)),
        /\[0, 2\) before tensor 'a' belong to no tensor/,
      ],
      ['trailing bytes', rawFile({ a: entry('U8', [2], [0, 2]) }, new Uint8Array(4)), /after the last tensor/],
      ['negative size', rawFile({ a: entry('U8', [-1], [0, 0]) }, new Uint8Array(0)), /invalid size/],
      ['too many elements', rawFile({ a: entry('U8', [2 ** 20, 2 ** 20], [0, 0]) }, new Uint8Array(0)), /more than/],
      ['extra field', rawFile({ a: { ...entry('U8', [1], [0, 1]), x: 1 } }, new Uint8Array(1)), /unknown field 'x'/],
      ['bad metadata', rawFile({ __metadata__: { k: 1 } }, new Uint8Array(0)), /__metadata__.k is not a string/],
    ]
    for (const [what, bytes, message] of cases) {
      assert.throws(
        () => decodeSafetensors(bytes, 'f.safetensors'),
        (e: unknown) => {
          assert.ok(e instanceof CheckpointError, `${what}: ${e}`)
          assert.match(e.message, message, what)
          assert.match(e.message, /^f\.safetensors: /, what)
          return true
        },
      )
    }
  })

  it('fuzz: any bytes, and any mutation of a valid file, decode or fail with a typed error', () => {
    const valid = encodeSafetensors(sample(), new Map([['format', 'pt']]))
    const decodeOrTypedError = (bytes: Uint8Array): void => {
      try {
        decodeSafetensors(bytes)
      } catch (error) {
        if (!(error instanceof R3mesError)) throw error
      }
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), decodeOrTypedError), { numRuns: 2000 })
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.nat(valid.length),
        (edits, cut) => {
          const bytes = valid.slice(0, Math.max(cut, valid.length - 4))
          for (const [at, value] of edits) if (at < bytes.length) bytes[at] = value
          decodeOrTypedError(bytes)
        },
      ),
      { numRuns: 3000 },
    )
    // Headers built from JSON values: every well-formed-JSON shape of a header is checked.
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 })),
        fc.uint8Array({ maxLength: 64 }),
        (h, d) => decodeOrTypedError(rawFile(h, d)),
      ),
      { numRuns: 2000 },
    )
  })
})
