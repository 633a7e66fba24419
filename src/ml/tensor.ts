/**
 * Tensors: a dtype, a shape and a flat row-major typed array. `ternary` tensors hold values in
 * {−1, 0, +1} in an Int8Array and serialize packed at 2 bits per value.
 */
import { NonFiniteError, ShapeError } from './errors.ts'

export type DType = 'f32' | 'i8' | 'u8' | 'i32' | 'ternary'

export interface DataByDType {
  f32: Float32Array
  i8: Int8Array
  u8: Uint8Array
  i32: Int32Array
  ternary: Int8Array
}

export interface Tensor<D extends DType = DType> {
  readonly dtype: D
  readonly shape: readonly number[]
  readonly data: DataByDType[D]
}

export function elementCount(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`invalid dimension ${d} in shape [${shape.join(', ')}]`)
    n *= d
  }
  return n
}

export function tensor<D extends DType>(dtype: D, shape: readonly number[], data: DataByDType[D]): Tensor<D> {
  const n = elementCount(shape)
  if (data.length !== n) {
    throw new ShapeError(`tensor of shape [${shape.join(', ')}] needs ${n} elements, got ${data.length}`, {
      shape,
      length: data.length,
    })
  }
  return { dtype, shape: [...shape], data }
}

export function f32(shape: readonly number[], data?: Float32Array): Tensor<'f32'> {
  return tensor('f32', shape, data ?? new Float32Array(elementCount(shape)))
}

/** Throw a typed error when `data` holds NaN or ±Infinity. */
export function assertFinite(what: string, data: Float32Array): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new NonFiniteError(what, i)
  }
}

export function assertShape(what: string, actual: readonly number[], expected: readonly number[]): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new ShapeError(`${what}: expected shape [${expected.join(', ')}], got [${actual.join(', ')}]`, {
      what,
      expected,
      actual,
    })
  }
}
