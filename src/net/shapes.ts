/**
 * Structural checks of decoded gossip payloads. msgpackr decodes whatever bytes it is given;
 * a payload reaches a handler only once its shape matches the topic's type exactly (known
 * keys, right types, integers in range), so handlers never see a half-formed value.
 */
import { MalformedMessageError } from './errors.ts'
import type { ActivationAnnouncement, GradientAnnouncement, TxGossip } from './topics.ts'

/** Returns the value typed as T, or throws MalformedMessageError naming the bad field. */
export type Shape<T> = (value: unknown, what: string) => T

type Field = (value: unknown) => string | undefined

const bytes =
  (maxBytes: number): Field =>
  (v) =>
    v instanceof Uint8Array ? (v.byteLength <= maxBytes ? undefined : `over ${maxBytes} bytes`) : 'not bytes'
const uint: Field = (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? undefined : 'not a uint')
const oneOf =
  (...values: string[]): Field =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? undefined : `not one of ${values.join('|')}`
const cidString: Field = (v) =>
  typeof v === 'string' && /^[a-z2-7]{20,120}$/.test(v) ? undefined : 'not a base32 CID string'

function record<T>(fields: Record<keyof T & string, Field>): Shape<T> {
  const names = Object.keys(fields)
  return (value, what) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array)
      throw new MalformedMessageError(what, 'not a map')
    const keys = Object.keys(value)
    for (const key of keys) if (!names.includes(key)) throw new MalformedMessageError(what, `unexpected field ${key}`)
    for (const name of names) {
      const problem = (fields as Record<string, Field>)[name]?.((value as Record<string, unknown>)[name])
      if (problem !== undefined) throw new MalformedMessageError(what, `field ${name} ${problem}`)
    }
    return value as T
  }
}

export const shapes = {
  tx: record<TxGossip>({ tx: bytes(60 * 1024) }),
  activations: record<ActivationAnnouncement>({
    window: uint,
    step: uint,
    direction: oneOf('forward', 'backward'),
    cid: cidString,
    sizeBytes: uint,
  }),
  gradients: record<GradientAnnouncement>({ window: uint, cid: cidString, tokens: uint }),
}
