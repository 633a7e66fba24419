/**
 * The subnet directory's checks and bounds, one directory with its gossip router replaced by
 * a recorder: the test calls the validators and handlers the directory registered, as the
 * router would for a message that decoded to the topic's shape.
 */
import assert from 'node:assert/strict'
import type { PeerId } from '@libp2p/interface'
import { peerIdOfPubKey } from '../../../src/actors/identity.ts'
import { peerDirectory } from '../../../src/actors/services/peer-directory.ts'
import { SubnetDirectory, type SubnetGossip } from '../../../src/actors/subnet/subnet-directory.ts'
import { testKey } from '../../../src/chain/keys.ts'
import type { ChainReader } from '../../../src/chain/reader.ts'
import type { Staker } from '../../../src/chain/state.ts'
import { toHex } from '../../../src/codec/bytes.ts'
import { cidOf as rawCid } from '../../../src/codec/cid.ts'
import { GossipValidationError } from '../../../src/net/errors.ts'
import type { GossipContext, TopicSubscriber } from '../../../src/net/gossip.ts'
import type { HoldingsGossip, PresenceGossip, SubnetTopicKind } from '../../../src/net/topics.ts'
import { MAX_HOLDINGS_CIDS_PER_MESSAGE } from '../../../src/runtime/limits.ts'
import { createLogger } from '../../../src/runtime/logger.ts'
import { SystemClock } from '../../../src/runtime/system-clock.ts'

/** A distinct real CID per number. */
const CID = (i: number): string => rawCid(new TextEncoder().encode(`content ${i}`)).toString()

interface Member {
  readonly address: string
  readonly peer: PeerId
  readonly pubKey: string
}

const member = (label: string): Member => {
  const key = testKey(label)
  const pubKey = toHex(key.publicKey)
  // The node's libp2p identity is its own key, not the account's: the directory must go by the peer id on chain.
  return { address: key.address, peer: peerIdOfPubKey(toHex(testKey(`${label}/net`).publicKey)), pubKey }
}

/** A chain with a miner of subnet 0 and one of subnet 1, at window `window`. */
function fakeChain(stakers: Map<string, Staker>, window: { id: number }): ChainReader {
  return {
    staker: (address: string) => stakers.get(address) ?? null,
    stakers: () => [...stakers].map(([address, staker]) => ({ address, staker })),
    currentWindow: () => window,
  } as unknown as ChainReader
}

function setUp() {
  const miner0 = member('miner-0')
  const miner1 = member('miner-1')
  const seeder = member('seeder')
  const self = member('self')
  const staker = (m: Member, subnet: number): Staker => ({
    pubKey: m.pubKey,
    consensusKey: m.pubKey,
    peerId: m.peer.toString(),
    stake: 1000n,
    roles: ['miner'],
    subnet,
    jailed: false,
    wasValidator: false,
  })
  const stakers = new Map([
    [miner0.address, staker(miner0, 0)],
    [miner1.address, staker(miner1, 1)],
  ])
  const window = { id: 10 }
  const chain = fakeChain(stakers, window)
  const subscribers = new Map<string, TopicSubscriber<SubnetTopicKind>>()
  const published: { kind: string; payload: unknown; subnet?: number }[] = []
  const gossip: SubnetGossip = {
    joinSubnet: (subnet, handlers) => {
      for (const [kind, subscriber] of Object.entries(handlers))
        subscribers.set(`${kind}/${subnet}`, subscriber as TopicSubscriber<SubnetTopicKind>)
      return () => {}
    },
    publish: async (kind, payload, subnet) => {
      published.push({ kind, payload, subnet })
      return 0
    },
  }
  const directory = new SubnetDirectory(
    { subnets: [0, 1], holderBounds: { maxHints: 100, maxHintsPerPeer: 20, maxHoldersPerCid: 4 } },
    {
      gossip,
      chain,
      peers: peerDirectory({ chain }),
      self: self.peer,
      logger: createLogger({ name: 'test', level: 'silent', clock: new SystemClock() }),
    },
  )
  directory.start()
  /** Run a message through the directory as the router does; returns the verdict. */
  const deliver = async (
    kind: SubnetTopicKind,
    subnet: number,
    payload: PresenceGossip | HoldingsGossip,
    from: PeerId,
    signed = true,
  ): Promise<'accept' | 'ignore' | 'reject'> => {
    const subscriber = subscribers.get(`${kind}/${subnet}`)
    assert.ok(subscriber !== undefined, `no subscriber for ${kind}/${subnet}`)
    const context: GossipContext = {
      from: from.toString(),
      propagationSource: from.toString(),
      topic: { kind, chainId: 'c', subnet },
      signed,
    }
    try {
      await subscriber.validate?.(payload as never, context)
    } catch (error) {
      if (error instanceof GossipValidationError) return error.verdict
      throw error
    }
    subscriber.handle(payload as never, context)
    return 'accept'
  }
  return { directory, deliver, published, window, miner0, miner1, seeder }
}

const presence = (peer: PeerId, window: number, roles: PresenceGossip['roles']): PresenceGossip => ({
  peer: peer.toString(),
  window,
  roles,
  range: CID(1),
  adapter: null,
})

describe('actors/subnet: the subnet directory', () => {
  it('lists a staked miner that says it is ready, and refuses false claims', async () => {
    const { directory, deliver, miner0, miner1, seeder } = setUp()
    assert.equal(await deliver('presence', 0, presence(miner0.peer, 10, ['miner']), miner0.peer), 'accept')
    assert.deepEqual(
      directory.readyMiners(0, 10).map((m) => m.address),
      [miner0.address],
    )
    // The same presence again: a duplicate, dropped without blame.
    assert.equal(await deliver('presence', 0, presence(miner0.peer, 10, ['miner']), miner0.peer), 'ignore')
    // A miner of subnet 1 claiming subnet 0.
    assert.equal(await deliver('presence', 0, presence(miner1.peer, 10, ['miner']), miner1.peer), 'reject')
    // The miner role without a miner's stake.
    assert.equal(await deliver('presence', 0, presence(seeder.peer, 10, ['miner']), seeder.peer), 'reject')
    // A payload naming another peer than its signer.
    assert.equal(await deliver('presence', 0, presence(miner0.peer, 10, ['miner']), seeder.peer), 'reject')
    // Unsigned: no author to credit.
    assert.equal(await deliver('presence', 0, presence(seeder.peer, 10, ['subnet-peer']), seeder.peer, false), 'ignore')
    // A window far from the current one.
    assert.equal(await deliver('presence', 0, presence(seeder.peer, 20, ['subnet-peer']), seeder.peer), 'ignore')
    // An unstaked subnet peer is taken as a hint.
    assert.equal(await deliver('presence', 0, presence(seeder.peer, 10, ['subnet-peer']), seeder.peer), 'accept')
    assert.deepEqual(
      directory.readyMiners(0, 10).map((m) => m.address),
      [miner0.address],
    )
    assert.equal(directory.subnetPeers(0).length, 1)
    assert.deepEqual(directory.holdersOf(CID(1)).map(String), [seeder.peer.toString(), miner0.peer.toString()])
  })

  it('takes holdings as holder hints and recent content; IGNOREs duplicates and lists over the cap', async () => {
    const { directory, deliver, seeder } = setUp()
    const batch = { peer: seeder.peer.toString(), window: 10, cids: [CID(2), CID(3)] }
    assert.equal(await deliver('holdings', 1, batch, seeder.peer), 'accept')
    assert.deepEqual(directory.holdersOf(CID(3)).map(String), [seeder.peer.toString()])
    assert.deepEqual(
      directory.recentContent(1, 10).map((c) => c.cid),
      [CID(3), CID(2)],
    )
    assert.deepEqual(directory.recentContent(0, 0), [])
    assert.equal(await deliver('holdings', 1, batch, seeder.peer), 'ignore')
    const long = Array.from({ length: MAX_HOLDINGS_CIDS_PER_MESSAGE + 1 }, (_, i) => CID(100 + i))
    assert.equal(await deliver('holdings', 1, { ...batch, cids: long }, seeder.peer), 'ignore')
    assert.equal(directory.holdersOf(CID(100)).length, 0)
  })

  it('a peer flooding holdings cannot grow the maps past their caps', async () => {
    const { directory, deliver, seeder, miner0 } = setUp()
    // The miner's hint must survive the flood of another peer (per-peer cap).
    await deliver('holdings', 0, { peer: miner0.peer.toString(), window: 10, cids: [CID(0)] }, miner0.peer)
    for (let i = 0; i < 500; i++) {
      const cids = Array.from({ length: 8 }, (_, j) => CID(1000 + i * 8 + j))
      assert.equal(
        await deliver('holdings', 0, { peer: seeder.peer.toString(), window: 10, cids }, seeder.peer),
        'accept',
      )
    }
    assert.equal(directory.hintsOf(seeder.peer), 20)
    assert.ok(directory.holderHints <= 100)
    assert.deepEqual(directory.holdersOf(CID(0)).map(String), [miner0.peer.toString()])
    // The newest of the flood are kept, the oldest went.
    assert.equal(directory.holdersOf(CID(1000 + 500 * 8 - 1)).length, 1)
    assert.equal(directory.holdersOf(CID(1000)).length, 0)
    assert.ok(directory.recentContent(0, 0).length <= 1024)
  })

  it('bounds the holders of one CID and the unstaked presence records', async () => {
    const { directory, deliver } = setUp()
    const peers = Array.from({ length: 300 }, (_, i) => member(`flood-${i}`))
    for (const p of peers) {
      await deliver('holdings', 0, { peer: p.peer.toString(), window: 10, cids: [CID(7)] }, p.peer)
      await deliver('presence', 0, presence(p.peer, 10, ['subnet-peer']), p.peer)
    }
    assert.equal(directory.holdersOf(CID(7)).length, 4)
    assert.equal(directory.subnetPeers(0).length, 256)
  })

  it('publishes its own holdings in batches under the cap', async () => {
    const { directory, published } = setUp()
    const cids = Array.from({ length: 150 }, (_, i) => CID(i))
    await directory.announce(0, [...cids, CID(0)])
    const batches = published.filter((p) => p.kind === 'holdings')
    assert.deepEqual(
      batches.map((b) => (b.payload as HoldingsGossip).cids.length),
      [64, 64, 22],
    )
    assert.ok(batches.every((b) => b.subnet === 0 && (b.payload as HoldingsGossip).window === 10))
    await assert.rejects(directory.announce(5, cids), /not one this node joined/)
  })
})
