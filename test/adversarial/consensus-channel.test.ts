/**
 * Attacks on the consensus channel (`/r3mes/<chainId>/consensus/1.0.0`) of a 4-validator
 * network over real libp2p, from a Byzantine peer writing raw frames. For each attack the
 * network keeps committing while it runs and after (every node, one block and app hash per
 * height), the process's live memory grows by at most MAX_ATTACK_MEMORY_GROWTH_BYTES, and a
 * peer that sent what no honest peer sends has its stream cut.
 */
import assert from 'node:assert/strict'
import type { Stream } from '@libp2p/interface'
import { hashBlock } from '../../src/consensus/block.ts'
import { type ConsensusMessage, decodeMessage } from '../../src/consensus/messages.ts'
import type { Block } from '../../src/consensus/types.ts'
import { at, CHAIN_ID, waitFor } from '../net/helpers.ts'
import { breathe, underAttack } from './attack.ts'
import { withAttackedNetwork } from './attacked-network.ts'
import { ByzantinePeer, cutOff, isCut } from './byzantine-peer.ts'

describe('adversarial: the consensus channel', function () {
  this.timeout(240_000)
  /** Blocks proposed on the network, as the attacker saw them go by (real headers to abuse). */
  const proposed: Block[] = []
  const fixture = withAttackedNetwork({
    onAttackerStarted: (attacker) =>
      attacker.node.consensus.subscribe({
        handle(body) {
          const m = decodeMessage(body)
          if (m.kind === 'proposal') proposed.push(m.block)
        },
      }),
  })
  const { victim } = fixture

  /** Open a stream, write `bytes` as told, and expect the victim to cut it. */
  async function expectCut(bytes: Uint8Array, chunkBytes?: number, gapMs?: number): Promise<void> {
    const invalidBefore = victim().consensus.stats.invalid
    const stream = await fixture.attacker.openConsensus(victim())
    await fixture.attacker.write(stream, bytes, chunkBytes, gapMs)
    await cutOff(stream, 10_000)
    assert.ok(victim().consensus.stats.invalid > invalidBefore, 'the victim counted the frame as invalid')
  }

  it('malformed, oversized, truncated and one-byte-at-a-time frames: the stream is cut, the network commits', async () => {
    const bad: { what: string; bytes: Uint8Array; chunk?: number; gapMs?: number }[] = [
      { what: 'unknown frame kind', bytes: ByzantinePeer.lengthPrefixed(3, Uint8Array.of(0x7f, 1, 2)) },
      { what: 'message without author', bytes: ByzantinePeer.lengthPrefixed(6, Uint8Array.of(0, 0, 0, 0, 1, 0)) },
      {
        what: 'author length past the end',
        bytes: ByzantinePeer.lengthPrefixed(7, Uint8Array.of(0, 0, 0, 0, 1, 200, 65)),
      },
      {
        what: 'body that is not a consensus message',
        bytes: fixture.attacker.messageFrame(fixture.attacker.junk(300)),
      },
      { what: 'length prefix of 2^48 bytes', bytes: ByzantinePeer.lengthPrefixed(2 ** 48, fixture.attacker.junk(64)) },
      {
        what: 'varint length prefix that never ends',
        bytes: new Uint8Array(16).fill(0xff),
      },
      {
        what: 'frame over the cap, announced then streamed',
        bytes: ByzantinePeer.lengthPrefixed(64 * 1024 * 1024, fixture.attacker.junk(256 * 1024)),
        chunk: 16 * 1024,
      },
      {
        what: 'junk message one byte at a time',
        bytes: fixture.attacker.messageFrame(fixture.attacker.junk(40)),
        chunk: 1,
        gapMs: 2,
      },
      { what: 'ping frame of the wrong length', bytes: ByzantinePeer.lengthPrefixed(3, Uint8Array.of(2, 0, 0)) },
    ]
    await underAttack(fixture.network, 'malformed frames', async (running) => {
      for (let i = 0; running(); i++) {
        const b = at(bad, i)
        await expectCut(b.bytes, b.chunk, b.gapMs).catch((error: unknown) => {
          throw new Error(`${b.what}: ${(error as Error).message}`)
        })
      }
    })
  })

  it('truncated frames then a closed stream: nothing is delivered, the network commits', async () => {
    const deliveredBefore = victim().consensus.stats.delivered
    await underAttack(fixture.network, 'truncated frames', async (running) => {
      while (running()) {
        const stream = await fixture.attacker.openConsensus(victim())
        const whole = fixture.attacker.consensusFrame({ kind: 'status', height: 1 })
        await fixture.attacker.write(stream, whole.subarray(0, whole.byteLength - 1))
        await stream.close().catch(() => {})
        await breathe(20)
      }
    })
    // Honest traffic keeps being delivered meanwhile; the truncated statuses never are.
    assert.ok(victim().consensus.stats.delivered > deliveredBefore)
  })

  it('signed votes and proposals at far-future rounds and heights, and far-past heights: ignored, the network commits', async () => {
    const byzantine = at(fixture.network.signers, 3)
    const index = at(fixture.network.chains, 3).validatorIndex
    const chainId = CHAIN_ID
    const stream = await fixture.attacker.openConsensus(victim())
    await underAttack(fixture.network, 'far-future and far-past votes', async (running) => {
      for (let n = 0; running(); n++) {
        const height = Math.max(...fixture.network.heights()) + 1
        const frames: Uint8Array[] = []
        for (let k = 0; k < 50; k++) {
          const i = n * 50 + k
          const votes: ConsensusMessage[] = [
            // Far-future rounds of the current height: every one a distinct round.
            {
              kind: 'vote',
              vote: fixture.attacker.signedVote(chainId, byzantine, {
                type: i % 2 === 0 ? 'prevote' : 'precommit',
                height,
                round: 1_000 + i,
                blockHash: null,
                validatorIndex: index,
              }),
            },
            {
              kind: 'vote',
              vote: fixture.attacker.signedVote(chainId, byzantine, {
                type: 'prevote',
                height,
                round: 2 ** 31 + i,
                blockHash: fixture.attacker.junk(32),
                validatorIndex: index,
              }),
            },
            // Far-future heights.
            {
              kind: 'vote',
              vote: fixture.attacker.signedVote(chainId, byzantine, {
                type: 'precommit',
                height: height + 1 + i,
                round: 0,
                blockHash: fixture.attacker.junk(32),
                validatorIndex: index,
              }),
            },
            // Far-past heights.
            {
              kind: 'vote',
              vote: fixture.attacker.signedVote(chainId, byzantine, {
                type: 'prevote',
                height: 1,
                round: i,
                blockHash: null,
                validatorIndex: index,
              }),
            },
          ]
          const block = proposed.at(-1)
          if (block !== undefined)
            // A proposal at a far-future round, signed by the validator's own key.
            votes.push({
              kind: 'proposal',
              proposal: fixture.attacker.signedProposal(chainId, byzantine, {
                height,
                round: 1_000_000 + i,
                polRound: -1,
                blockHash: hashBlock(block),
              }),
              block,
            })
          for (const m of votes) frames.push(fixture.attacker.consensusFrame(m))
        }
        if (isCut(stream)) return
        for (const f of frames) await fixture.attacker.write(stream, f)
        await breathe(20)
      }
    })
  })

  it('status messages naming another peer as author: the victim does not answer them to that peer', async () => {
    const bystander = at(fixture.network.nets, 1)
    const bystanderChain = at(fixture.network.chains, 1)
    // Decided blocks the bystander had committed well before they came: what answers to the
    // forged statuses would be (they name every past height). Catching up when it lags a
    // moment on a busy machine brings the block it is deciding, which is not counted.
    let staleDecidedAtBystander = 0
    const spy = bystander.consensus.subscribe({
      handle(body) {
        const message = decodeMessage(body)
        if (message.kind === 'decided' && message.block.header.height < bystanderChain.height - 2)
          staleDecidedAtBystander++
      },
    })
    const streams: Stream[] = []
    for (const n of [0, 2, 3]) streams.push(await fixture.attacker.openConsensus(at(fixture.network.nets, n)))
    let sent = 0
    try {
      await underAttack(fixture.network, 'forged status authors', async (running) => {
        while (running()) {
          const top = Math.min(...fixture.network.heights())
          for (const stream of streams) {
            if (isCut(stream)) continue
            // Every past height in turn, so no per-height rate limit can absorb the flood.
            for (let h = 1; h < top; h++) {
              await fixture.attacker.write(
                stream,
                fixture.attacker.consensusFrame({ kind: 'status', height: h }, bystander.peerId.toString()),
              )
              sent++
            }
          }
          await breathe(50)
        }
      })
    } finally {
      spy()
    }
    assert.ok(sent >= 50, `the attack sent ${sent} forged statuses`)
    assert.equal(
      staleDecidedAtBystander,
      0,
      `${sent} forged statuses made the victims send ${staleDecidedAtBystander} old decided blocks to the peer they named`,
    )
  })

  it('decided messages with a real block and a junk commit: refused, the real block still commits everywhere', async () => {
    await waitFor(() => proposed.length > 0, 20_000, 'a proposal seen by the attacker')
    const streams: Stream[] = []
    for (const net of fixture.network.nets) streams.push(await fixture.attacker.openConsensus(net))
    await underAttack(fixture.network, 'junk decided', async (running) => {
      while (running()) {
        // The block being decided right now: a real header, so a node that remembered "this
        // block is invalid" from the junk commit would refuse the real one when it comes.
        const block = proposed.at(-1) as Block
        const commit = {
          height: block.header.height,
          round: 0,
          blockHash: hashBlock(block),
          signatures: [0, 1, 2].map((validatorIndex) => ({ validatorIndex, signature: fixture.attacker.junk(64) })),
        }
        const frame = fixture.attacker.consensusFrame({ kind: 'decided', block, commit })
        for (const stream of streams) if (!isCut(stream)) await fixture.attacker.write(stream, frame)
        await breathe(50)
      }
    })
  })

  it('junk evidence and floods of undecodable transactions: none enters a mempool, the network commits', async () => {
    const stream = await fixture.attacker.openConsensus(victim())
    await underAttack(fixture.network, 'junk evidence and tx floods', async (running) => {
      for (let n = 0; running() && !isCut(stream); n++) {
        const vote = (blockHash: Uint8Array | null) => ({
          type: 'prevote' as const,
          height: 1,
          round: 0,
          blockHash,
          validatorIndex: n % 4,
          signature: fixture.attacker.junk(64),
        })
        await fixture.attacker.write(
          stream,
          fixture.attacker.consensusFrame({
            kind: 'evidence',
            evidence: { voteA: vote(fixture.attacker.junk(32)), voteB: vote(null) },
          }),
        )
        const txs = Array.from({ length: 2_000 }, () => fixture.attacker.junk(100))
        await fixture.attacker.write(stream, fixture.attacker.consensusFrame({ kind: 'txs', txs }))
        await breathe(20)
      }
    })
    for (const chain of fixture.network.chains)
      for (let h = 1; h <= chain.height; h++)
        assert.equal(chain.history.get(h) === undefined, false, `height ${h} executed`)
  })

  it('replayed honest messages in a flood: dropped as duplicates, the network commits', async () => {
    const captured: Uint8Array[] = []
    const leave = fixture.attacker.node.consensus.subscribe({
      handle(body) {
        if (captured.length < 200) captured.push(body.slice())
      },
    })
    await waitFor(() => captured.length >= 20, 20_000, 'honest messages to replay')
    leave()
    // The same frames again and again: the victim's seen-cache must absorb them. (A stream
    // cut for an earlier attack's frame is opened again: replays alone are not refused.)
    const frames = captured.map((body) =>
      fixture.attacker.messageFrame(body, at(fixture.network.nets, 2).peerId.toString()),
    )
    const duplicatesBefore = victim().consensus.stats.duplicates
    let stream = await fixture.attacker.openConsensus(victim())
    await underAttack(fixture.network, 'replays', async (running) => {
      while (running()) {
        if (isCut(stream)) stream = await fixture.attacker.openConsensus(victim())
        for (const f of frames) await fixture.attacker.write(stream, f)
        await breathe(20)
      }
    })
    assert.ok(
      victim().consensus.stats.duplicates > duplicatesBefore + frames.length,
      'replays were dropped as duplicates',
    )
  })
})
