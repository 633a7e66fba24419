/**
 * Expected failures of the network layer. Each carries a stable code (part of the API) and,
 * where a peer caused it, enough context to log and score that peer.
 */
import { R3mesError } from '../runtime/errors.ts'

/** What gossip validation decided about a message; mirrors gossipsub's ACCEPT/IGNORE/REJECT. */
export type GossipVerdict = 'accept' | 'ignore' | 'reject'

/**
 * Thrown by a topic validator. `ignore` drops the message without blame (stale, duplicate,
 * queue full); `reject` drops it and penalises the peer that forwarded it.
 */
export class GossipValidationError extends R3mesError {
  readonly verdict: Exclude<GossipVerdict, 'accept'>
  constructor(
    verdict: Exclude<GossipVerdict, 'accept'>,
    reason: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(verdict === 'reject' ? 'ERR_GOSSIP_REJECT' : 'ERR_GOSSIP_IGNORE', reason, { ...details, verdict }, options)
    this.verdict = verdict
  }
}

/** A topic string that is not one of ours (wrong prefix, chain, kind, subnet or version). */
export class UnknownTopicError extends R3mesError {
  constructor(topic: string, reason: string) {
    super('ERR_UNKNOWN_TOPIC', `unknown topic ${JSON.stringify(topic)}: ${reason}`, { topic })
  }
}

/** An encoded message or frame is larger than its cap. */
export class MessageTooLargeError extends R3mesError {
  constructor(what: string, sizeBytes: number, maxBytes: number) {
    super('ERR_MESSAGE_TOO_LARGE', `${what} is ${sizeBytes} bytes, over its cap of ${maxBytes}`, {
      what,
      sizeBytes,
      maxBytes,
    })
  }
}

/** Bytes from a peer that do not decode into the expected shape. */
export class MalformedMessageError extends R3mesError {
  constructor(what: string, reason: string, options?: ErrorOptions) {
    super('ERR_MALFORMED_MESSAGE', `${what} is malformed: ${reason}`, { what }, options)
  }
}

/** A frame on a stream (activations, the flood channel) broke the framing rules (bad length, truncated, wrong order). */
export class BadFrameError extends R3mesError {
  constructor(reason: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('ERR_BAD_FRAME', `bad frame: ${reason}`, details, options)
  }
}

/** Content that arrived or was read back does not hash to the CID it was asked for. */
export class ContentIntegrityError extends R3mesError {
  constructor(expected: string, actual: string, what = 'content') {
    super('ERR_CONTENT_INTEGRITY', `${what} hashes to ${actual}, expected ${expected}`, { expected, actual, what })
  }
}

/** An operation did not complete before its deadline. */
export class DeadlineExceededError extends R3mesError {
  constructor(what: string, deadlineMs: number) {
    super('ERR_DEADLINE_EXCEEDED', `${what} did not complete within ${deadlineMs} ms`, { what, deadlineMs })
  }
}

/** Fault injection refused to let this traffic through (partition, disconnect, drop). */
export class FaultInjectedError extends R3mesError {
  constructor(fault: string, peer: string) {
    super('ERR_FAULT_INJECTED', `${fault} towards peer ${peer}`, { fault, peer })
  }
}

/** A peer asked for more at once than its share; the request is refused unread. */
export class TooManyRequestsError extends R3mesError {
  constructor(what: string, peer: string, limit: number) {
    super('ERR_TOO_MANY_REQUESTS', `peer ${peer} has ${limit} ${what} in flight already, its limit`, {
      what,
      peer,
      limit,
    })
  }
}

/** A peer asked us to store a DHT record of a type the chain does not use (the DHT stores none). */
export class DhtRecordRefusedError extends R3mesError {
  constructor(key: string) {
    super('ERR_DHT_RECORD_REFUSED', `DHT record ${key} refused: this DHT stores no records`, { key })
  }
}

/** A provider record over one of the DHT's provider bounds (per key, per peer, in total). */
export class ProviderRecordLimitError extends R3mesError {
  constructor(bound: 'per key' | 'per peer' | 'in total', limit: number, details: Record<string, unknown>) {
    super('ERR_PROVIDER_RECORD_LIMIT', `provider record refused: ${limit} stored ${bound}`, {
      ...details,
      bound,
      limit,
    })
  }
}

/** A stream that had to keep sending went quiet for too long and was closed. */
export class StreamIdleError extends R3mesError {
  constructor(what: string, idleMs: number) {
    super('ERR_STREAM_IDLE', `${what} sent nothing for ${idleMs} ms`, { what, idleMs })
  }
}

/** Taking more memory for peers' unfinished transfers would pass a node-wide bound. */
export class InFlightBytesLimitError extends R3mesError {
  constructor(what: string, heldBytes: number, moreBytes: number, maxBytes: number) {
    super(
      'ERR_IN_FLIGHT_BYTES_LIMIT',
      `${what}: ${heldBytes} bytes held, ${moreBytes} more would pass the bound of ${maxBytes}`,
      { what, heldBytes, moreBytes, maxBytes },
    )
  }
}
