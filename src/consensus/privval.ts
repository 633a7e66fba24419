/**
 * The signer that never signs two conflicting messages, across crashes (CometBFT's
 * FilePV). It remembers the last (height, round, step) it signed with the exact bytes and
 * signature, fsynced before the signature is returned. It refuses anything lower; at the same
 * (height, round, step) it returns the stored signature for identical bytes and refuses
 * different ones. Steps: proposal 0 < prevote 1 < precommit 2.
 */

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs'
import { crc32 } from 'node:zlib'
import { bytesEqual } from '../codec/bytes.ts'
import { assert } from '../runtime/assert.ts'
import { writeFileDurable } from '../runtime/durable-file.ts'
import { beaconAlpha } from './beacon.ts'
import { decode, encode } from './codec.ts'
import { DoubleSignRefusedError, StoreCorruptError } from './errors.ts'
import { type FaultHook, injected, noFaults } from './faults.ts'
import type { Signer } from './keys.ts'
import { proposalSignBytes, rememberOwnSigned, voteSignBytes } from './signing.ts'
import type { Proposal, UnsignedProposal, UnsignedVote, Vote } from './types.ts'

export interface LastSigned {
  readonly height: number
  readonly round: number
  readonly step: number
  readonly signBytes: Uint8Array
  readonly signature: Uint8Array
}

export interface LastSignedStore {
  load(): LastSigned | undefined
  /** Must be durable when it returns. */
  save(state: LastSigned): void
}

export class MemoryLastSignedStore implements LastSignedStore {
  #state: LastSigned | undefined
  load(): LastSigned | undefined {
    return this.#state
  }
  save(state: LastSigned): void {
    this.#state = state
  }
}

/** Bytes per slot of the last-signed file; a record is far smaller (sign bytes are ~100 bytes). */
export const LAST_SIGNED_SLOT_BYTES = 512

/**
 * The last-signed state on disk, in two alternating fixed-size slots (`u32 length | u32
 * CRC-32 | msgpack([sequence, height, round, step, signBytes, signature])`): each save
 * overwrites the older slot in place and fsyncs once, so the newer slot survives a torn
 * write, and the load takes the valid slot with the higher sequence. (One fsync per
 * signature instead of the three of write-rename-fsync-directory.)
 */
export class FileLastSignedStore implements LastSignedStore {
  readonly #path: string
  readonly #faults: FaultHook
  #sequence = 0
  constructor(path: string, faults: FaultHook = noFaults) {
    this.#path = path
    this.#faults = faults
  }

  load(): LastSigned | undefined {
    if (!existsSync(this.#path)) return undefined
    const data = new Uint8Array(readFileSync(this.#path))
    let best: (LastSigned & { sequence: number }) | undefined
    for (let slot = 0; slot < 2; slot++) {
      const record = readSlot(data.subarray(slot * LAST_SIGNED_SLOT_BYTES, (slot + 1) * LAST_SIGNED_SLOT_BYTES))
      if (record !== undefined && (best === undefined || record.sequence > best.sequence)) best = record
    }
    if (best === undefined)
      throw new StoreCorruptError('no valid slot in the last-signed state file', { path: this.#path })
    this.#sequence = best.sequence
    const { sequence: _, ...last } = best
    return last
  }

  save(s: LastSigned): void {
    const sequence = this.#sequence + 1
    const record = slotRecord(sequence, s)
    const action = this.#faults('privval.save')
    if (action === 'crash') throw injected('privval.save')
    if (!existsSync(this.#path)) {
      // Created whole (write, fsync, rename) with a valid "nothing signed" record in slot 0, so
      // that later a file without a valid slot can only mean damage, never "fresh".
      const image = new Uint8Array(2 * LAST_SIGNED_SLOT_BYTES)
      image.set(
        slotRecord(0, { height: 0, round: 0, step: 0, signBytes: new Uint8Array(), signature: new Uint8Array() }),
      )
      writeFileDurable(this.#path, image)
    }
    const fd = openSync(this.#path, 'r+')
    try {
      const at = (sequence % 2) * LAST_SIGNED_SLOT_BYTES
      if (action === 'tear') {
        writeSync(fd, record, 0, record.byteLength >> 1, at)
        throw injected('privval.save')
      }
      writeSync(fd, record, 0, record.byteLength, at)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    this.#sequence = sequence
  }
}

function slotRecord(sequence: number, s: LastSigned): Uint8Array {
  const payload = encode([sequence, s.height, s.round, s.step, s.signBytes, s.signature])
  assert(payload.byteLength + 8 <= LAST_SIGNED_SLOT_BYTES, 'last-signed record does not fit its slot')
  const record = new Uint8Array(8 + payload.byteLength)
  const view = new DataView(record.buffer)
  view.setUint32(0, payload.byteLength)
  view.setUint32(4, crc32(payload))
  record.set(payload, 8)
  return record
}

function readSlot(slot: Uint8Array): (LastSigned & { sequence: number }) | undefined {
  if (slot.byteLength < 8) return undefined
  const view = new DataView(slot.buffer, slot.byteOffset, slot.byteLength)
  const length = view.getUint32(0)
  if (length === 0 || length > slot.byteLength - 8) return undefined
  const payload = slot.subarray(8, 8 + length)
  if (crc32(payload) !== view.getUint32(4)) return undefined
  const a = decode(payload)
  if (!Array.isArray(a) || a.length !== 6 || !(a[4] instanceof Uint8Array) || !(a[5] instanceof Uint8Array))
    return undefined
  return {
    sequence: a[0],
    height: a[1],
    round: a[2],
    step: a[3],
    signBytes: new Uint8Array(a[4]),
    signature: new Uint8Array(a[5]),
  }
}

const STEP_PROPOSAL = 0

export class PrivValidator {
  readonly #signer: Signer
  readonly #store: LastSignedStore
  #last: LastSigned | undefined

  constructor(signer: Signer, store: LastSignedStore) {
    this.#signer = signer
    this.#store = store
    this.#last = store.load()
  }

  get publicKey(): Uint8Array {
    return this.#signer.publicKey
  }

  get lastSigned(): LastSigned | undefined {
    return this.#last
  }

  signVote(chainId: string, vote: UnsignedVote): Vote {
    const step = vote.type === 'prevote' ? 1 : 2
    const { signature, fresh } = this.#sign(vote.height, vote.round, step, voteSignBytes(chainId, vote))
    const signed = { ...vote, signature }
    if (fresh) rememberOwnSigned(chainId, this.#signer.publicKey, signed)
    return signed
  }

  /**
   * The VRF proof for the block after the one whose beacon is `previousBeacon`. Nothing to
   * remember: a VRF has one proof per input, so proving again can never equivocate.
   */
  proveBeacon(previousBeacon: Uint8Array): Uint8Array {
    return this.#signer.proveVrf(beaconAlpha(previousBeacon))
  }

  signProposal(chainId: string, proposal: UnsignedProposal): Proposal {
    const signBytes = proposalSignBytes(chainId, proposal)
    const { signature, fresh } = this.#sign(proposal.height, proposal.round, STEP_PROPOSAL, signBytes)
    const signed = { ...proposal, signature }
    if (fresh) rememberOwnSigned(chainId, this.#signer.publicKey, signed)
    return signed
  }

  /**
   * The signature, and whether the signer made it just now (a signature handed back from the
   * store after a restart is only as good as the store, so only a fresh one is taken as valid
   * without a check).
   */
  #sign(
    height: number,
    round: number,
    step: number,
    signBytes: Uint8Array,
  ): { readonly signature: Uint8Array; readonly fresh: boolean } {
    const last = this.#last
    if (last !== undefined) {
      const cmp = height - last.height || round - last.round || step - last.step
      if (cmp < 0)
        throw new DoubleSignRefusedError('height/round/step regression', {
          height,
          round,
          step,
          last: [last.height, last.round, last.step],
        })
      if (cmp === 0) {
        if (bytesEqual(signBytes, last.signBytes)) return { signature: last.signature, fresh: false }
        throw new DoubleSignRefusedError('conflicting data at the same height/round/step', { height, round, step })
      }
    }
    const signature = this.#signer.sign(signBytes)
    const next = { height, round, step, signBytes, signature }
    this.#store.save(next)
    this.#last = next
    return { signature, fresh: true }
  }
}
