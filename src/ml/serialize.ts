/**
 * Canonical bytes for tensors and tensor bundles, and their content identifiers.
 *
 * Tensor:  "R3TN" | version u8 = 1 | dtype u8 | rank u8 | 0 u8 | dims u32le × rank | data
 *          (data little-endian, row-major; `ternary` packed 4 values per byte, value + 1 in
 *          two bits, element i at bits 2·(i mod 4)).
 * Bundle:  "R3BD" | version u8 = 1 | 0 u8 × 3 | meta length u32le | meta (canonical JSON:
 *          keys sorted, no spaces) | count u32le | entries sorted by name (UTF-8 bytes):
 *          name length u16le | name | tensor length u32le | tensor bytes.
 *
 * One value has exactly one encoding, so the CID (CIDv1, raw codec, sha2-256) of a bundle
 * names its content: a gradient's CID on chain is the hash of its canonical bytes.
 */
import { CID } from 'multiformats/cid'
import { canonicalJson, type JsonValue } from '../codec/canonical-json.ts'
import { cidOf } from '../codec/cid.ts'
import { NonCanonicalValueError } from '../codec/errors.ts'
import { ArtifactError } from './errors.ts'
import { type DType, elementCount, type Tensor, tensor } from './tensor.ts'

const TENSOR_MAGIC = 0x4e543352 // "R3TN" read as u32le
const BUNDLE_MAGIC = 0x44423352 // "R3BD" read as u32le
const VERSION = 1
/** Bounds that keep a hostile header from asking for absurd allocations. */
const MAX_RANK = 8
const MAX_ELEMENTS = 1 << 30
const MAX_ENTRIES = 4096
/** The mantissa bit that marks a float32 NaN quiet. */
const F32_QUIET_BIT = 0x00400000

const DTYPE_CODE: Record<DType, number> = { f32: 1, i8: 2, u8: 3, i32: 4, ternary: 5 }
const CODE_DTYPE = new Map<number, DType>(Object.entries(DTYPE_CODE).map(([k, v]) => [v, k as DType]))

function dataBytes(dtype: DType, n: number): number {
  switch (dtype) {
    case 'f32':
    case 'i32':
      return 4 * n
    case 'i8':
    case 'u8':
      return n
    case 'ternary':
      return Math.ceil(n / 4)
  }
}

/** A plain Uint8Array copy (Buffer#slice would return a view sharing memory). */
function copyBytes(bytes: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start)
  out.set(bytes.subarray(start, end))
  return out
}

export function encodeTensor(t: Tensor): Uint8Array {
  const n = elementCount(t.shape)
  const headerBytes = 8 + 4 * t.shape.length
  const out = new Uint8Array(headerBytes + dataBytes(t.dtype, n))
  const view = new DataView(out.buffer)
  view.setUint32(0, TENSOR_MAGIC, true)
  out[4] = VERSION
  out[5] = DTYPE_CODE[t.dtype]
  out[6] = t.shape.length
  for (let i = 0; i < t.shape.length; i++) view.setUint32(8 + 4 * i, t.shape[i] as number, true)
  const body = new DataView(out.buffer, headerBytes)
  switch (t.dtype) {
    case 'f32':
      for (let i = 0; i < n; i++) body.setFloat32(4 * i, t.data[i] as number, true)
      break
    case 'i32':
      for (let i = 0; i < n; i++) body.setInt32(4 * i, t.data[i] as number, true)
      break
    case 'i8':
    case 'u8':
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, n), headerBytes)
      break
    case 'ternary':
      for (let i = 0; i < n; i++) {
        const v = t.data[i] as number
        if (v < -1 || v > 1) throw new ArtifactError(`ternary tensor holds ${v} at index ${i}`)
        out[headerBytes + (i >> 2)] = (out[headerBytes + (i >> 2)] as number) | ((v + 1) << (2 * (i & 3)))
      }
      break
  }
  return out
}

/** Decode one tensor from `bytes[offset, offset+length)`; every field is checked. */
export function decodeTensor(bytes: Uint8Array, offset = 0, length = bytes.length - offset): Tensor {
  if (length < 8 || offset + length > bytes.length) throw new ArtifactError('tensor truncated: header incomplete')
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, length)
  if (view.getUint32(0, true) !== TENSOR_MAGIC) throw new ArtifactError('not a tensor: bad magic')
  if (view.getUint8(4) !== VERSION) throw new ArtifactError(`unsupported tensor version ${view.getUint8(4)}`)
  const dtype = CODE_DTYPE.get(view.getUint8(5))
  if (dtype === undefined) throw new ArtifactError(`unknown tensor dtype code ${view.getUint8(5)}`)
  // One tensor, one encoding (its CID names it): the reserved byte and the bits past the last
  // ternary value must be the zeros encodeTensor writes.
  if (view.getUint8(7) !== 0) throw new ArtifactError('tensor header reserved byte is not 0')
  const rank = view.getUint8(6)
  if (rank > MAX_RANK) throw new ArtifactError(`tensor rank ${rank} exceeds ${MAX_RANK}`)
  const headerBytes = 8 + 4 * rank
  if (length < headerBytes) throw new ArtifactError('tensor truncated: shape incomplete')
  const shape: number[] = []
  let n = 1
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(8 + 4 * i, true)
    shape.push(d)
    n *= d
    if (n > MAX_ELEMENTS) throw new ArtifactError(`tensor of shape [${shape.join(', ')}…] is too large`)
  }
  const expected = headerBytes + dataBytes(dtype, n)
  if (length !== expected) {
    throw new ArtifactError(`tensor body is ${length - headerBytes} bytes, shape needs ${expected - headerBytes}`, {
      shape,
      dtype,
    })
  }
  const body = new DataView(bytes.buffer, bytes.byteOffset + offset + headerBytes, expected - headerBytes)
  switch (dtype) {
    case 'f32': {
      const data = new Float32Array(n)
      for (let i = 0; i < n; i++) {
        const value = body.getFloat32(4 * i, true)
        // Reading a float32 into a JS number quiets a signalling NaN, so the encoder can never
        // write one back: such bytes would be a second encoding of the tensor.
        if (Number.isNaN(value) && (body.getUint32(4 * i, true) & F32_QUIET_BIT) === 0)
          throw new ArtifactError(`f32 tensor holds a signalling NaN at index ${i}`)
        data[i] = value
      }
      return tensor('f32', shape, data)
    }
    case 'i32': {
      const data = new Int32Array(n)
      for (let i = 0; i < n; i++) data[i] = body.getInt32(4 * i, true)
      return tensor('i32', shape, data)
    }
    case 'i8':
      return tensor('i8', shape, new Int8Array(copyBytes(bytes, offset + headerBytes, offset + expected).buffer))
    case 'u8':
      return tensor('u8', shape, copyBytes(bytes, offset + headerBytes, offset + expected))
    case 'ternary': {
      const data = new Int8Array(n)
      for (let i = 0; i < n; i++) {
        const code = (body.getUint8(i >> 2) >> (2 * (i & 3))) & 3
        if (code === 3) throw new ArtifactError(`ternary tensor holds invalid code 3 at index ${i}`)
        data[i] = code - 1
      }
      if (n % 4 !== 0 && body.getUint8(n >> 2) >> (2 * (n % 4)) !== 0)
        throw new ArtifactError('ternary tensor has bits set past its last value')
      return tensor('ternary', shape, data)
    }
  }
}

export interface Bundle {
  readonly meta: { [key: string]: JsonValue }
  readonly tensors: ReadonlyMap<string, Tensor>
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** The metadata's canonical JSON; a value without one is an artifact error, as every other flaw of a bundle. */
function canonicalMeta(meta: { [key: string]: JsonValue }): string {
  try {
    return canonicalJson(meta)
  } catch (error) {
    if (error instanceof NonCanonicalValueError) throw new ArtifactError(`bundle ${error.message}`)
    throw error
  }
}

export function encodeBundle(bundle: Bundle): Uint8Array {
  const meta = Buffer.from(canonicalMeta(bundle.meta), 'utf8')
  const names = [...bundle.tensors.keys()].sort(compareUtf8)
  const parts: Uint8Array[] = []
  const head = Buffer.alloc(16)
  head.writeUInt32LE(BUNDLE_MAGIC, 0)
  head[4] = VERSION
  head.writeUInt32LE(meta.length, 8)
  parts.push(head.subarray(0, 12), meta)
  const count = Buffer.alloc(4)
  count.writeUInt32LE(names.length, 0)
  parts.push(count)
  for (const name of names) {
    const nameBytes = Buffer.from(name, 'utf8')
    if (nameBytes.length > 0xffff) throw new ArtifactError(`tensor name too long: ${name.slice(0, 40)}…`)
    const body = encodeTensor(bundle.tensors.get(name) as Tensor)
    const entryHead = Buffer.alloc(6)
    entryHead.writeUInt16LE(nameBytes.length, 0)
    entryHead.writeUInt32LE(body.length, 2)
    parts.push(entryHead.subarray(0, 2), nameBytes, entryHead.subarray(2, 6), body)
  }
  const joined = Buffer.concat(parts)
  return copyBytes(joined, 0, joined.length)
}

export function decodeBundle(bytes: Uint8Array): Bundle {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const need = (pos: number, n: number, what: string): void => {
    if (pos + n > buf.length) throw new ArtifactError(`bundle truncated in ${what} at byte ${pos}`)
  }
  need(0, 12, 'header')
  if (buf.readUInt32LE(0) !== BUNDLE_MAGIC) throw new ArtifactError('not a tensor bundle: bad magic')
  if (buf[4] !== VERSION) throw new ArtifactError(`unsupported bundle version ${buf[4]}`)
  const metaLength = buf.readUInt32LE(8)
  need(12, metaLength + 4, 'metadata')
  let meta: { [key: string]: JsonValue }
  try {
    meta = JSON.parse(buf.toString('utf8', 12, 12 + metaLength))
  } catch (error) {
    throw new ArtifactError(`bundle metadata is not JSON: ${(error as Error).message}`)
  }
  let pos = 12 + metaLength
  const count = buf.readUInt32LE(pos)
  pos += 4
  if (count > MAX_ENTRIES) throw new ArtifactError(`bundle claims ${count} tensors, more than ${MAX_ENTRIES}`)
  const tensors = new Map<string, Tensor>()
  let previous: string | undefined
  for (let i = 0; i < count; i++) {
    need(pos, 2, 'entry name length')
    const nameLength = buf.readUInt16LE(pos)
    need(pos + 2, nameLength + 4, 'entry name')
    const name = buf.toString('utf8', pos + 2, pos + 2 + nameLength)
    const bodyLength = buf.readUInt32LE(pos + 2 + nameLength)
    pos += 6 + nameLength
    need(pos, bodyLength, `tensor '${name}'`)
    if (previous !== undefined && compareUtf8(previous, name) >= 0) {
      throw new ArtifactError(`bundle entries out of canonical order at '${name}'`)
    }
    tensors.set(name, decodeTensor(bytes, pos, bodyLength))
    previous = name
    pos += bodyLength
  }
  if (pos !== buf.length) throw new ArtifactError(`bundle has ${buf.length - pos} trailing bytes`)
  const decoded = { meta, tensors }
  if (Buffer.compare(encodeBundle(decoded), buf) !== 0) throw new ArtifactError('bundle is not in canonical form')
  return decoded
}

/** Decode bytes fetched by `cid`, refusing them unless they hash to it. */
export function verifyCid(cid: CID | string, bytes: Uint8Array): void {
  const expected = (typeof cid === 'string' ? CID.parse(cid) : cid).toString()
  const actual = cidOf(bytes).toString()
  if (actual !== expected)
    throw new ArtifactError(`content does not match its CID: expected ${expected}, got ${actual}`)
}
