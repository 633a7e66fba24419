/**
 * Attacks on the other protocols of a 4-validator network over real libp2p: the transaction
 * gossip topic, activation streams, the block exchange and the DHT. For each, the network
 * keeps committing during and after the attack and agrees on every block, the process's live
 * memory grows by at most MAX_ATTACK_MEMORY_GROWTH_BYTES, and the attacker is scored down
 * (gossip: its score on the victims below zero) or cut off (its streams closed or reset).
 */
import assert from 'node:assert/strict'
import type { Stream } from '@libp2p/interface'
import * as varint from 'uint8-varint'
import { cidOf } from '../../src/codec/cid.ts'
import { blockProtocol } from '../../src/net/block-exchange.ts'
import { encodeMessage } from '../../src/net/codec.ts'
import { deadlineSignal } from '../../src/runtime/clock.ts'
import { R3mesError } from '../../src/runtime/errors.ts'
import { at, CHAIN_ID, clock, waitFor } from '../net/helpers.ts'
import { breathe, underAttack } from './attack.ts'
import { withAttackedNetwork } from './attacked-network.ts'
import { ByzantinePeer, cutOff } from './byzantine-peer.ts'

describe('adversarial: gossip, activation streams, block exchange, DHT', function () {
  this.timeout(240_000)
  const fixture = withAttackedNetwork({ attackerSeed: 777 })
  const { victim } = fixture

  it('a flood of undecodable transactions on the tx topic: rejected, the attacker scored below zero', async () => {
    await waitFor(
      () => fixture.network.nets.every((n) => n.gossip.meshPeers('tx').length > 0),
      20_000,
      'tx meshes to form',
    )
    let published = 0
    await underAttack(fixture.network, 'tx topic flood', async (running) => {
      while (running()) {
        for (let i = 0; i < 50; i++) {
          await fixture.attacker.node.gossip.publish('tx', { tx: fixture.attacker.junk(150) })
          published++
        }
        await breathe(20)
      }
    })
    assert.ok(published > 100)
    await waitFor(
      () => fixture.network.nets.every((n) => n.gossip.score(fixture.attacker.id) < 0),
      10_000,
      `every victim to score the attacker below zero (scores ${fixture.network.nets.map((n) => n.gossip.score(fixture.attacker.id))})`,
    )
    assert.ok(victim().gossip.stats.reject > 0)
  })

  it('activation streams announcing the largest tensor and sending nothing: memory stays bounded', async () => {
    const protocol = victim().activations.protocol
    const maxTensor = victim().activations.maxTensorBytes
    const streams: Stream[] = []
    try {
      await underAttack(fixture.network, 'activation headers announcing the largest tensor', async (running) => {
        const cid = cidOf(fixture.attacker.junk(32)).toString()
        const head = encodeMessage(
          { v: 1, direction: 'forward', window: 0, step: 0, sizeBytes: maxTensor, cid },
          1024,
          'tensor header',
        )
        while (running()) {
          // As many streams as the victim lets one connection have (the surplus is reset), each
          // holding a header that announces the largest tensor, then one byte of a frame length.
          const stream = await fixture.attacker.open(victim(), protocol).catch(() => undefined)
          if (stream !== undefined) {
            streams.push(stream)
            await fixture.attacker.write(stream, varint.encode(head.byteLength))
            await fixture.attacker.write(stream, head)
            await fixture.attacker.write(stream, Uint8Array.of(0x80))
          }
          await breathe(200)
        }
      })
    } finally {
      for (const s of streams) s.abort(new Error('attack over'))
    }
  })

  it('activation streams with malformed headers, oversized frames and truncated tensors: refused and cut', async () => {
    const protocol = victim().activations.protocol
    const rejectedBefore = [...victim().activations.rejected.values()].reduce((a, b) => a + b, 0)
    const goodHeader = (sizeBytes: number, cid: string): Uint8Array => {
      const head = encodeMessage({ v: 1, direction: 'forward', window: 0, step: 0, sizeBytes, cid }, 1024, 'h')
      return ByzantinePeer.lengthPrefixed(head.byteLength, head)
    }
    const tensor = fixture.attacker.junk(4096)
    const cases: { what: string; bytes: Uint8Array; end: boolean }[] = [
      { what: 'junk header', bytes: ByzantinePeer.lengthPrefixed(40, fixture.attacker.junk(40)), end: false },
      {
        what: 'header over its cap',
        bytes: ByzantinePeer.lengthPrefixed(1 << 20, fixture.attacker.junk(2048)),
        end: false,
      },
      {
        what: 'tensor over the cap',
        bytes: goodHeader(victim().activations.maxTensorBytes + 1, cidOf(tensor).toString()),
        end: false,
      },
      {
        what: 'frame over the frame cap',
        bytes: new Uint8Array([
          ...goodHeader(tensor.byteLength, cidOf(tensor).toString()),
          ...varint.encode(64 * 1024 * 1024),
          ...fixture.attacker.junk(1024),
        ]),
        end: false,
      },
      {
        what: 'more bytes than announced',
        bytes: new Uint8Array([
          ...goodHeader(16, cidOf(tensor).toString()),
          ...ByzantinePeer.lengthPrefixed(tensor.byteLength, tensor),
        ]),
        end: false,
      },
      {
        what: 'bytes that do not hash to the CID',
        bytes: new Uint8Array([
          ...goodHeader(tensor.byteLength, cidOf(fixture.attacker.junk(8)).toString()),
          ...ByzantinePeer.lengthPrefixed(tensor.byteLength, tensor),
        ]),
        end: false,
      },
      {
        what: 'truncated tensor',
        bytes: new Uint8Array([
          ...goodHeader(tensor.byteLength, cidOf(tensor).toString()),
          ...ByzantinePeer.lengthPrefixed(tensor.byteLength, tensor.subarray(0, 100)),
        ]),
        end: true,
      },
    ]
    let refused = 0
    await underAttack(fixture.network, 'malformed activation streams', async (running) => {
      for (let i = 0; running(); i++) {
        const c = at(cases, i)
        const stream = await fixture.attacker.open(victim(), protocol)
        await fixture.attacker.write(stream, c.bytes, 256, 1)
        if (c.end) await stream.close().catch(() => {})
        await cutOff(stream, 10_000).catch((error: unknown) => {
          throw new Error(`${c.what}: ${(error as Error).message}`)
        })
        refused++
      }
    })
    const rejected = [...victim().activations.rejected.values()].reduce((a, b) => a + b, 0)
    assert.ok(
      rejected - rejectedBefore >= Math.min(refused, cases.length),
      `${rejected - rejectedBefore} refusals counted`,
    )
  })

  it('block requests that are junk, oversized, one byte at a time or in a flood: cut, the network commits', async () => {
    const protocol = blockProtocol(CHAIN_ID)
    await underAttack(fixture.network, 'block exchange abuse', async (running) => {
      for (let i = 0; running(); i++) {
        const cases: Uint8Array[] = [
          ByzantinePeer.lengthPrefixed(36, fixture.attacker.junk(36)),
          ByzantinePeer.lengthPrefixed(1 << 30, fixture.attacker.junk(512)),
          new Uint8Array(12).fill(0xff),
        ]
        const bytes = at(cases, i)
        const stream = await fixture.attacker.open(victim(), protocol)
        await fixture.attacker.write(stream, bytes, i % 2 === 0 ? bytes.byteLength : 1, i % 2 === 0 ? 0 : 1)
        await cutOff(stream, 10_000)
        // And a burst of well-formed requests for blocks nobody holds.
        const flood = await Promise.all(
          Array.from({ length: 16 }, async () => {
            const s = await fixture.attacker.open(victim(), protocol).catch(() => undefined)
            if (s === undefined) return undefined
            const cid = cidOf(fixture.attacker.junk(32))
            await fixture.attacker.write(s, ByzantinePeer.lengthPrefixed(cid.bytes.byteLength, cid.bytes))
            return s
          }),
        )
        for (const s of flood) if (s !== undefined) await cutOff(s, 10_000).catch(() => s.abort(new Error('done')))
        await breathe(20)
      }
    })
  })

  it('a block server that answers with junk, oversized, corrupt or endless frames: each fetch fails, memory bounded', async () => {
    const protocol = blockProtocol(CHAIN_ID)
    // The attacker stops serving honestly and answers every request with one of these.
    await fixture.attacker.node.exchange.stop()
    const lp = ByzantinePeer.lengthPrefixed
    const answers: { what: string; typed: boolean; answer: (stream: Stream) => Promise<void> }[] = [
      { what: 'a malformed status', typed: true, answer: async (s) => void s.send(lp(1, Uint8Array.of(7))) },
      {
        what: 'a block frame of 1 GiB',
        typed: true,
        answer: async (s) => {
          s.send(lp(1, Uint8Array.of(0)))
          s.send(lp(1 << 30, fixture.attacker.junk(64 * 1024)))
        },
      },
      {
        what: 'a block that does not hash to its CID',
        typed: true,
        answer: async (s) => {
          s.send(lp(1, Uint8Array.of(0)))
          s.send(lp(256 * 1024, fixture.attacker.junk(256 * 1024)))
        },
      },
      {
        what: 'a block one byte at a time, forever',
        typed: false,
        answer: async (s) => {
          s.send(lp(1, Uint8Array.of(0)))
          await fixture.attacker.write(s, lp(4 * 1024 * 1024, fixture.attacker.junk(64 * 1024)), 1, 10)
        },
      },
    ]
    let k = 0
    await fixture.attacker.node.libp2p.handle(protocol, (stream) => {
      at(answers, k++)
        .answer(stream)
        .catch(() => stream.abort(new Error('attacker done')))
    })
    const failures: string[] = []
    await underAttack(fixture.network, 'hostile block server', async (running) => {
      for (let i = 0; running(); i++) {
        const c = at(answers, i)
        const started = clock.monotonicMs()
        const error = await victim()
          .exchange.fetch(
            fixture.attacker.peerId,
            cidOf(fixture.attacker.junk(64)),
            deadlineSignal(clock, 3_000, 'the attack'),
          )
          .then(
            () => undefined,
            (e: unknown) => e,
          )
        if (error === undefined) failures.push(`${c.what}: the fetch succeeded`)
        else if (c.typed && !(error instanceof R3mesError))
          failures.push(`${c.what}: untyped ${(error as Error).name}: ${(error as Error).message}`)
        if (clock.monotonicMs() - started > 5_000) failures.push(`${c.what}: took ${clock.monotonicMs() - started} ms`)
      }
    })
    assert.deepEqual([...new Set(failures)], [], 'every hostile answer ends the fetch with a typed error in time')
  })

  it('junk, oversized and slow DHT messages and a flood of queries: cut, the network commits', async () => {
    await underAttack(fixture.network, 'DHT abuse', async (running) => {
      const dht = fixture.attacker.node.libp2p.services.dht
      for (let i = 0; running(); i++) {
        const cases: Uint8Array[] = [
          ByzantinePeer.lengthPrefixed(200, fixture.attacker.junk(200)),
          ByzantinePeer.lengthPrefixed(1 << 30, fixture.attacker.junk(1024)),
          new Uint8Array(12).fill(0xff),
        ]
        const stream = await fixture.attacker.openDht(victim())
        await fixture.attacker.write(stream, at(cases, i), i % 2 === 0 ? 4096 : 1, i % 2 === 0 ? 0 : 1)
        await cutOff(stream, 10_000)
        // Junk records and random lookups through the attacker's own DHT client.
        const key = fixture.attacker.junk(32)
        const queries = [
          (async () => {
            for await (const _ of dht.put(new TextEncoder().encode(`/junk/${i}`), fixture.attacker.junk(1024), {
              signal: deadlineSignal(clock, 2_000, 'the attack'),
            }));
          })(),
          (async () => {
            for await (const _ of dht.getClosestPeers(key, { signal: deadlineSignal(clock, 2_000, 'the attack') }));
          })(),
        ]
        await Promise.allSettled(queries)
        await breathe(20)
      }
    })
  })
})
