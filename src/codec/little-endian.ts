/** Unsigned integers as little-endian octet strings (RFC 9381's string_to_int / int_to_string). */

/** string_to_int: little-endian. */
export function leToInt(bytes: Uint8Array): bigint {
  let x = 0n
  for (let i = bytes.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(bytes[i] as number)
  return x
}

/** int_to_string: the low `length` octets of x, little-endian. */
export function intToLe(x: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) {
    out[i] = Number(x & 0xffn)
    x >>= 8n
  }
  return out
}
