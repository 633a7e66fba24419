/**
 * The byte-level alphabet of GPT-2 style BPE (the Hugging Face `ByteLevel` pre-tokenizer and
 * decoder): each of the 256 bytes is written as one printable character, so a token of any bytes
 * is a plain string in tokenizer.json. Printable Latin-1 bytes stand for themselves; the others
 * take the code points from U+0100 on, in byte order.
 */

function printable(b: number): boolean {
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
}

/** BYTE_CHARS[b] is the character of byte b. */
export const BYTE_CHARS: readonly string[] = (() => {
  const chars: string[] = []
  let next = 0x100
  for (let b = 0; b < 256; b++) chars.push(String.fromCodePoint(printable(b) ? b : next++))
  return chars
})()

const BYTE_OF = new Map(BYTE_CHARS.map((c, b) => [c, b]))

/** The bytes a byte-level token string stands for, or undefined if it has a non-alphabet character. */
export function byteLevelBytes(token: string): Uint8Array | undefined {
  const out: number[] = []
  for (const c of token) {
    const b = BYTE_OF.get(c)
    if (b === undefined) return undefined
    out.push(b)
  }
  return Uint8Array.from(out)
}
