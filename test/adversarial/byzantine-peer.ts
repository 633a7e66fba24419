/**
 * A Byzantine peer: a real libp2p node (the node factory of src/net/node.ts, so it speaks
 * TCP + noise + yamux, identify, kad-dht and gossipsub like any peer) that opens raw streams on
 * the network's protocols and writes bytes the honest encoders never would: malformed,
 * oversized, truncated, one byte at a time, replayed, far-future and far-past heights and
 * rounds, forged authors, floods. Message bodies are the real consensus encoding where the
 * attack needs them to get past decoding (a signed vote at round 10^6 must reach the rules).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeerId, Stream } from '@libp2p/interface'
import * as varint from 'uint8-varint'
import { type ConsensusMessage, encodeMessage } from '../../src/consensus/messages.ts'
import { proposalSignBytes, voteSignBytes } from '../../src/consensus/signing.ts'
import type { Proposal, UnsignedProposal, UnsignedVote, Vote } from '../../src/consensus/types.ts'
import { encodeMessageFrame } from '../../src/net/flood-channel.ts'
import { consensusProtocol, createNetNode, dhtProtocol, type NetNode } from '../../src/net/node.ts'
import { deadlineSignal, sleep } from '../../src/runtime/clock.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { CHAIN_ID, clock, components, connect } from '../net/helpers.ts'

export class ByzantinePeer {
  readonly node: NetNode
  readonly #home: string
  readonly #random: SeededRandom
  /** Streams this peer opened and may still hold: each takes one of the victim's per-connection slots. */
  readonly #streams = new Set<Stream>()
  #seq = 1

  private constructor(node: NetNode, home: string, seed: number) {
    this.node = node
    this.#home = home
    this.#random = new SeededRandom(seed)
  }

  static async start(seed = 666): Promise<ByzantinePeer> {
    const home = await mkdtemp(join(tmpdir(), 'r3mes-byzantine-'))
    const node = await createNetNode(
      { chainId: CHAIN_ID, homeDir: home, lan: true, gossip: { heartbeatMs: 100, meshDegree: 4 } },
      components('byzantine', seed),
    )
    return new ByzantinePeer(node, home, seed)
  }

  get peerId(): PeerId {
    return this.node.peerId
  }

  get id(): string {
    return this.node.peerId.toString()
  }

  async connect(victim: NetNode): Promise<void> {
    await connect(this.node, victim)
  }

  /** A fresh stream to `victim` on `protocol`, written to by hand. */
  async open(victim: NetNode, protocol: string): Promise<Stream> {
    const stream = await this.node.libp2p.dialProtocol(victim.peerId, protocol, {
      signal: deadlineSignal(clock, 10_000, 'the attack'),
    })
    this.#streams.add(stream)
    stream.addEventListener('close', () => this.#streams.delete(stream))
    return stream
  }

  /** Drop every stream this peer opened (between attacks, so one attack's streams do not block the next). */
  abortStreams(): void {
    for (const stream of this.#streams) stream.abort(new Error('attack over'))
    this.#streams.clear()
  }

  async openConsensus(victim: NetNode): Promise<Stream> {
    return this.open(victim, consensusProtocol(CHAIN_ID))
  }

  async openDht(victim: NetNode): Promise<Stream> {
    return this.open(victim, dhtProtocol(CHAIN_ID))
  }

  junk(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.#random.nextU32() & 0xff
    return out
  }

  /** A consensus-channel message frame (length prefix included) with any author and addressee. */
  messageFrame(body: Uint8Array, author = this.id, to = ''): Uint8Array {
    return encodeMessageFrame(this.#seq++, author, to, body).wire
  }

  consensusFrame(message: ConsensusMessage, author = this.id, to = ''): Uint8Array {
    return this.messageFrame(encodeMessage(message), author, to)
  }

  /** A vote signed by `signer` (a stolen or Byzantine validator key) for anything at all. */
  signedVote(chainId: string, signer: { sign(m: Uint8Array): Uint8Array }, v: UnsignedVote): Vote {
    return { ...v, signature: signer.sign(voteSignBytes(chainId, v)) }
  }

  /** A proposal signed by `signer`, whether or not it is the proposer of that height and round. */
  signedProposal(chainId: string, signer: { sign(m: Uint8Array): Uint8Array }, p: UnsignedProposal): Proposal {
    return { ...p, signature: signer.sign(proposalSignBytes(chainId, p)) }
  }

  /** Write `bytes` as one chunk, or `chunkBytes` at a time with `gapMs` between chunks. */
  async write(stream: Stream, bytes: Uint8Array, chunkBytes = bytes.byteLength, gapMs = 0): Promise<void> {
    for (let o = 0; o < bytes.byteLength; o += chunkBytes) {
      if (stream.status !== 'open' || stream.writeStatus !== 'writable') return
      const more = stream.send(bytes.subarray(o, o + chunkBytes))
      if (!more) await waitDrain(stream)
      if (gapMs > 0) await sleep(clock, gapMs)
    }
  }

  /** A length prefix announcing `length` bytes, then whatever follows. */
  static lengthPrefixed(length: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
    const prefix = varint.encode(length)
    const out = new Uint8Array(prefix.byteLength + body.byteLength)
    out.set(prefix)
    out.set(body, prefix.byteLength)
    return out
  }

  async stop(): Promise<void> {
    await this.node.stop().catch(() => {})
    await rm(this.#home, { recursive: true, force: true })
  }
}

async function waitDrain(stream: Stream): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = (): void => {
      stream.removeEventListener('drain', done)
      stream.removeEventListener('close', done)
      resolve()
    }
    stream.addEventListener('drain', done)
    stream.addEventListener('close', done)
  })
}

/** True once `stream` is closed or reset (by either end), or its connection is gone. */
export function isCut(stream: Stream): boolean {
  return stream.status !== 'open' || stream.readStatus !== 'readable' || stream.remoteWriteStatus !== 'writable'
}

/** Resolves when the victim has cut `stream` (closed it, reset it, or dropped the connection); then drops our end. */
export async function cutOff(stream: Stream, timeoutMs: number): Promise<void> {
  const start = clock.monotonicMs()
  // Keep reading so a close from the far end is noticed; what the victim says is not needed.
  stream.addEventListener('message', () => {})
  while (!isCut(stream)) {
    if (clock.monotonicMs() - start > timeoutMs) throw new Error(`the victim kept the stream open ${timeoutMs} ms`)
    await sleep(clock, 20)
  }
  // Free the slot it holds on the victim's connection, as a peer would that gives up.
  if (stream.status === 'open') stream.abort(new Error('cut off by the victim'))
}
