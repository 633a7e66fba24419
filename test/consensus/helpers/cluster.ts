/**
 * A small deterministic cluster for crash and catch-up tests: n validators over a reliable
 * in-process network with short seeded delays, on one SimulatedClock. Any node can be killed
 * (its object dropped, as a process dies) and reopened from its stores.
 */

import assert from 'node:assert/strict'
import { toHex } from '../../../src/codec/bytes.ts'
import { hashBlock } from '../../../src/consensus/block.ts'
import type { ConsensusMessage, ConsensusTransport } from '../../../src/consensus/messages.ts'
import { ConsensusNode } from '../../../src/consensus/node.ts'
import type { NodeComponents } from '../../../src/consensus/node-io.ts'
import type { CommittedBlock } from '../../../src/consensus/types.ts'
import { SimulatedClock } from '../../../src/runtime/clock.ts'
import { SeededRandom } from '../../../src/runtime/random.ts'
import { makeChain, memoryComponents, type TestChain } from './fixtures.ts'

export type ComponentsFactory = (defaults: NodeComponents) => NodeComponents

export class Cluster {
  readonly chain: TestChain
  readonly clock = new SimulatedClock()
  readonly nodes: (ConsensusNode | undefined)[] = []
  /** Committed block hash per height per node index. */
  readonly commits: Map<number, string>[] = []
  /** Every message each node put on the network (to check its signatures). */
  readonly sent: ConsensusMessage[][] = []
  readonly #rng: SeededRandom
  readonly #factories: (ComponentsFactory | undefined)[] = []
  /** Links that drop everything (partitions / a node cut off). */
  readonly cut = new Set<number>()

  constructor(n: number, seed: number) {
    this.chain = makeChain(n)
    this.#rng = new SeededRandom(seed)
    for (let i = 0; i < n; i++) {
      this.commits.push(new Map())
      this.sent.push([])
      this.nodes.push(undefined)
      this.#factories.push(undefined)
    }
  }

  transportFor(me: number): ConsensusTransport {
    const deliver = (to: number, m: ConsensusMessage): void => {
      if (this.cut.has(me) || this.cut.has(to)) return
      this.clock.setTimer(1 + this.#rng.nextInt(10), () => this.nodes[to]?.receive(m, `v${me}`))
    }
    return {
      broadcast: (m) => {
        this.sent[me]?.push(m)
        for (let to = 0; to < this.nodes.length; to++) if (to !== me) deliver(to, m)
      },
      send: (peer, m) => {
        this.sent[me]?.push(m)
        deliver(Number(peer.slice(1)), m)
      },
      peers: () => this.nodes.map((_, i) => `v${i}`).filter((_, i) => i !== me),
    }
  }

  /** Start (or restart) node `i`; `factory` swaps in other components (files, faults). */
  open(i: number, factory?: ComponentsFactory): ConsensusNode {
    if (factory !== undefined) this.#factories[i] = factory
    const onCommit = (cb: CommittedBlock): void => {
      this.commits[i]?.set(cb.block.header.height, toHex(hashBlock(cb.block)))
    }
    const defaults = memoryComponents(this.chain, i, this.clock, this.transportFor(i), onCommit).components
    const f = this.#factories[i]
    const node = ConsensusNode.open(f === undefined ? defaults : f(defaults))
    this.nodes[i] = node
    const tick = (): void => {
      if (this.nodes[i] !== node || node.crashed !== undefined) return
      node.gossip()
      this.clock.setTimer(100, tick)
    }
    this.clock.setTimer(1 + this.#rng.nextInt(100), tick)
    return node
  }

  kill(i: number): void {
    this.nodes[i]?.stop()
    this.nodes[i] = undefined
  }

  height(i: number): number {
    return (this.nodes[i]?.state.tip.height ?? 1) - 1
  }

  runUntil(untilMs: number, stop: () => boolean = () => false): void {
    this.clock.runUntil(untilMs, stop)
  }

  /** Throws when two nodes committed different blocks at one height. */
  assertAgreement(): void {
    const agreed = new Map<number, string>()
    this.commits.forEach((m, i) => {
      for (const [h, hash] of m) {
        const prior = agreed.get(h)
        if (prior !== undefined && prior !== hash) throw new Error(`node ${i} committed another block at height ${h}`)
        agreed.set(h, hash)
      }
    })
  }
}

/** Throws when `sent` holds two different signed values for one (height, round, step). */
export function assertNoConflictingSignatures(sent: readonly ConsensusMessage[], validatorIndex: number): void {
  const signed = new Map<string, string>()
  for (const m of sent) {
    let slot: string
    let value: string
    if (m.kind === 'vote' && m.vote.validatorIndex === validatorIndex) {
      slot = `${m.vote.height}/${m.vote.round}/${m.vote.type}`
      value = m.vote.blockHash === null ? 'nil' : toHex(m.vote.blockHash)
    } else if (m.kind === 'proposal') {
      slot = `${m.proposal.height}/${m.proposal.round}/proposal`
      value = `${toHex(m.proposal.blockHash)}/${m.proposal.polRound}`
    } else continue
    const prior = signed.get(slot)
    assert.ok(prior === undefined || prior === value, `validator ${validatorIndex} signed two values at ${slot}`)
    signed.set(slot, value)
  }
}
