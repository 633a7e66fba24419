/**
 * The simulated network on its own: what one seed decides about each copy (latency, loss,
 * duplication), partitions, a down receiver and the sender's upload queue, with real encoded
 * consensus messages and a real SimulatedClock; the receivers record what arrives.
 */
import assert from 'node:assert/strict'
import type { ConsensusMessage } from '../../src/consensus/messages.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { CALM_NETWORK, type NetworkProfile, SimNetwork } from '../../src/sim/network.ts'

interface Arrival {
  readonly to: number
  readonly from: string
  readonly atMs: number
  readonly height: number
}

function network(nodes: number, profile: Partial<NetworkProfile>, seed = 1, seenCacheSize?: number) {
  const clock = new SimulatedClock()
  const net = new SimNetwork(
    {
      nodes,
      profile: { ...CALM_NETWORK, ...profile },
      random: new SeededRandom(seed),
      ...(seenCacheSize === undefined ? {} : { seenCacheSize }),
    },
    { clock },
  )
  const arrivals: Arrival[] = []
  for (let i = 0; i < nodes; i++)
    net.attach(i, (m, from) => {
      assert.equal(m.kind, 'status')
      arrivals.push({
        to: i,
        from,
        atMs: clock.monotonicMs(),
        height: (m as Extract<ConsensusMessage, { kind: 'status' }>).height,
      })
    })
  return { clock, net, arrivals }
}

describe('sim: the simulated network', () => {
  it('delivers a broadcast to every other node, decoded, after the latency floor', () => {
    const { clock, net, arrivals } = network(4, { baseLatencyMs: 30, jitterMs: 0, uploadBytesPerS: 0 })
    net.transportFor(2).broadcast({ kind: 'status', height: 7 })
    clock.advance(29)
    assert.equal(arrivals.length, 0)
    clock.advance(1)
    assert.deepEqual(arrivals.map((a) => [a.to, a.from, a.height]).sort(), [
      [0, 'v2', 7],
      [1, 'v2', 7],
      [3, 'v2', 7],
    ])
    assert.equal(net.sent.messages, 3)
    assert.equal(net.sent.byKind.get('status'), 3)
  })

  it('loses, duplicates and reorders as the seed says, the same way for the same seed', () => {
    const run = (seed: number) => {
      const { clock, net, arrivals } = network(2, { jitterMs: 50, loss: 0.2, duplicate: 0.2 }, seed)
      const t = net.transportFor(0)
      for (let h = 1; h <= 200; h++) t.send('v1', { kind: 'status', height: h })
      clock.advance(10_000)
      return { heights: arrivals.map((a) => a.height), dropped: net.dropped, duplicates: net.duplicates }
    }
    const a = run(5)
    assert.deepEqual(run(5), a)
    assert.notDeepEqual(run(6).heights, a.heights)
    assert.ok(a.dropped > 10 && a.dropped < 90, `dropped ${a.dropped} of 200`)
    assert.ok(a.duplicates > 10 && a.duplicates < 80, `duplicated ${a.duplicates} of 200`)
    // Every surviving message arrives once: its duplicate is dropped as seen, undecoded.
    assert.equal(new Set(a.heights).size, a.heights.length)
    assert.equal(a.heights.length + a.dropped, 200)
    const sorted = [...a.heights].sort((x, y) => x - y)
    assert.notDeepEqual(a.heights, sorted, 'jitter reorders')
  })

  it('drops a duplicated copy before decoding it, as the flood channel’s seen cache does', () => {
    const { clock, net, arrivals } = network(3, { jitterMs: 20, duplicate: 1 })
    net.transportFor(0).broadcast({ kind: 'status', height: 4 })
    clock.advance(1000)
    assert.deepEqual(arrivals.map((a) => a.to).sort(), [1, 2])
    assert.equal(net.duplicates, 2)
    assert.equal(net.delivered, 2)
    // A duplicate of bytes that do not decode costs no decode either.
    net.send(0, 1, new Uint8Array([0xc1]), 'junk')
    clock.advance(1000)
    assert.equal(net.undecodable, 1)
    assert.equal(net.duplicates, 3)
  })

  it('delivers the same body published again: each publish is a new message (the author numbers them)', () => {
    const { clock, net, arrivals } = network(2, { jitterMs: 0 })
    const t = net.transportFor(0)
    t.broadcast({ kind: 'status', height: 9 })
    t.broadcast({ kind: 'status', height: 9 })
    t.send('v1', { kind: 'status', height: 9 })
    clock.advance(100)
    assert.deepEqual(
      arrivals.map((a) => a.height),
      [9, 9, 9],
    )
    assert.equal(net.duplicates, 0)
  })

  it('remembers a bounded number of message ids, oldest forgotten first, and none across a restart', () => {
    const { clock, net, arrivals } = network(2, { jitterMs: 0 }, 1, 2)
    const status = (height: number) => new Uint8Array([0x92, 0xa6, ...new TextEncoder().encode('status'), height])
    net.send(0, 1, status(1), 'status', 1_000)
    net.send(0, 1, status(1), 'status', 1_000)
    clock.advance(100)
    assert.equal(arrivals.length, 1)
    // Two newer messages push id 1000 out of a cache of two: its late copy is taken again.
    net.send(0, 1, status(2), 'status', 1_001)
    net.send(0, 1, status(3), 'status', 1_002)
    net.send(0, 1, status(1), 'status', 1_000)
    clock.advance(100)
    assert.deepEqual(
      arrivals.map((a) => a.height),
      [1, 2, 3, 1],
    )
    // A node that went down forgets what it had seen.
    const receiver = (_m: unknown, _from: string) => {}
    net.attach(1, undefined)
    net.attach(1, receiver)
    net.send(0, 1, status(3), 'status', 1_002)
    clock.advance(100)
    assert.equal(net.delivered, 5)
  })

  it('cuts messages across a partition while it lasts, and drops those to a node that is down', () => {
    const { clock, net, arrivals } = network(3, { jitterMs: 0 })
    net.cut({ fromMs: 0, untilMs: 1000, groupOf: [0, 0, 1] })
    net.transportFor(0).broadcast({ kind: 'status', height: 1 })
    clock.advance(100)
    assert.deepEqual(
      arrivals.map((a) => a.to),
      [1],
    )
    clock.advance(1000)
    net.attach(1, undefined)
    net.transportFor(0).broadcast({ kind: 'status', height: 2 })
    clock.advance(100)
    assert.deepEqual(
      arrivals.filter((a) => a.height === 2).map((a) => a.to),
      [2],
    )
    assert.equal(net.dropped, 2)
  })

  it('queues a broadcast on the sender’s upload: each copy leaves after the ones before it', () => {
    // 1000 bytes per second: a ~5-byte status takes ~5 ms on the link, so copies leave 5 ms apart.
    const { clock, net, arrivals } = network(4, { jitterMs: 0, baseLatencyMs: 10, uploadBytesPerS: 1000 })
    net.transportFor(0).broadcast({ kind: 'status', height: 3 })
    clock.advance(1000)
    const times = arrivals.map((a) => a.atMs)
    assert.equal(times.length, 3)
    assert.ok((times[0] as number) < (times[1] as number) && (times[1] as number) < (times[2] as number), `${times}`)
  })

  it('counts bytes that do not decode and delivers nothing for them', () => {
    const { clock, net, arrivals } = network(2, { jitterMs: 0 })
    net.send(0, 1, new Uint8Array([0xc1, 0x00]), 'junk')
    clock.advance(100)
    assert.equal(arrivals.length, 0)
    assert.equal(net.undecodable, 1)
  })
})
