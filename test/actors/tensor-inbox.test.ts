/**
 * A miner's tensor receiver under attack, over real libp2p on loopback, with the admission
 * check reading a real chain (a `ChainApp` whose first window is open): a peer that is not a
 * staker, a neighbour naming a far-future window, a neighbour flooding the next window. The
 * honest neighbour's tensor must still be there for its stage, and the node must not have set
 * memory aside for anything it refused. A validator-only node does not serve the protocol.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Stream } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { installLibp2pIdentity, writeNodeKey } from '../../src/actors/identity.ts'
import { localNetworkGenesis, nodeSeed } from '../../src/actors/local-network.ts'
import { startNode } from '../../src/actors/node.ts'
import { type TrainingProtocol, trainingProtocol } from '../../src/actors/training/protocol.ts'
import {
  boundaryTensorBytes,
  installTensorReceiver,
  TensorRefusal,
} from '../../src/actors/training/tensor-admission.ts'
import { InboxFullError, TensorInbox } from '../../src/actors/training/tensor-inbox.ts'
import { ChainApp } from '../../src/chain/app.ts'
import { localTestnetGenesis } from '../../src/chain/genesis.ts'
import { type KeyPair, keyPairFromSeed } from '../../src/chain/keys.ts'
import { localTestnetParams } from '../../src/chain/params.ts'
import { ChainReader } from '../../src/chain/reader.ts'
import type { Task, Window } from '../../src/chain/state.ts'
import { cidOf } from '../../src/codec/cid.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { saveBackbone } from '../../src/ml/artifacts.ts'
import { getModelConfig, modelConfigs } from '../../src/ml/config.ts'
import { initStageWeights } from '../../src/ml/weights.ts'
import { ActivationRejectedError } from '../../src/net/activation-stream.ts'
import { decodeMessage, encodeMessage } from '../../src/net/codec.ts'
import { createNetNode, type NetNode } from '../../src/net/node.ts'
import { seedFor } from '../consensus/helpers/fixtures.ts'
import { components, connect, randomBytes } from '../net/helpers.ts'

const MiB = 1024 * 1024
/** Inner step 0, micro-batch 0 of path step `step`. */
const at = (step: number) => ({ step, innerStep: 0, microBatch: 0 })

const CHAIN_ID = 'r3mes-inbox-test'

async function reply(stream: Stream): Promise<{ ok: boolean; code?: string }> {
  for await (const frame of lp.decode(stream))
    return decodeMessage(frame.subarray(), 1024) as { ok: boolean; code?: string }
  throw new Error('no reply')
}

describe('tensor inbox: only pipeline neighbours, only this window or the next, bounded', function () {
  this.timeout(120_000)
  const homes: string[] = []
  const nets: NetNode[] = []
  let app: ChainApp
  let receiver: NetNode
  let upstream: NetNode
  let stranger: NetNode
  let inbox: TensorInbox
  let tensorBytes = 0
  let protocol = {} as TrainingProtocol
  let open = -1
  let step = -1
  const keys = new Map<string, KeyPair>()

  async function netFor(label: string, seed?: Uint8Array): Promise<NetNode> {
    const home = await mkdtemp(join(tmpdir(), `r3mes-inbox-${label}-`))
    homes.push(home)
    if (seed !== undefined) await installLibp2pIdentity(home, seed)
    const net = await createNetNode({ chainId: CHAIN_ID, homeDir: home, lan: true }, components(label))
    nets.push(net)
    return net
  }

  before(async () => {
    for (const name of ['validator', 'miner-0', 'miner-1'])
      keys.set(name, keyPairFromSeed(seedFor(`${CHAIN_ID}/${name}`)))
    const key = (name: string) => keys.get(name) as KeyPair
    const genesis = localTestnetGenesis({
      chainId: CHAIN_ID,
      validators: [key('validator')],
      miners: [[key('miner-0')], [key('miner-1')]],
      params: { replication: 1 },
    })
    app = new ChainApp(genesis)
    // Run empty blocks until the first window is open and its tasks are drawn.
    while ((app.query('window') as Window | null) === null) {
      const height = app.height + 1
      app.executeBlock({
        height,
        timeMs: height * 1000,
        proposer: key('validator').address,
        hash: sha256(`block/${height}`),
        beacon: sha256(`beacon/${height}`),
        txs: [],
        evidence: [],
      })
    }
    open = (app.query('window') as Window).id
    const mine = (app.query(`tasks/${open}`) as Task[]).find((t) => t.miners.includes(key('miner-1').address))
    assert.ok(mine !== undefined, 'miner-1 has a task in the open window')
    step = mine.shard
    const config = getModelConfig(genesis.model.config)
    protocol = trainingProtocol(config, localTestnetParams)
    tensorBytes = boundaryTensorBytes(config, protocol)

    receiver = await netFor('receiver', seedFor(`${CHAIN_ID}/miner-1`))
    upstream = await netFor('upstream', seedFor(`${CHAIN_ID}/miner-0`))
    stranger = await netFor('stranger')
    inbox = new TensorInbox(components('inbox').clock)
    installTensorReceiver(receiver.activations, {
      self: key('miner-1').address,
      chain: new ChainReader(app.state),
      tensorBytes: () => tensorBytes,
      protocolAt: () => protocol,
      inbox,
      logger: components('receiver').logger,
    })
    await connect(upstream, receiver)
    await connect(stranger, receiver)
  })
  after(async () => {
    await Promise.all(nets.map((n) => n.stop().catch(() => {})))
    await Promise.all(homes.map((h) => rm(h, { recursive: true, force: true })))
  })

  it("refuses a non-staker's stream on its header, before reading or allocating the payload", async () => {
    const stream = await stranger.libp2p.dialProtocol(receiver.peerId, receiver.activations.protocol)
    const answer = reply(stream)
    // Announces 200 MiB (under the stream's cap) and starts pushing it.
    const sizeBytes = 200 * MiB
    const head = encodeMessage(
      {
        v: 2,
        direction: 'forward',
        window: open,
        step,
        innerStep: 0,
        microBatch: 0,
        sizeBytes,
        cid: cidOf(new Uint8Array(1)).toString(),
      },
      1024,
    )
    stream.send(lp.encode.single(head).subarray())
    const chunk = lp.encode.single(new Uint8Array(MiB)).subarray()
    for (let i = 0; i < 8 && stream.writeStatus === 'writable'; i++) stream.send(chunk)
    await stream.close().catch(() => {})
    const r = await answer
    assert.equal(r.ok, false)
    assert.equal(r.code, TensorRefusal.unknownSender)
    assert.equal(receiver.activations.acquiredBytes, 0, 'no receive buffer was set aside')
    assert.equal(receiver.activations.received, 0)
  })

  it('keeps the honest neighbour tensor against a far-future window and a next-window flood', async () => {
    const honest = randomBytes(tensorBytes, 3)
    await upstream.activations.send(receiver.peerId, { direction: 'forward', window: open, step, bytes: honest })
    assert.equal(inbox.size, 1)
    // The same registered neighbour names a far-future window: refused on the header.
    await assert.rejects(
      upstream.activations.send(receiver.peerId, {
        direction: 'forward',
        window: Number.MAX_SAFE_INTEGER,
        step,
        bytes: randomBytes(tensorBytes, 4),
      }),
      (e: unknown) => e instanceof ActivationRejectedError && e.remoteCode === TensorRefusal.wrongWindow,
    )
    // A size other than the model's boundary shape: refused on the header too.
    await assert.rejects(
      upstream.activations.send(receiver.peerId, {
        direction: 'forward',
        window: open,
        step,
        bytes: randomBytes(64, 5),
      }),
      (e: unknown) => e instanceof ActivationRejectedError && e.remoteCode === TensorRefusal.wrongSize,
    )
    // An inner step or micro-batch past the chain's H and M: refused on the header.
    for (const past of [{ innerStep: protocol.innerSteps }, { microBatch: protocol.microBatches }])
      await assert.rejects(
        upstream.activations.send(receiver.peerId, {
          direction: 'forward',
          window: open,
          step,
          ...past,
          bytes: randomBytes(tensorBytes, 7),
        }),
        (e: unknown) => e instanceof ActivationRejectedError && e.remoteCode === TensorRefusal.wrongStep,
      )
    // Backward tensors come from downstream, which the upstream miner is not.
    await assert.rejects(
      upstream.activations.send(receiver.peerId, {
        direction: 'backward',
        window: open,
        step,
        bytes: randomBytes(tensorBytes, 6),
      }),
      (e: unknown) => e instanceof ActivationRejectedError && e.remoteCode === TensorRefusal.notNeighbour,
    )
    // Next-window tensors on made-up steps until the sender's share of the inbox is full.
    let refused: string | undefined
    for (let s = 1000; s < 1100 && refused === undefined; s++) {
      try {
        await upstream.activations.send(receiver.peerId, {
          direction: 'forward',
          window: open + 1,
          step: s,
          bytes: randomBytes(tensorBytes, s),
        })
      } catch (error) {
        if (!(error instanceof ActivationRejectedError)) throw error
        refused = error.remoteCode
      }
    }
    assert.equal(refused, TensorRefusal.inboxFull, 'the flood hit the per-sender bound')
    assert.ok(inbox.size <= 64)
    // The stage asks for its tensor: it is still there, byte for byte.
    const got = await inbox.take(open, at(step), 'forward', (keys.get('miner-0') as KeyPair).address, 1000)
    assert.ok(Buffer.from(got).equals(Buffer.from(honest)))
  })

  it('a validator-only node does not serve the activation protocol', async () => {
    const root = await mkdtemp(join(tmpdir(), 'r3mes-inbox-validator-'))
    homes.push(root)
    const config = modelConfigs.micro as (typeof modelConfigs)['micro']
    const modelDir = join(root, 'model')
    saveBackbone(modelDir, initStageWeights(config, 0, config.nLayers, deriveKey('inbox', 'backbone')))
    const genesis = localNetworkGenesis({
      chainId: CHAIN_ID,
      seed: 'inbox',
      modelDir,
      subnets: [[0, config.nLayers]],
      nodes: [{ name: 'v', roles: ['validator'] }],
    })
    const home = join(root, 'v')
    writeNodeKey(home, nodeSeed(CHAIN_ID, 'inbox', 'v'))
    const node = await startNode({ home, genesis, roles: ['validator'], modelDir }, components('v'))
    try {
      await connect(stranger, node.net)
      await assert.rejects(
        stranger.activations.send(node.net.peerId, {
          direction: 'forward',
          window: 0,
          step: 0,
          bytes: new Uint8Array(16),
        }),
        (e: unknown) => (e as Error).name === 'UnsupportedProtocolError',
      )
      assert.equal(node.net.activations.acquiredBytes, 0)
    } finally {
      await node.stop()
    }
  })
})

describe('tensor inbox: what it holds is bounded, and the open window is never evicted', () => {
  it('keys each micro-batch of each inner step apart: a pipeline in flight holds them all', async () => {
    const inbox = new TensorInbox(components('inbox').clock)
    const slots = [
      { step: 0, innerStep: 0, microBatch: 0 },
      { step: 0, innerStep: 0, microBatch: 1 },
      { step: 0, innerStep: 1, microBatch: 0 },
    ]
    for (const [i, slot] of slots.entries()) inbox.deliver(0, slot, 'forward', 'up', new Uint8Array([i]), 0)
    assert.equal(inbox.size, 3)
    for (const [i, slot] of [...slots.entries()].reverse())
      assert.deepEqual(await inbox.take(0, slot, 'forward', 'up', 10), new Uint8Array([i]))
    assert.equal(inbox.size, 0)
  })

  it('refuses a newcomer rather than evict an open-window tensor, far-future window or not', () => {
    const inbox = new TensorInbox(components('inbox').clock, { maxTensors: 4, maxTensorsPerSender: 4 })
    const honest = new Uint8Array([1, 2, 3])
    inbox.deliver(5, at(0), 'forward', 'honest', honest, 5)
    for (let i = 0; i < 3; i++) inbox.deliver(6, at(i), 'forward', `other-${i}`, new Uint8Array(8), 5)
    assert.throws(
      () => inbox.deliver(Number.MAX_SAFE_INTEGER, at(0), 'forward', 'attacker', new Uint8Array(8), 5),
      (e: unknown) => e instanceof InboxFullError,
    )
    assert.equal(inbox.size, 4)
    // Once window 6 opens, window 5's tensors are stale and make room.
    inbox.deliver(7, at(0), 'forward', 'late', new Uint8Array(8), 6)
    assert.equal(inbox.size, 4)
  })

  it("drops the other replicas' copies of a tensor once a stage took it, held or arriving later", async () => {
    const inbox = new TensorInbox(components('inbox').clock)
    inbox.deliver(0, at(0), 'forward', 'replica-0', new Uint8Array([1]), 0)
    inbox.deliver(0, at(0), 'forward', 'replica-1', new Uint8Array([1]), 0)
    assert.equal(inbox.size, 2)
    assert.deepEqual(await inbox.takeFirst(0, at(0), 'forward', ['replica-0', 'replica-1'], 10), new Uint8Array([1]))
    assert.equal(inbox.size, 0, 'the copy left over is dropped, not held until the window passes')
    assert.equal(inbox.isSpare(0, at(0), 'forward', 'replica-2'), false, 'not a replica the stage took from')
    assert.equal(inbox.deliver(0, at(0), 'forward', 'replica-1', new Uint8Array([1]), 0), 'spare')
    assert.equal(inbox.deliver(0, at(1), 'forward', 'replica-1', new Uint8Array([2]), 0), 'held')
    assert.equal(inbox.size, 1)
    // Once the window passes, what was taken is forgotten with it.
    inbox.deliver(1, at(0), 'forward', 'replica-1', new Uint8Array([3]), 1)
    assert.equal(inbox.isSpare(0, at(0), 'forward', 'replica-1'), false)
  })

  it('bounds bytes per sender and in total', () => {
    const inbox = new TensorInbox(components('inbox').clock, { maxBytes: 100, maxBytesPerSender: 60 })
    inbox.deliver(0, at(0), 'forward', 'a', new Uint8Array(50), 0)
    assert.equal(inbox.hasRoom('a', 20, 0), false, 'a would hold 70 bytes')
    assert.throws(() => inbox.deliver(0, at(1), 'forward', 'a', new Uint8Array(20), 0), InboxFullError)
    inbox.deliver(0, at(0), 'forward', 'b', new Uint8Array(50), 0)
    assert.throws(() => inbox.deliver(0, at(0), 'forward', 'c', new Uint8Array(1), 0), InboxFullError)
    assert.equal(inbox.heldBytes, 100)
  })
})
