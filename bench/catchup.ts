/**
 * `npm run bench -- catchup [--json] [--blocks N]`: how fast a new node catches up with a
 * running chain over real libp2p.
 *
 * A validator (a real ChainNode on its own libp2p node, TCP on loopback, stores on disk)
 * commits N blocks, each with transfers from 16 funded accounts so blocks have bytes. Then a
 * fresh follower starts with only the genesis and the validator's address as its bootstrap,
 * and catches up through the consensus channel's status / decided exchange while the
 * validator keeps committing. Reported: the time to reach the validator's height at the
 * follower's start, blocks/s, and MB/s of block files written (what the follower received).
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChainNode } from '../src/actors/chain-node.ts'
import { type Genesis, localTestnetGenesis } from '../src/chain/genesis.ts'
import { type KeyPair, keyPairFromSeed, testKey } from '../src/chain/keys.ts'
import { encodeTx } from '../src/chain/tx.ts'
import { sha256 } from '../src/codec/hash.ts'
import type { TimeoutConfig } from '../src/consensus/core-types.ts'
import { createNetNode, type NetNode } from '../src/net/node.ts'
import { sleep } from '../src/runtime/clock.ts'
import { createRuntimeComponents } from '../src/runtime/components.ts'
import { SystemClock } from '../src/runtime/system-clock.ts'

const CHAIN_ID = 'r3mes-bench-catchup'
const DEFAULT_BLOCKS = 300
const USERS = 16
const TIMEOUTS: TimeoutConfig = {
  proposeMs: 600,
  proposeDeltaMs: 100,
  prevoteMs: 200,
  prevoteDeltaMs: 100,
  precommitMs: 200,
  precommitDeltaMs: 100,
  commitMs: 20,
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits))

async function until(clock: SystemClock, done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = clock.monotonicMs()
  while (!done()) {
    if (clock.monotonicMs() - start > timeoutMs) throw new Error(`timed out: ${what}`)
    await sleep(clock, 20)
  }
}

function blockFileBytes(home: string): number {
  const dir = join(home, 'consensus', 'blocks')
  return readdirSync(dir)
    .filter((n) => n.endsWith('.block'))
    .reduce((sum, n) => sum + statSync(join(dir, n)).size, 0)
}

export async function runCatchupBench(json: boolean, args: readonly string[]): Promise<void> {
  const clock = new SystemClock()
  const at = args.indexOf('--blocks')
  const blocks = at >= 0 ? Number(args[at + 1]) : DEFAULT_BLOCKS
  if (!Number.isSafeInteger(blocks) || blocks < 10) throw new Error('--blocks must be an integer of at least 10')
  const validatorSeed = sha256('bench/catchup/validator')
  const users = Array.from({ length: USERS }, (_, i) => testKey(`catchup-user-${i}`))
  const genesis: Genesis = localTestnetGenesis({
    chainId: CHAIN_ID,
    validators: [keyPairFromSeed(validatorSeed)],
    funded: users,
  })
  const homes = ['validator', 'follower'].map((n) => mkdtempSync(join(tmpdir(), `r3mes-bench-catchup-${n}-`)))
  const nets: NetNode[] = []
  const chains: ChainNode[] = []
  const start = async (i: number, seed: Uint8Array, bootstrap: string[]): Promise<ChainNode> => {
    const components = createRuntimeComponents({ name: `catchup-${i}`, seed: i + 1, logLevel: 'silent' })
    const home = homes[i] as string
    const net = await createNetNode({ chainId: CHAIN_ID, homeDir: join(home, 'net'), bootstrap }, components)
    nets.push(net)
    const chain = new ChainNode(
      { home, genesis, consensusSeed: seed, net, timeouts: TIMEOUTS, gossipIntervalMs: 200 },
      components,
    )
    chains.push(chain)
    chain.start()
    return chain
  }
  try {
    const validator = await start(0, validatorSeed, [])
    const tx = (k: KeyPair, to: string): Uint8Array =>
      encodeTx(
        {
          chainId: CHAIN_ID,
          nonce: validator.reader.account(k.address).nonce,
          fee: genesis.params.minFee,
          msg: { type: 'transfer', to, amount: 1n },
        },
        k,
      )
    let started = clock.monotonicMs()
    while (validator.height < blocks) {
      const h = validator.height
      for (const [i, u] of users.entries()) await validator.submit(tx(u, (users[(i + 1) % USERS] as KeyPair).address))
      await until(clock, () => validator.height > h, 30_000, `validator block ${h + 1}`)
    }
    const commitMs = clock.monotonicMs() - started
    const validatorNet = nets[0] as NetNode
    const bootstrap = validatorNet.multiaddrs().map((m) => m.toString())
    started = clock.monotonicMs()
    const target = validator.height
    const follower = await start(1, sha256('bench/catchup/follower'), bootstrap)
    await until(clock, () => follower.height >= target, 600_000, `follower reaches ${target}`)
    const catchUpMs = clock.monotonicMs() - started
    const bytes = blockFileBytes(homes[1] as string)
    const atTarget = follower.height
    const result = {
      suite: 'catchup',
      workload: `one validator, ${target} blocks of ${USERS} transfers each, a fresh follower bootstrapped from it over libp2p (TCP loopback)`,
      machine: { loadAverage1m: round(loadavg()[0] as number), cores: availableParallelism() },
      validatorBlocksPerS: round((blocks / commitMs) * 1000, 1),
      catchUpMs: Math.round(catchUpMs),
      blocksPerS: round((target / catchUpMs) * 1000, 1),
      mbPerS: round(((bytes * (target / atTarget)) / 1e6 / catchUpMs) * 1000, 3),
      meanBlockBytes: Math.round(bytes / atTarget),
      agrees: validator.history.get(target)?.appHash === follower.history.get(target)?.appHash,
    }
    if (!result.agrees) throw new Error(`the follower reached another app hash at ${target}`)
    if (json) console.log(JSON.stringify(result, null, 2))
    else {
      console.log(result.workload)
      console.log(
        `catch-up to ${target}: ${result.catchUpMs} ms, ${result.blocksPerS} blocks/s, ${result.mbPerS} MB/s (${result.meanBlockBytes} bytes a block); the validator commits ${result.validatorBlocksPerS} blocks/s`,
      )
    }
  } finally {
    for (const c of chains) c.stop()
    await Promise.all(nets.map((n) => n.stop().catch(() => {})))
    for (const home of homes) rmSync(home, { recursive: true, force: true })
  }
}
