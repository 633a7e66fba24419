/**
 * A synchronous consensus node: the pure core plus `NodeIo`, one input at a time. The
 * simulator and the crash tests drive it directly; the XState actor does the same with its
 * IO in named actors. Timers go through the component clock. After any error the node is
 * dead (`crashed`), as a process would be: a test builds a new one over the same stores.
 */
import type { TimerHandle } from '../runtime/clock.ts'
import type { ConsensusInput, ConsensusState } from './core-types.ts'
import type { ConsensusMessage } from './messages.ts'
import { type BlockSource, drive, type NodeComponents, NodeIo, recoverState, type TimeoutRequest } from './node-io.ts'

export type { BlockSource }

export class ConsensusNode {
  readonly io: NodeIo
  #state: ConsensusState
  #crashed: unknown = undefined
  readonly #timers = new Set<TimerHandle>()

  private constructor(io: NodeIo, state: ConsensusState) {
    this.io = io
    this.#state = state
  }

  /** Recover from the stores and the WAL (replaying it), then start or resume consensus. */
  static open(components: NodeComponents): ConsensusNode {
    const io = new NodeIo(components)
    const { state, next } = recoverState(io)
    const node = new ConsensusNode(io, state)
    node.#guard(() => node.#submit(next))
    return node
  }

  get state(): ConsensusState {
    return this.#state
  }

  /** The error that stopped this node, if any. */
  get crashed(): unknown {
    return this.#crashed
  }

  receive(message: ConsensusMessage, from: string): void {
    if (this.#crashed !== undefined) return
    this.#guard(() => {
      const input = this.io.receive(message, from, this.#state)
      if (input !== undefined) this.#submit(input)
    })
  }

  /** One gossip tick (see `NodeIo.gossip`). */
  gossip(): void {
    if (this.#crashed !== undefined) return
    this.io.gossip(this.#state)
  }

  /** Fetch and apply decided blocks from `source` until it has no more; returns the number applied. */
  async catchUp(source: BlockSource): Promise<number> {
    let applied = 0
    for (;;) {
      if (this.#crashed !== undefined) return applied
      const height = this.#state.tip.height
      const stored = await source.getBlock(height)
      if (stored === undefined) return applied
      this.#guard(() => this.#submit({ type: 'decided', block: stored.block, commit: stored.commit }))
      if (this.#state.tip.height === height) return applied
      applied++
    }
  }

  /** Stop timers (the node is being shut down or has crashed). */
  stop(): void {
    for (const t of this.#timers) t.cancel()
    this.#timers.clear()
  }

  #guard(fn: () => void): void {
    try {
      fn()
    } catch (error) {
      this.#crashed = error
      this.stop()
    }
  }

  #submit(input: ConsensusInput): void {
    this.io.log(input)
    this.#process(input, false)
  }

  /** Step the core with `input` (already in the WAL) and carry out effects until quiet. */
  #process(first: ConsensusInput, replaying: boolean): void {
    this.#state = drive(this.io, this.#state, first, replaying, (t) => this.#arm(t))
  }

  #arm(t: TimeoutRequest): void {
    const handle = this.io.components.clock.setTimer(t.durationMs, () => {
      this.#timers.delete(handle)
      if (this.#crashed !== undefined) return
      this.#guard(() => this.#submit({ type: 'timeout', kind: t.kind, height: t.height, round: t.round }))
    })
    this.#timers.add(handle)
  }
}
