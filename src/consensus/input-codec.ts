/** Consensus inputs as bytes, for the write-ahead log. */
import { VRF_PROOF_SIZE_BYTES } from './beacon.ts'
import { encode } from './codec.ts'
import type { ConsensusInput, TimeoutKind } from './core-types.ts'
import { InvalidConsensusDataError } from './errors.ts'
import {
  blockFromArray,
  blockToArray,
  commitFromArray,
  commitToArray,
  evidenceFromArray,
  evidenceToArray,
  proposalFromArray,
  proposalToArray,
  safeDecode,
  voteFromArray,
  voteToArray,
} from './wire.ts'

export function encodeInput(input: ConsensusInput): Uint8Array {
  switch (input.type) {
    case 'start':
    case 'resume':
      return encode([input.type])
    case 'proposal':
      return encode(
        input.receivedMs === undefined
          ? [input.type, proposalToArray(input.proposal), blockToArray(input.block)]
          : [input.type, proposalToArray(input.proposal), blockToArray(input.block), input.receivedMs],
      )
    case 'vote':
      return encode([input.type, voteToArray(input.vote)])
    case 'timeout':
      return encode([input.type, input.kind, input.height, input.round])
    case 'proposalContent':
      return encode([
        input.type,
        input.height,
        input.round,
        input.timeMs,
        input.txs,
        input.evidence.map(evidenceToArray),
        input.vrfProof,
      ])
    case 'decided':
      return encode([input.type, blockToArray(input.block), commitToArray(input.commit)])
    case 'blockApplied':
      return encode([
        input.type,
        input.height,
        input.appHash,
        input.validatorUpdates.map((u) => [u.publicKey, u.power]),
      ])
  }
}

const TIMEOUT_KINDS: readonly string[] = ['propose', 'prevote', 'precommit', 'commit']

export function decodeInput(bytes: Uint8Array): ConsensusInput {
  const a = safeDecode(bytes, 'consensus input')
  const bad = (): never => {
    throw new InvalidConsensusDataError('malformed consensus input')
  }
  if (!Array.isArray(a) || typeof a[0] !== 'string') return bad()
  // Heights start at 1, rounds, times and powers at 0: a record outside that is damage.
  const num = (x: unknown, min = 0): number =>
    typeof x === 'number' && Number.isSafeInteger(x) && x >= min ? x : bad()
  switch (a[0]) {
    case 'start':
    case 'resume':
      return { type: a[0] }
    case 'proposal': {
      const proposal = proposalFromArray(a[1])
      const block = blockFromArray(a[2])
      // Records written before arrival times were logged have three fields.
      return a.length > 3
        ? { type: 'proposal', proposal, block, receivedMs: num(a[3]) }
        : { type: 'proposal', proposal, block }
    }
    case 'vote':
      return { type: 'vote', vote: voteFromArray(a[1]) }
    case 'timeout':
      if (!TIMEOUT_KINDS.includes(a[1])) bad()
      return { type: 'timeout', kind: a[1] as TimeoutKind, height: num(a[2], 1), round: num(a[3]) }
    case 'proposalContent':
      if (!Array.isArray(a[4]) || !Array.isArray(a[5])) bad()
      return {
        type: 'proposalContent',
        height: num(a[1], 1),
        round: num(a[2]),
        timeMs: num(a[3]),
        txs: (a[4] as unknown[]).map((t) => (t instanceof Uint8Array ? new Uint8Array(t) : bad())),
        evidence: (a[5] as unknown[]).map(evidenceFromArray),
        vrfProof: a[6] instanceof Uint8Array && a[6].byteLength === VRF_PROOF_SIZE_BYTES ? new Uint8Array(a[6]) : bad(),
      }
    case 'decided':
      return { type: 'decided', block: blockFromArray(a[1]), commit: commitFromArray(a[2]) }
    case 'blockApplied':
      if (!(a[2] instanceof Uint8Array) || a[2].byteLength !== 32 || !Array.isArray(a[3])) bad()
      return {
        type: 'blockApplied',
        height: num(a[1], 1),
        appHash: new Uint8Array(a[2] as Uint8Array),
        validatorUpdates: (a[3] as unknown[]).map((u) =>
          Array.isArray(u) && u[0] instanceof Uint8Array && u[0].byteLength === 32
            ? { publicKey: new Uint8Array(u[0]), power: num(u[1]) }
            : bad(),
        ),
      }
    default:
      return bad()
  }
}
