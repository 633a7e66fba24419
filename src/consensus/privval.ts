/**
 * The signer that never signs two conflicting messages, across crashes (CometBFT's
 * FilePV). It remembers the last (height, round, step) it signed with the exact bytes and
 * signature, fsynced before the signature is returned. It refuses anything lower; at the same
 * (height, round, step) it returns the stored signature for identical bytes and refuses
 * different ones. Steps: proposal 0 < prevote 1 < precommit 2.
 */

import { existsSync, readFileSync } from 'node:fs'
import { decode, encode } from './codec.ts'
import { DoubleSignRefusedError, StoreCorruptError } from './errors.ts'
import { type FaultHook, injected, noFaults } from './faults.ts'
import { writeFileDurable } from './fs-util.ts'
import { bytesEqual } from './hash.ts'
import type { Signer } from './keys.ts'
import { proposalSignBytes, voteSignBytes } from './signing.ts'
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

export class FileLastSignedStore implements LastSignedStore {
  readonly #path: string
  readonly #faults: FaultHook
  constructor(path: string, faults: FaultHook = noFaults) {
    this.#path = path
    this.#faults = faults
  }
  load(): LastSigned | undefined {
    if (!existsSync(this.#path)) return undefined
    const a = decode(readFileSync(this.#path))
    if (!Array.isArray(a) || a.length !== 5 || !(a[3] instanceof Uint8Array) || !(a[4] instanceof Uint8Array))
      throw new StoreCorruptError('last-signed state file is malformed', { path: this.#path })
    return { height: a[0], round: a[1], step: a[2], signBytes: new Uint8Array(a[3]), signature: new Uint8Array(a[4]) }
  }
  save(s: LastSigned): void {
    // A torn write cannot happen here: the file is replaced by rename, so a crash leaves the old or the new one.
    if (this.#faults('privval.save') !== 'proceed') throw injected('privval.save')
    writeFileDurable(this.#path, encode([s.height, s.round, s.step, s.signBytes, s.signature]))
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
    const signature = this.#sign(vote.height, vote.round, step, voteSignBytes(chainId, vote))
    return { ...vote, signature }
  }

  signProposal(chainId: string, proposal: UnsignedProposal): Proposal {
    const signature = this.#sign(proposal.height, proposal.round, STEP_PROPOSAL, proposalSignBytes(chainId, proposal))
    return { ...proposal, signature }
  }

  #sign(height: number, round: number, step: number, signBytes: Uint8Array): Uint8Array {
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
        if (bytesEqual(signBytes, last.signBytes)) return last.signature
        throw new DoubleSignRefusedError('conflicting data at the same height/round/step', { height, round, step })
      }
    }
    const signature = this.#signer.sign(signBytes)
    const next = { height, round, step, signBytes, signature }
    this.#store.save(next)
    this.#last = next
    return signature
  }
}
