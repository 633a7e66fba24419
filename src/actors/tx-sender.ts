/**
 * A node's outgoing transactions, one at a time: the next is signed with the account's next
 * nonce only when the previous one is in a block (accepted or rejected), so nonces never
 * race or leave gaps. A transaction not in a block after `resendAfterBlocks` is sent again
 * (gossip may have lost it); one still not in after `giveUpAfterBlocks` is dropped and the
 * nonce taken again from the chain. Each caller learns its transaction's result code.
 */
import { TxCode } from '../chain/errors.ts'
import type { KeyPair } from '../chain/keys.ts'
import { encodeTx, type Msg } from '../chain/tx.ts'
import type { Logger } from '../runtime/logger.ts'
import { type ChainNode, type ExecutedBlock, txIdOf } from './chain-node.ts'

export interface TxResultInfo {
  readonly code: string
  readonly log: string
  readonly height: number
}

interface Pending {
  readonly msg: Msg
  readonly resolve: (r: TxResultInfo) => void
}

interface InFlight extends Pending {
  readonly id: string
  readonly bytes: Uint8Array
  readonly sentAt: number
  resentAt: number
}

export interface TxSenderInit {
  readonly chain: Pick<ChainNode, 'reader' | 'height' | 'checkTx' | 'submit' | 'onBlock'>
  readonly key: KeyPair
  readonly logger: Logger
  /** @default 4 */
  readonly resendAfterBlocks?: number
  /** @default 20 */
  readonly giveUpAfterBlocks?: number
}

export class TxSender {
  readonly #chain: TxSenderInit['chain']
  readonly #key: KeyPair
  readonly #log: Logger
  readonly #queue: Pending[] = []
  readonly #resendAfter: number
  readonly #giveUpAfter: number
  #inFlight: InFlight | undefined
  #stop: () => void

  constructor(init: TxSenderInit) {
    this.#chain = init.chain
    this.#key = init.key
    this.#log = init.logger
    this.#resendAfter = init.resendAfterBlocks ?? 4
    this.#giveUpAfter = init.giveUpAfterBlocks ?? 20
    this.#stop = init.chain.onBlock((b) => this.#onBlock(b))
  }

  /** Queue `msg`; resolves with its result once it is in a block (or dropped: code 'DROPPED'). */
  send(msg: Msg): Promise<TxResultInfo> {
    return new Promise((resolve) => {
      this.#queue.push({ msg, resolve })
      if (this.#inFlight === undefined) this.#next()
    })
  }

  get pending(): number {
    return this.#queue.length + (this.#inFlight === undefined ? 0 : 1)
  }

  close(): void {
    this.#stop()
    const dropped = { code: 'DROPPED', log: 'the node stopped', height: this.#chain.height }
    this.#inFlight?.resolve(dropped)
    for (const p of this.#queue.splice(0)) p.resolve(dropped)
    this.#inFlight = undefined
  }

  #next(): void {
    const p = this.#queue.shift()
    if (p === undefined) return
    const reader = this.#chain.reader
    const bytes = encodeTx(
      {
        chainId: reader.chainId,
        nonce: reader.account(this.#key.address).nonce,
        fee: reader.params.minFee,
        msg: p.msg,
      },
      this.#key,
    )
    const height = this.#chain.height
    // What this node's copy of the chain refuses, the validators would too: answer at once
    // rather than hold the queue until the transaction is given up on.
    const check = this.#chain.checkTx(bytes)
    if (!check.ok) {
      this.#log.info({ code: check.code, type: p.msg.type }, 'transaction refused before sending')
      p.resolve({ code: check.code, log: check.log, height })
      queueMicrotask(() => {
        if (this.#inFlight === undefined) this.#next()
      })
      return
    }
    this.#inFlight = { ...p, id: txIdOf(bytes), bytes, sentAt: height, resentAt: height }
    void this.#chain.submit(bytes)
  }

  #onBlock(b: ExecutedBlock): void {
    const f = this.#inFlight
    if (f === undefined) return
    const at = b.txIds.indexOf(f.id)
    const height = b.block.height
    if (at >= 0) {
      const r = b.outcome.results[at] ?? { code: TxCode.ok, log: '' }
      if (r.code !== TxCode.ok) this.#log.info({ code: r.code, log: r.log, type: f.msg.type }, 'transaction rejected')
      this.#inFlight = undefined
      f.resolve({ code: r.code, log: r.log, height })
      // Let the block finish before signing the next (its nonce comes from the new state).
      queueMicrotask(() => {
        if (this.#inFlight === undefined) this.#next()
      })
      return
    }
    if (height - f.sentAt >= this.#giveUpAfter) {
      this.#log.warn({ type: f.msg.type }, 'transaction never made it into a block; dropped')
      this.#inFlight = undefined
      f.resolve({ code: 'DROPPED', log: `not in a block after ${this.#giveUpAfter} blocks`, height })
      queueMicrotask(() => {
        if (this.#inFlight === undefined) this.#next()
      })
    } else if (height - f.resentAt >= this.#resendAfter) {
      f.resentAt = height
      const check = this.#chain.checkTx(f.bytes)
      if (check.ok) {
        void this.#chain.submit(f.bytes)
        return
      }
      // No longer valid (its window closed, say): give it up now.
      this.#inFlight = undefined
      f.resolve({ code: check.code, log: check.log, height })
      queueMicrotask(() => {
        if (this.#inFlight === undefined) this.#next()
      })
    }
  }
}
