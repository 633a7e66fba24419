/**
 * A whole training network in one process, every node with its own libp2p node on loopback
 * TCP, its own content store and its own copy of the chain: 4 validators (they aggregate;
 * one verifies, one challenges, two sit on the arbiter panel with a miner of the other
 * subnet) and 2 subnets × 2 miners on the `micro` model. One miner plants a wrong gradient. Over 3 windows: honest
 * submissions are accepted and credited, the model pointer moves every window, held-out loss
 * falls, the wrong gradient is caught by a spot check and challenged, goes through L2 and L3, and only its miner is slashed;
 * the serving node (on validator-3) follows the model and answers a completion with the latest.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { pino } from 'pino'
import { writeNodeKey } from '../../src/actors/identity.ts'
import { localNetworkGenesis, type NodeSpec, nodeSeed } from '../../src/actors/local-network.ts'
import { type R3mesNode, startNode } from '../../src/actors/node.ts'
import { NodeApi } from '../../src/actors/node-api.ts'
import { nodeApiBackend } from '../../src/actors/node-api-backend.ts'
import { modelIdOf } from '../../src/actors/serving/serving-machine.ts'
import { brownFictionDataset } from '../../src/actors/training/datasets.ts'
import { heldOutLoss } from '../../src/actors/training/evaluate.ts'
import { decodeTrace, traceCidOf } from '../../src/actors/training/protocol.ts'
import { decodeStepTrace } from '../../src/actors/training/step-trace.ts'
import type { Challenge, Claim } from '../../src/chain/state.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { saveBackbone } from '../../src/ml/artifacts.ts'
import { modelConfigs } from '../../src/ml/config.ts'
import { initStageWeights } from '../../src/ml/weights.ts'
import { deadlineSignal, sleep } from '../../src/runtime/clock.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { SkewedClock } from '../../src/runtime/skewed-clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'

const clock = new SystemClock()
const CHAIN_ID = 'r3mes-e2e'

async function waitFor(what: string, timeoutMs: number, cond: () => boolean): Promise<void> {
  const until = clock.monotonicMs() + timeoutMs
  while (!cond()) {
    if (clock.monotonicMs() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(clock, 100)
  }
}

describe('a training network over real connections', function () {
  this.timeout(720_000)
  let root = ''
  const nodes: R3mesNode[] = []
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})))
    if (root !== '') await rm(root, { recursive: true, force: true, maxRetries: 5 })
  })

  it('trains over 3 windows, and catches, escalates and slashes a wrong gradient', async () => {
    root = await mkdtemp(join(tmpdir(), 'r3mes-e2e-'))
    const config = modelConfigs.micro as (typeof modelConfigs)['micro']
    const modelDir = join(root, 'model')
    saveBackbone(modelDir, initStageWeights(config, 0, config.nLayers, deriveKey('e2e', 'backbone')))
    const specs: NodeSpec[] = [
      // Roles share processes where the rules allow: the verifier, the challenger and the
      // three arbiters must be distinct from each other and from the disputed miner.
      { name: 'validator-0', roles: ['validator', 'verifier'] },
      { name: 'validator-1', roles: ['validator', 'arbiter'] },
      { name: 'validator-2', roles: ['validator', 'arbiter'] },
      { name: 'validator-3', roles: ['validator', 'challenger', 'serving'] },
      { name: 'miner-0-0', roles: ['miner'], subnet: 0 },
      { name: 'miner-0-1', roles: ['miner'], subnet: 0, misbehaviours: ['wrongGradient'] },
      { name: 'miner-1-0', roles: ['miner', 'arbiter'], subnet: 1 },
      { name: 'miner-1-1', roles: ['miner'], subnet: 1 },
    ]
    const genesis = localNetworkGenesis({
      chainId: CHAIN_ID,
      seed: 'e2e',
      modelDir,
      subnets: [
        [0, 1],
        [1, 2],
      ],
      nodes: specs,
      params: {
        // One process hosts all eight nodes: blocks and windows leave room for its one event loop.
        blockTimeMs: 1000,
        windowBlocks: 8,
        replication: 1,
        shardsPerWindow: 2,
        // Tasks of a few inner steps of two micro-batches: the pipeline and disputes by inner
        // step are exercised, and eight nodes' training fits the one event loop's windows.
        innerSteps: 4,
        microBatches: 2,
        l2DeadlineBlocks: 16,
        l3DeadlineBlocks: 16,
        challengePeriodBlocks: 24,
        aggregationDeadlineBlocks: 8,
      },
      genesisTimeMs: clock.nowMs(),
    })
    for (const [i, spec] of specs.entries()) {
      const home = join(root, spec.name)
      writeNodeKey(home, nodeSeed(CHAIN_ID, 'e2e', spec.name))
      nodes.push(
        await startNode(
          {
            home,
            genesis,
            roles: spec.roles,
            misbehaviours: spec.misbehaviours,
            backend: 'auto',
            challengeFraction: 1,
            lan: true,
            gossip: { heartbeatMs: 200, meshDegree: 4 },
            ...(spec.roles.includes('validator') ? { modelDir } : {}),
          },
          {
            clock,
            random: new SeededRandom(i + 1),
            logger: createLogger({
              name: spec.name,
              level: (process.env.R3MES_E2E_LOG as 'info') ?? 'silent',
              clock,
              destination: pino.destination({ dest: 2, sync: true }),
            }),
          },
        ),
      )
      // Connect each new node to every node before it, so the network forms as it starts.
      const b = nodes.at(-1) as R3mesNode
      for (const [j, a] of nodes.slice(0, -1).entries()) {
        for (let attempt = 0; ; attempt++) {
          try {
            await a.net.libp2p.dial(b.net.multiaddrs()[0] as never)
            break
          } catch (error) {
            // Two nodes dialling each other at once can close one of the two connections.
            if (attempt === 9)
              throw new Error(
                `dial ${j} -> ${i}: ${(error as Error).message} (${nodes.map((n) => n.net.peerId.toString().slice(-6))})`,
              )
            await sleep(clock, 500)
          }
        }
      }
    }
    const v0 = nodes[0] as R3mesNode
    const heldOut = brownFictionDataset().heldOut
    const initial = await v0.model.currentModel()
    const before = heldOutLoss(
      v0.training.cpuKernels,
      initial.model,
      initial.adapters,
      v0.training.protocolAt(0),
      heldOut,
    )
    // Every adapter state each subnet's model pointer has named, in order.
    const pointers: string[][] = [[], []]
    const cheater = nodes[5] as R3mesNode
    const allClaims = (): Claim[] =>
      Array.from({ length: (v0.reader.currentWindow()?.id ?? 0) + 1 }, (_, w) => v0.reader.claims(w)).flat()
    const slashedClaims = (): Claim[] => allClaims().filter((c) => c.status === 'slashed')
    let lastDump = 0
    const verbose = process.env.R3MES_E2E_VERBOSE === '1'
    await waitFor('3 windows aggregated and the cheater slashed', 480_000, () => {
      if (verbose && clock.monotonicMs() - lastDump > 5000) {
        lastDump = clock.monotonicMs()
        const w = v0.reader.currentWindow()
        const cl = allClaims()
        process.stderr.write(
          `heights ${nodes.map((n) => n.chain.height)} connections ${nodes.map((n) => n.net.libp2p.getConnections().length)} window ${w?.id} claims ${cl.map((c) => `${c.id}:${c.status}`).join(' ')} pointers ${pointers.map((p) => p.length)}\n`,
        )
      }
      for (const k of v0.reader.subnets().map((s) => s.id)) {
        const p = v0.reader.adapterPointer(k)
        const seen = pointers[k] as string[]
        if (p !== null && seen.at(-1) !== p) seen.push(p)
      }
      return pointers.every((p) => p.length >= 3) && slashedClaims().length > 0
    })

    // Every subnet's model pointer moved three times (to a new adapter state each time), and
    // held-out loss fell.
    for (const [k, seen] of pointers.entries())
      assert.equal(new Set(seen).size, seen.length, `subnet ${k} never went back to an earlier state`)
    const current = await v0.model.currentModel()
    const after = heldOutLoss(
      v0.training.cpuKernels,
      current.model,
      current.adapters,
      v0.training.protocolAt(0),
      heldOut,
    )
    assert.ok(after < before, `held-out loss ${before} → ${after}`)

    // Every honest submission was accepted; the cheater's were challenged through L2 and L3.
    const honest = allClaims().filter(
      (c) => c.kind === 'submission' && c.owner !== cheater.address && c.status !== 'revealed',
    )
    assert.ok(honest.length >= 6, `honest submissions: ${honest.length}`)
    for (const c of honest) assert.equal(c.status, 'accepted', `${c.id} is ${c.status}`)
    const slashed = slashedClaims()
    assert.ok(
      slashed.every((c) => c.owner === cheater.address),
      'only the cheater is slashed',
    )
    const challenge = v0.reader
      .openChallenges()
      .concat(
        Array.from({ length: 20 }, (_, i) => v0.reader.challenge(`ch-${i}`)).filter((c): c is Challenge => c !== null),
      )
      .find((c) => c.claimId === slashed[0]?.id)
    assert.ok(challenge !== undefined, 'the slashed claim was challenged')
    assert.equal(challenge.outcome, 'challenger')
    assert.equal(Object.values(challenge.votes).filter((v) => v === 'fault').length >= 2, true, 'L3 found the fault')
    // The challenger spot-checked: the step trace it named is the cheater's, leaf for leaf, but
    // for the one it found diverging, the pseudo-gradient (its last).
    const fetched = (cid: string) =>
      (nodes[3] as R3mesNode).net.content.get(CID.parse(cid), {
        signal: deadlineSignal(clock, 30_000, `fetching ${cid}`),
      })
    const challengerIndex = decodeStepTrace(await fetched(challenge.challengerTrace as string))
    const ownerTrace = decodeTrace(await fetched(traceCidOf((slashed[0] as Claim).metadata)))
    const ownerIndex = decodeStepTrace(await fetched(ownerTrace.steps))
    const differing = ownerIndex.leaves.flatMap((leaf, i) => (leaf === challengerIndex.leaves[i] ? [] : [i]))
    assert.deepEqual(differing, [ownerIndex.leaves.length - 1])
    // No honest staker was slashed. Honest miners keep every unit; a verifier or arbiter that
    // missed a duty's deadline on this loaded machine pays the chain's duty penalty (1% a
    // time), which is the rule working, not a slash for fraud.
    const stakeOf = (n: R3mesNode): bigint => n.reader.staker(n.address)?.stake ?? 0n
    const genesisStake = new Map(genesis.stakers.map((s) => [s.pubKey, s.stake]))
    for (const [i, n] of nodes.entries()) {
      if (n === cheater) continue
      const before = genesisStake.get(Buffer.from(n.key.publicKey).toString('hex')) ?? 0n
      const dutyBound = specs[i]?.roles.some((r) => r === 'verifier' || r === 'arbiter') ? before / 20n : 0n
      assert.ok(before - stakeOf(n) <= dutyBound, `${n.address} kept its stake: ${before} → ${stakeOf(n)}`)
    }
    assert.ok(stakeOf(cheater) < (genesisStake.get(Buffer.from(cheater.key.publicKey).toString('hex')) ?? 0n))
    // Every node agrees on the chain.
    const h = Math.min(...nodes.map((n) => n.chain.height))
    assert.ok(h > 0)
    const miner = nodes[4] as R3mesNode
    assert.ok(miner.minerOutcomes().length > 0, 'the miner ran tasks')
    assert.ok(miner.status().machines.miner !== undefined, 'the miner role shows its state')
    // Sharding: a miner fetched only its range of the backbone.
    assert.ok(miner.status().metrics.backboneBytes > 0)

    // The serving node loaded the latest model and answers completions with it.
    const server = nodes[3] as R3mesNode
    const source = server.servingSource
    assert.ok(source !== undefined, 'the serving node has a model source')
    // Training goes on meanwhile, so "latest" is read afresh at every look; serving loads the
    // final pointers (an aggregate still in its challenge period is not served).
    const latest = (): string => modelIdOf(server.reader.subnets().map((s) => server.reader.finalAdapterPointer(s.id)))
    await waitFor('the serving node to load the latest model', 60_000, () => source.current()?.id === latest())
    assert.ok(server.lossHistory().length >= 2, 'the serving node evaluated the model as it moved')
    assert.ok(
      server.events.some((e) => e.actor === 'validator'),
      "the consensus actor's state changes are in the event log",
    )
    const api = new NodeApi({
      backend: nodeApiBackend(server, new SkewedClock(clock)),
      components: { clock, random: new SeededRandom(9), logger: createLogger({ name: 'api', level: 'silent', clock }) },
    })
    try {
      const url = await api.listen()
      const served = source.current()?.id
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'The old man', max_tokens: 8, temperature: 0 }),
      })
      assert.equal(res.status, 200)
      const body = (await res.json()) as { model: string; choices: { text: string }[] }
      // The model it served when asked, or the next one if the pointer moved during the request.
      assert.ok(
        body.model === served || body.model === source.current()?.id,
        `answered with the latest model: ${body.model}`,
      )
      assert.ok(server.lossHistory().some((h) => modelIdOf(h.pointers) === body.model))
      assert.ok((body.choices[0]?.text.length ?? 0) > 0, 'a completion came back')
    } finally {
      await api.close()
    }

    // A miner killed mid-window: the chain and the other miners carry on, the window closes
    // without it, and a later window's aggregate still moves the model.
    const victim = nodes[7] as R3mesNode
    const killedIn = v0.reader.currentWindow()?.id ?? 0
    await victim.stop()
    const moved = v0.reader
      .subnets()
      .map((s) => s.id)
      .map((k) => v0.reader.adapterPointer(k))
    await waitFor('the network to carry on without the killed miner', 120_000, () => {
      const w = v0.reader.currentWindow()?.id ?? 0
      const now = v0.reader
        .subnets()
        .map((s) => s.id)
        .map((k) => v0.reader.adapterPointer(k))
      return w >= killedIn + 2 && now.some((p, k) => p !== moved[k])
    })
    const survivors = nodes.filter((n) => n !== victim)
    const top = Math.min(...survivors.map((n) => n.chain.height))
    assert.ok(top > h, 'every surviving node kept committing blocks')
  })
})
