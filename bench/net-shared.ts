/** What the two processes of the network benchmark agree on. */
import type { Stream } from '@libp2p/interface'
import { SeededRandom } from '../src/runtime/random.ts'

export const CHAIN_ID = 'bench'
export const BARE_PROTOCOL = '/r3mes-bench/sink/1.0.0'
export const ECHO_PROTOCOL = '/r3mes-bench/echo/1.0.0'

/** Deterministic incompressible bytes. */
export function benchBytes(n: number, seed: number): Uint8Array {
  const random = new SeededRandom(seed)
  const out = new Uint8Array(n)
  const words = new Uint32Array(out.buffer, 0, Math.floor(n / 4))
  for (let i = 0; i < words.length; i++) words[i] = random.nextU32()
  return out
}

/** Read an 8-byte little-endian length, then that many bytes (discarded); returns the count. */
export async function readSizePrefixed(stream: Stream): Promise<number> {
  let expected = -1
  let received = 0
  const head: number[] = []
  for await (const chunk of stream) {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    let offset = 0
    while (expected < 0 && offset < bytes.byteLength) {
      head.push(bytes[offset++] ?? 0)
      if (head.length === 8) {
        expected = Number(new DataView(new Uint8Array(head).buffer).getBigUint64(0, true))
      }
    }
    received += bytes.byteLength - offset
    if (expected >= 0 && received >= expected) return received
  }
  return received
}
