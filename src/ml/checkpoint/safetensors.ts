/**
 * The safetensors file format (Hugging Face), the container of published checkpoints:
 *
 *   header length N: u64 little-endian | header: N bytes of UTF-8 JSON | data buffer
 *
 * The header is one JSON object: `"__metadata__"` (optional, string → string) and, per tensor,
 * `name: { "dtype": "BF16", "shape": [rows, cols], "data_offsets": [begin, end] }` with offsets
 * relative to the data buffer's start. As the format's reference reader does, a header must start
 * with `{` (trailing spaces pad it), every tensor's bytes must be exactly its shape × dtype size,
 * and the tensors must tile the data buffer: no overlap, no hole, nothing after the last.
 *
 * Written by hand: no safetensors package for JavaScript is installed, and the format is a JSON
 * header plus byte ranges; what matters is checking every field of a hostile file, which is done
 * here against the bounds of src/runtime/limits.ts.
 *
 * Files are read by ranges (a published embedding alone can be over 600 MB; a whole 2B checkpoint
 * over the 2 GiB one read can return), so only the tensors asked for are held in memory.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import {
  MAX_CHECKPOINT_TENSOR_ELEMENTS,
  MAX_SAFETENSORS_HEADER_BYTES,
  MAX_SAFETENSORS_TENSORS,
} from '../../runtime/limits.ts'
import { CheckpointError } from '../errors.ts'

/** The element types read and written (those of published BitNet checkpoints, and I8). */
export type SafetensorsDType = 'U8' | 'I8' | 'BF16' | 'F16' | 'F32'

const DTYPE_BYTES: Record<SafetensorsDType, number> = { U8: 1, I8: 1, BF16: 2, F16: 2, F32: 4 }
const MAX_RANK = 8
const METADATA_KEY = '__metadata__'

export interface SafetensorsEntry {
  readonly dtype: SafetensorsDType
  readonly shape: readonly number[]
  /** Byte range in the data buffer, [begin, end). */
  readonly begin: number
  readonly end: number
}

export interface SafetensorsHeader {
  readonly metadata: ReadonlyMap<string, string>
  /** Tensors by name, in the header's order. */
  readonly tensors: ReadonlyMap<string, SafetensorsEntry>
  /** Offset of the data buffer in the file (8 + header length). */
  readonly dataStart: number
}

/** One tensor's raw little-endian bytes with its dtype and shape. */
export interface RawTensor {
  readonly dtype: SafetensorsDType
  readonly shape: readonly number[]
  readonly bytes: Uint8Array
}

function isDType(value: unknown): value is SafetensorsDType {
  return typeof value === 'string' && Object.hasOwn(DTYPE_BYTES, value)
}

/**
 * Parse and check a header: `json` is the N header bytes, `dataBytes` the length of the data
 * buffer after it. `file` names the file in every error.
 */
export function parseSafetensorsHeader(json: Uint8Array, dataBytes: number, file: string): SafetensorsHeader {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json)
  } catch {
    throw new CheckpointError(`${file}: safetensors header is not UTF-8`, { file })
  }
  if (!text.startsWith('{')) throw new CheckpointError(`${file}: safetensors header does not start with '{'`, { file })
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new CheckpointError(`${file}: safetensors header is not JSON: ${(error as Error).message}`, { file })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CheckpointError(`${file}: safetensors header is not a JSON object`, { file })
  }
  const fields = Object.entries(parsed)
  if (fields.length > MAX_SAFETENSORS_TENSORS + 1) {
    throw new CheckpointError(
      `${file}: safetensors header lists ${fields.length} entries, at most ${MAX_SAFETENSORS_TENSORS}`,
      {
        file,
      },
    )
  }
  const metadata = new Map<string, string>()
  const tensors = new Map<string, SafetensorsEntry>()
  for (const [name, value] of fields) {
    if (name === METADATA_KEY) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new CheckpointError(`${file}: ${METADATA_KEY} is not an object of strings`, { file })
      }
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw new CheckpointError(`${file}: ${METADATA_KEY}.${k} is not a string`, { file })
        metadata.set(k, v)
      }
      continue
    }
    tensors.set(name, parseEntry(name, value, dataBytes, file))
  }
  checkTiling(tensors, dataBytes, file)
  return { metadata, tensors, dataStart: 8 + json.length }
}

function parseEntry(name: string, value: unknown, dataBytes: number, file: string): SafetensorsEntry {
  const fail = (what: string): never => {
    throw new CheckpointError(`${file}: tensor '${name}' ${what}`, { file, tensor: name })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('is not an object')
  const entry = value as Record<string, unknown>
  for (const key of Object.keys(entry)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') fail(`has an unknown field '${key}'`)
  }
  const { dtype, shape, data_offsets: offsets } = entry
  if (!isDType(dtype))
    return fail(`has dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(DTYPE_BYTES).join(', ')}`)
  if (!Array.isArray(shape) || shape.length > MAX_RANK) return fail(`shape must be a list of at most ${MAX_RANK} sizes`)
  let elements = 1
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) fail(`shape [${shape.join(', ')}] holds an invalid size`)
    elements *= d
    if (elements > MAX_CHECKPOINT_TENSOR_ELEMENTS) {
      fail(`shape [${shape.join(', ')}] has more than ${MAX_CHECKPOINT_TENSOR_ELEMENTS} elements`)
    }
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) return fail('data_offsets must be [begin, end]')
  const [begin, end] = offsets as unknown[]
  if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end)) return fail('data_offsets must be integers')
  const b = begin as number
  const e = end as number
  if (b < 0 || e < b || e > dataBytes) {
    fail(`data_offsets [${b}, ${e}] fall outside the ${dataBytes}-byte data buffer (file truncated?)`)
  }
  if (e - b !== elements * DTYPE_BYTES[dtype]) {
    fail(`holds ${e - b} bytes, its ${dtype}[${shape.join(', ')}] needs ${elements * DTYPE_BYTES[dtype]}`)
  }
  return { dtype, shape: shape as number[], begin: b, end: e }
}

/** The tensors must cover the data buffer exactly, in some order, each byte once. */
function checkTiling(tensors: ReadonlyMap<string, SafetensorsEntry>, dataBytes: number, file: string): void {
  const ranges = [...tensors].sort((x, y) => x[1].begin - y[1].begin || x[1].end - y[1].end)
  let at = 0
  let previous = ''
  for (const [name, { begin, end }] of ranges) {
    if (begin < at) {
      throw new CheckpointError(`${file}: tensor '${name}' overlaps tensor '${previous}'`, { file, tensor: name })
    }
    if (begin > at) {
      throw new CheckpointError(`${file}: data bytes [${at}, ${begin}) before tensor '${name}' belong to no tensor`, {
        file,
        tensor: name,
      })
    }
    at = end
    previous = name
  }
  if (at !== dataBytes) {
    throw new CheckpointError(`${file}: data bytes [${at}, ${dataBytes}) after the last tensor belong to no tensor`, {
      file,
    })
  }
}

function headerLength(prefix: Uint8Array, fileBytes: number, file: string): number {
  if (fileBytes < 8) throw new CheckpointError(`${file}: truncated: ${fileBytes} bytes, no header length`, { file })
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true)
  if (n > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) {
    throw new CheckpointError(`${file}: header length ${n} exceeds ${MAX_SAFETENSORS_HEADER_BYTES} bytes`, { file })
  }
  if (Number(n) + 8 > fileBytes) {
    throw new CheckpointError(`${file}: truncated: header of ${n} bytes, file has ${fileBytes - 8} after the length`, {
      file,
    })
  }
  return Number(n)
}

/** Decode a whole safetensors file held in memory: its metadata and every tensor's bytes. */
export function decodeSafetensors(
  bytes: Uint8Array,
  file = 'safetensors',
): { metadata: ReadonlyMap<string, string>; tensors: Map<string, RawTensor> } {
  const n = headerLength(bytes, bytes.length, file)
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, file)
  const tensors = new Map<string, RawTensor>()
  for (const [name, e] of header.tensors) {
    const data = bytes.slice(header.dataStart + e.begin, header.dataStart + e.end)
    tensors.set(name, { dtype: e.dtype, shape: e.shape, bytes: data })
  }
  return { metadata: header.metadata, tensors }
}

/**
 * Encode tensors as a safetensors file: tensors in the given order, packed back to back, the
 * header padded with spaces to a multiple of 8 bytes (as the reference writer aligns it).
 */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, RawTensor>,
  metadata: ReadonlyMap<string, string> = new Map(),
): Uint8Array {
  const header: Record<string, unknown> = {}
  if (metadata.size > 0) header[METADATA_KEY] = Object.fromEntries(metadata)
  let at = 0
  for (const [name, t] of tensors) {
    let elements = 1
    for (const d of t.shape) elements *= d
    if (t.bytes.length !== elements * DTYPE_BYTES[t.dtype]) {
      throw new CheckpointError(`tensor '${name}': ${t.bytes.length} bytes for ${t.dtype}[${t.shape.join(', ')}]`, {
        tensor: name,
      })
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.bytes.length] }
    at += t.bytes.length
  }
  let json = new TextEncoder().encode(JSON.stringify(header))
  const padded = Math.ceil(json.length / 8) * 8
  if (padded !== json.length) {
    const withSpaces = new Uint8Array(padded).fill(0x20)
    withSpaces.set(json)
    json = withSpaces
  }
  const out = new Uint8Array(8 + json.length + at)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  let offset = 8 + json.length
  for (const t of tensors.values()) {
    out.set(t.bytes, offset)
    offset += t.bytes.length
  }
  return out
}

/** A safetensors file on disk, its header checked, its tensors read on demand. */
export interface SafetensorsFile {
  readonly path: string
  readonly header: SafetensorsHeader
  /** One tensor's bytes; throws CheckpointError naming the file and tensor when it is absent. */
  read(name: string): RawTensor
  close(): void
}

function readExactly(fd: number, length: number, position: number, file: string): Uint8Array {
  const out = new Uint8Array(length)
  let done = 0
  while (done < length) {
    const n = readSync(fd, out, done, length - done, position + done)
    if (n === 0) throw new CheckpointError(`${file}: truncated while reading`, { file })
    done += n
  }
  return out
}

export function openSafetensors(path: string): SafetensorsFile {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (error) {
    throw new CheckpointError(`${path}: cannot open: ${(error as Error).message}`, { file: path })
  }
  try {
    const fileBytes = fstatSync(fd).size
    const n = headerLength(readExactly(fd, Math.min(8, fileBytes), 0, path), fileBytes, path)
    const header = parseSafetensorsHeader(readExactly(fd, n, 8, path), fileBytes - 8 - n, path)
    return {
      path,
      header,
      read(name) {
        const e = header.tensors.get(name)
        if (e === undefined) throw new CheckpointError(`${path}: lacks tensor '${name}'`, { file: path, tensor: name })
        return {
          dtype: e.dtype,
          shape: e.shape,
          bytes: readExactly(fd, e.end - e.begin, header.dataStart + e.begin, path),
        }
      },
      close: () => closeSync(fd),
    }
  } catch (error) {
    closeSync(fd)
    throw error
  }
}

/** float16 bits → its value (exact in float32). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exponent = (h >> 10) & 0x1f
  const mantissa = h & 0x3ff
  if (exponent === 0) return sign * mantissa * 2 ** -24
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
}

/** A floating tensor's values as float32 (BF16 and F16 widen exactly). */
export function toFloat32(t: RawTensor, what: string): Float32Array {
  const n = t.bytes.length / DTYPE_BYTES[t.dtype]
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength)
  const out = new Float32Array(n)
  switch (t.dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true)
      return out
    case 'BF16': {
      // bfloat16 is the high half of a float32.
      const bits = new Uint32Array(out.buffer)
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16
      return out
    }
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true))
      return out
    default:
      throw new CheckpointError(`${what} is ${t.dtype}, expected a floating type (F32, BF16 or F16)`)
  }
}

/** float32 values as little-endian bfloat16, rounded to nearest even (as torch converts). */
export function float32ToBf16Bytes(values: Float32Array): Uint8Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length)
  const out = new Uint8Array(2 * values.length)
  const view = new DataView(out.buffer)
  for (let i = 0; i < values.length; i++) {
    const x = bits[i] as number
    const rounded = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16
    view.setUint16(2 * i, Number.isNaN(values[i]) ? 0x7fc0 : rounded & 0xffff, true)
  }
  return out
}
