/**
 * `npm run bench -- chain [--json]`: the chain application under a training workload, run side by
 * side with and without pruning, and the cost of the VRF checks of the verification game.
 *
 * Workload: 2 subnets × 8 miners, 8 shards per window, replication 2 (32 tasks' worth of commits
 * and reveals per window), 10-block windows, for WINDOWS windows. The state's size (entries
 * over all tables) is counted after windows 20, 40 and 60: with pruning it stays flat, without
 * it it grows with every window. Counts, not times, so the figures do not move with the load of
 * the machine. The VRF figures are times: proving a ticket (the verifier node) and checking it
 * (every validator, once per claim and once per answer), and µs per prove, output and verify
 * call on libsodium (`vrf.ts`) and on the @noble/curves reference (`vrf-reference.ts`), side by
 * side over the same keys and inputs.
 */
import { availableParallelism, loadavg } from 'node:os'
import { ChainApp } from '../src/chain/app.ts'
import { labelCid, localTestnetGenesis } from '../src/chain/genesis.ts'
import { type KeyPair, testKey } from '../src/chain/keys.ts'
import type { Params } from '../src/chain/params.ts'
import { commitmentOf, encodeTx, type Msg } from '../src/chain/tx.ts'
import { verifierAlpha, verifierTicket } from '../src/chain/verifier-draw.ts'
import { toHex } from '../src/codec/bytes.ts'
import { sha256 } from '../src/codec/hash.ts'
import { vrfOutput, vrfProve, vrfVerify, vrfVerifyUncached } from '../src/codec/vrf.ts'
import { vrfOutputReference, vrfProveReference, vrfVerifyReference } from '../src/codec/vrf-reference.ts'
import { SystemClock } from '../src/runtime/system-clock.ts'

const WINDOWS = 60
const WINDOW_BLOCKS = 10
const MINERS_PER_SUBNET = 8
const VRF_SAMPLES = 40
const VRF_CALLS = 100

const round = (x: number, digits = 2): number => Number(x.toFixed(digits))
const keys = (prefix: string, n: number): KeyPair[] => Array.from({ length: n }, (_, i) => testKey(`${prefix}-${i}`))

interface RunResult {
  readonly retentionBlocks: number
  /** State entries after windows 20, 40 and 60. */
  readonly stateEntries: number[]
  readonly prunedWindows: number
  /** State entries after window 60 over those after window 20. */
  readonly growth60vs20: number
}

function run(retentionBlocks: number): RunResult {
  const validators = keys('bench-val', 4)
  const miners = [keys('bench-miner0', MINERS_PER_SUBNET), keys('bench-miner1', MINERS_PER_SUBNET)]
  const byAddress = new Map([...validators, ...miners.flat()].map((k) => [k.address, k]))
  const params: Partial<Params> = {
    windowBlocks: WINDOW_BLOCKS,
    shardsPerWindow: 8,
    replication: 2,
    challengePeriodBlocks: 10,
    aggregationDeadlineBlocks: 5,
    retentionBlocks,
  }
  const genesis = localTestnetGenesis({ validators, miners, params })
  const app = new ChainApp(genesis)
  const nonces = new Map<string, number>()
  const tx = (k: KeyPair, msg: Msg): Uint8Array => {
    const nonce = nonces.get(k.address) ?? 0
    nonces.set(k.address, nonce + 1)
    return encodeTx({ chainId: genesis.chainId, nonce, fee: app.state.params.minFee, msg }, k)
  }
  const entries: number[] = []
  const countEntries = (): number => app.state.allTables().reduce((n, t) => n + t.size, 0)
  for (let height = 1; height <= WINDOWS * WINDOW_BLOCKS; height++) {
    const offset = (height - 1) % WINDOW_BLOCKS
    const w = app.state.globals.currentWindow
    const jobs =
      offset === 1 || offset === 2
        ? app.state.tasks
            .entries()
            .map(([, t]) => t)
            .filter((t) => t.window === w)
            .flatMap((t) => t.miners.map((m) => ({ t, m: byAddress.get(m) as KeyPair })))
        : []
    const txs = jobs.map(({ t, m }) => {
      const cid = labelCid(`grad-${t.id}`)
      const salt = toHex(sha256(`${t.id}/${m.address}`)).slice(0, 32)
      return offset === 1
        ? tx(m, { type: 'commit', taskId: t.id, commitment: commitmentOf(cid, m.address, t.id, salt) })
        : tx(m, { type: 'reveal', taskId: t.id, cid, salt, metadata: '{"tokens":4096}' })
    })
    app.executeBlock({
      height,
      timeMs: height * 1000,
      proposer: (validators[0] as KeyPair).address,
      hash: sha256(`bench/${height}`),
      beacon: sha256(`bench/beacon/${height}`),
      txs,
      evidence: [],
    })
    if (height % (20 * WINDOW_BLOCKS) === 0) entries.push(countEntries())
  }
  return {
    retentionBlocks,
    stateEntries: entries,
    prunedWindows: app.state.globals.prunedWindows,
    growth60vs20: round((entries[2] as number) / (entries[0] as number)),
  }
}

interface NativeVsReference {
  readonly nativeUs: number
  readonly referenceUs: number
  readonly speedup: number
}

/** µs per call of prove, output and verify, native and reference, over the same inputs. */
function vrfCallCost(clock: SystemClock): {
  prove: NativeVsReference
  output: NativeVsReference
  verify: NativeVsReference
} {
  const keys = Array.from({ length: 10 }, (_, i) => testKey(`bench-vrf-${i}`))
  const inputs = Array.from({ length: VRF_CALLS }, (_, i) => ({
    key: keys[i % keys.length] as KeyPair,
    alpha: sha256(`alpha/${i}`),
  }))
  const proofs = inputs.map(({ key, alpha }) => vrfProve(key.secretKey, alpha))
  const time = (f: (i: number) => unknown): number => {
    const start = clock.monotonicMs()
    for (let i = 0; i < VRF_CALLS; i++) f(i)
    return ((clock.monotonicMs() - start) * 1000) / VRF_CALLS
  }
  const side = (native: (i: number) => unknown, reference: (i: number) => unknown): NativeVsReference => {
    const nativeUs = time(native)
    const referenceUs = time(reference)
    return {
      nativeUs: round(nativeUs, 0),
      referenceUs: round(referenceUs, 0),
      speedup: round(referenceUs / nativeUs, 1),
    }
  }
  const at = (i: number) => inputs[i] as (typeof inputs)[0]
  return {
    prove: side(
      (i) => vrfProve(at(i).key.secretKey, at(i).alpha),
      (i) => vrfProveReference(at(i).key.secretKey, at(i).alpha),
    ),
    output: side(
      (i) => vrfOutput(at(i).key.secretKey, at(i).alpha),
      (i) => vrfOutputReference(at(i).key.secretKey, at(i).alpha),
    ),
    verify: side(
      (i) => vrfVerifyUncached(at(i).key.publicKey, at(i).alpha, proofs[i] as Uint8Array),
      (i) => vrfVerifyReference(at(i).key.publicKey, at(i).alpha, proofs[i] as Uint8Array),
    ),
  }
}

function vrfCost(clock: SystemClock): { ticketMs: number; verifyMs: number } {
  const k = testKey('bench-verifier')
  const draws = Array.from({ length: VRF_SAMPLES }, (_, i) => ({
    challengeId: `ch-${i}`,
    seed: toHex(sha256(`seed/${i}`)),
    attempt: 0,
  }))
  let start = clock.monotonicMs()
  const tickets = draws.map((d) => verifierTicket(k.secretKey, d, 1n, 1n, { verifierExpectedCount: 5 }))
  const ticketMs = (clock.monotonicMs() - start) / VRF_SAMPLES
  start = clock.monotonicMs()
  draws.forEach((d, i) => {
    if (vrfVerify(k.publicKey, verifierAlpha(d), Buffer.from(tickets[i]?.proof ?? '', 'hex')) === undefined)
      throw new Error('a ticket failed to verify')
  })
  const verifyMs = (clock.monotonicMs() - start) / VRF_SAMPLES
  return { ticketMs: round(ticketMs), verifyMs: round(verifyMs) }
}

export async function runChainBench(json: boolean): Promise<void> {
  const clock = new SystemClock()
  const pruned = run(30)
  const unpruned = run(10_000_000)
  const vrf = { ...vrfCost(clock), perCall: vrfCallCost(clock) }
  const result = {
    suite: 'chain',
    workload: `${WINDOWS} windows of ${WINDOW_BLOCKS} blocks, 2 subnets × ${MINERS_PER_SUBNET} miners, 8 shards, replication 2`,
    machine: { loadAverage1m: round(loadavg()[0] as number), cores: availableParallelism() },
    stateEntriesUnprunedVsPruned: round((unpruned.stateEntries[2] as number) / (pruned.stateEntries[2] as number)),
    growth60vs20: { pruned: pruned.growth60vs20, unpruned: unpruned.growth60vs20 },
    pruned,
    unpruned,
    vrf,
  }
  if (json) console.log(JSON.stringify(result, null, 2))
  else {
    for (const r of [pruned, unpruned])
      console.log(
        `retention ${r.retentionBlocks} blocks: state entries after windows 20/40/60: ${r.stateEntries.join(' / ')} (${r.prunedWindows} windows pruned, ×${r.growth60vs20} from 20 to 60)`,
      )
    console.log(`VRF ticket (prove) ${vrf.ticketMs} ms, check (verify) ${vrf.verifyMs} ms`)
    for (const [name, c] of Object.entries(vrf.perCall))
      console.log(`VRF ${name}: ${c.nativeUs} µs native, ${c.referenceUs} µs reference (×${c.speedup})`)
  }
}
