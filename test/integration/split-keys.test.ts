/**
 * Three keys per node over real connections: three validators whose account key, consensus
 * key and libp2p identity all differ (two read them from their home's `keys/` and
 * `net/identity.key`, one is handed them by its caller) run real BFT over loopback TCP. The
 * chain commits blocks proposed and signed by the consensus keys; each node is the peer its
 * genesis entry names; and an account that stakes and registers by transaction, naming its own
 * consensus key and peer id with proofs, shows them in `/query`.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { installLibp2pIdentity } from '../../src/actors/identity.ts'
import { localNetworkGenesis, type NodeSpec, nodeSeed } from '../../src/actors/local-network.ts'
import { type R3mesNode, startNode } from '../../src/actors/node.ts'
import { NodeApi } from '../../src/actors/node-api.ts'
import { nodeApiBackend } from '../../src/actors/node-api-backend.ts'
import type { Genesis } from '../../src/chain/genesis.ts'
import { signKeyProof } from '../../src/chain/key-proofs.ts'
import { type KeyPair, keyPairFromSeed, peerIdOfKey } from '../../src/chain/keys.ts'
import { encodeTx, type Msg } from '../../src/chain/tx.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { saveBackbone } from '../../src/ml/artifacts.ts'
import { modelConfigs } from '../../src/ml/config.ts'
import { initStageWeights } from '../../src/ml/weights.ts'
import { ACCOUNT_KEY_FILE, CONSENSUS_KEY_FILE, type OperatorKeys, writeKeySeed } from '../../src/operator/home.ts'
import { sleep } from '../../src/runtime/clock.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { SkewedClock } from '../../src/runtime/skewed-clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'

const clock = new SystemClock()
const CHAIN_ID = 'r3mes-split-keys'

async function waitFor(what: string, timeoutMs: number, cond: () => boolean): Promise<void> {
  const until = clock.monotonicMs() + timeoutMs
  while (!cond()) {
    if (clock.monotonicMs() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(clock, 100)
  }
}

/** One operator's three seeds, all different. */
function seedsOf(name: string): { account: Uint8Array; consensus: Uint8Array; net: Uint8Array } {
  return {
    account: nodeSeed(CHAIN_ID, 'split', name),
    consensus: sha256(`split-keys/${name}/consensus`),
    net: sha256(`split-keys/${name}/net`),
  }
}

describe('split keys over real connections', function () {
  this.timeout(120_000)
  let root = ''
  const nodes: R3mesNode[] = []
  let api: NodeApi | undefined
  after(async () => {
    await api?.close()
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})))
    if (root !== '') await rm(root, { recursive: true, force: true, maxRetries: 5 })
  })

  it('validators with separate account, consensus and libp2p keys commit blocks; a staker registers split keys by transaction', async () => {
    root = await mkdtemp(join(tmpdir(), 'r3mes-split-keys-'))
    const config = modelConfigs.micro as (typeof modelConfigs)['micro']
    const modelDir = join(root, 'model')
    saveBackbone(modelDir, initStageWeights(config, 0, config.nLayers, deriveKey('split-keys', 'backbone')))
    const specs: NodeSpec[] = [
      { name: 'validator-0', roles: ['validator'] },
      { name: 'validator-1', roles: ['validator'] },
      { name: 'validator-2', roles: ['validator'] },
      // Funded at genesis, staked by transaction below.
      { name: 'joiner', roles: [] },
    ]
    const plain = localNetworkGenesis({
      chainId: CHAIN_ID,
      seed: 'split',
      modelDir,
      subnets: [[0, config.nLayers]],
      nodes: specs,
      params: { blockTimeMs: 500 },
      genesisTimeMs: clock.nowMs(),
    })
    // Each genesis validator names its own consensus key and peer id.
    const genesis: Genesis = {
      ...plain,
      stakers: plain.stakers.map((s, i) => {
        const seeds = seedsOf(`validator-${i}`)
        assert.equal(s.pubKey, toHex(keyPairFromSeed(seeds.account).publicKey))
        return {
          ...s,
          consensusKey: toHex(keyPairFromSeed(seeds.consensus).publicKey),
          peerId: peerIdOfKey(keyPairFromSeed(seeds.net).publicKey),
        }
      }),
    }
    for (const [i, spec] of specs.slice(0, 3).entries()) {
      const home = join(root, spec.name)
      const seeds = seedsOf(spec.name)
      await installLibp2pIdentity(join(home, 'net'), seeds.net)
      let keys: OperatorKeys | undefined
      if (i === 0) {
        // Handed its keys by the caller: nothing under keys/ and no node.key.
        const consensus = keyPairFromSeed(seeds.consensus)
        keys = { account: keyPairFromSeed(seeds.account), consensusSeed: seeds.consensus, consensus }
      } else {
        writeKeySeed(join(home, ACCOUNT_KEY_FILE), seeds.account)
        writeKeySeed(join(home, CONSENSUS_KEY_FILE), seeds.consensus)
      }
      nodes.push(
        await startNode(
          {
            home,
            genesis,
            roles: spec.roles,
            backend: 'auto',
            lan: true,
            gossip: { heartbeatMs: 200, meshDegree: 2 },
            ...(keys === undefined ? {} : { keys }),
          },
          {
            clock,
            random: new SeededRandom(i + 1),
            logger: createLogger({ name: spec.name, level: 'silent', clock }),
          },
        ),
      )
      const b = nodes.at(-1) as R3mesNode
      for (const a of nodes.slice(0, -1)) {
        for (let attempt = 0; ; attempt++) {
          try {
            await a.net.libp2p.dial(b.net.multiaddrs()[0] as never)
            break
          } catch (error) {
            if (attempt === 9) throw error
            await sleep(clock, 300)
          }
        }
      }
    }

    // Each node is the peer, the account and the validator its genesis entry names.
    for (const [i, n] of nodes.entries()) {
      const seeds = seedsOf(`validator-${i}`)
      const staker = genesis.stakers[i] as Genesis['stakers'][number]
      assert.equal(n.address, keyPairFromSeed(seeds.account).address)
      assert.equal(n.net.peerId.toString(), staker.peerId)
      assert.notEqual(staker.peerId, peerIdOfKey(keyPairFromSeed(seeds.account).publicKey))
      assert.ok(n.chain.validatorIndex >= 0, `validator-${i} signs with its consensus key`)
      assert.equal(
        toHex((n.chain.validators.at(n.chain.validatorIndex) as { publicKey: Uint8Array }).publicKey),
        staker.consensusKey,
      )
    }
    await waitFor('3 blocks on every validator', 60_000, () => nodes.every((n) => n.chain.height >= 3))

    // An account stakes and registers as a verifier naming its own consensus key and peer id.
    const joinerSeeds = seedsOf('joiner')
    const joiner = keyPairFromSeed(joinerSeeds.account)
    const consensus = keyPairFromSeed(joinerSeeds.consensus)
    const peer = keyPairFromSeed(joinerSeeds.net)
    const v0 = nodes[0] as R3mesNode
    const send = async (key: KeyPair, nonce: number, msg: Msg): Promise<void> => {
      const tx = encodeTx({ chainId: CHAIN_ID, nonce, fee: genesis.params.minFee, msg }, key)
      const check = v0.chain.checkTx(tx)
      assert.ok(check.ok, JSON.stringify(check))
      await v0.chain.submit(tx)
    }
    await send(joiner, 0, { type: 'stake', amount: genesis.params.minStakeVerifier })
    await waitFor('the stake committed', 30_000, () => v0.reader.staker(joiner.address) !== null)
    await send(joiner, 1, {
      type: 'register',
      roles: ['verifier'],
      subnet: null,
      consensusKey: toHex(consensus.publicKey),
      consensusKeyProof: signKeyProof('consensus', consensus.secretKey, CHAIN_ID, joiner.address),
      peerId: peerIdOfKey(peer.publicKey),
      peerIdProof: signKeyProof('peer', peer.secretKey, CHAIN_ID, joiner.address),
    })
    await waitFor('the registration committed on every node', 30_000, () =>
      nodes.every((n) => n.reader.staker(joiner.address)?.roles.includes('verifier') === true),
    )

    api = new NodeApi({
      backend: nodeApiBackend(v0, new SkewedClock(clock)),
      components: { clock, random: new SeededRandom(9), logger: createLogger({ name: 'api', level: 'silent', clock }) },
    })
    const url = await api.listen()
    const staker = (await (await fetch(`${url}/query/staker/${joiner.address}`)).json()) as Record<string, unknown>
    assert.equal(staker.pubKey, toHex(joiner.publicKey))
    assert.equal(staker.consensusKey, toHex(consensus.publicKey))
    assert.equal(staker.peerId, peerIdOfKey(peer.publicKey))
    // Blocks are proposed under consensus keys, and the history names the staker behind each.
    const history = (await (await fetch(`${url}/chain/history?from=1&to=3`)).json()) as {
      proposer: string
      proposerKey: string
    }[]
    assert.equal(history.length, 3)
    for (const h of history) {
      const s = genesis.stakers.find((g) => g.consensusKey === h.proposerKey)
      assert.ok(s !== undefined, `proposer key ${h.proposerKey} is a genesis consensus key`)
      assert.equal(h.proposer, keyPairFromSeed(seedsOf(`validator-${genesis.stakers.indexOf(s)}`).account).address)
    }
    // Every node agrees on the chain.
    const top = Math.min(...nodes.map((n) => n.chain.height))
    const hashes = new Set(nodes.map((n) => n.chain.history.get(top)?.appHash))
    assert.equal(hashes.size, 1)
  })
})
