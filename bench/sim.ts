/**
 * `npm run bench -- sim [--json]`: consensus CPU per message in the simulator, next to one
 * ed25519 verification timed in the same process, at 4 and at 100 validators.
 *
 * Each size runs `r3mes sim`'s simulation (seed 1, calm network) to a fixed height with host
 * timing on. A message counts when a validator decoded it and handed it to its node (a
 * duplicated copy dropped as seen before decoding does not count); its CPU is the decoding,
 * admission, signature check, core step and WAL append, less the chain application's block
 * execution (reported apart). The simulated validators share one process, so the memo of
 * verified signatures (consensus/keys.ts) checks each vote once for all of them: a real
 * validator pays about one verification more per vote. The ed25519 figure is `ed25519Verify` (node:crypto) by 100
 * signers over distinct messages, so no cache of verified signatures can answer it.
 */
import { availableParallelism, loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { ed25519PublicKey, ed25519Sign, ed25519Verify } from '../src/codec/ed25519.ts'
import { sha256 } from '../src/codec/hash.ts'
import { runSimulation } from '../src/sim/simulation.ts'

const VERIFY_SAMPLES = 4_000
const VERIFY_KEYS = 100

interface SizeResult {
  readonly validators: number
  readonly miners: number
  readonly subnets: number
  readonly heights: number
  readonly wallS: number
  readonly simulatedSPerWallS: number
  readonly messagesProcessedPerHeightPerValidator: number
  readonly usPerMessageProcessed: number
  readonly consensusCpuMsPerHeightPerValidator: number
  readonly messageCpuMsPerHeightPerValidator: number
  readonly perMessageOverEd25519Verify: number
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits))

/**
 * µs per `ed25519Verify` of a valid signature: VERIFY_KEYS signers (as many as the large run's
 * validators, their parsed keys cached as a node's are) over distinct messages. Each timing
 * signs messages of its own (`label`): verification results are memoized process-wide, and a
 * second timing over the same signatures would time the memo.
 */
function ed25519VerifyUs(label: string): number {
  const seeds = Array.from({ length: VERIFY_KEYS }, (_, k) => sha256(`bench-sim-key-${k}`))
  const keys = seeds.map((seed) => ed25519PublicKey(seed))
  const samples = Array.from({ length: VERIFY_SAMPLES }, (_, i) => {
    const k = i % VERIFY_KEYS
    const message = sha256(`bench-sim-message-${label}-${i}`)
    return { key: keys[k] as Uint8Array, message, signature: ed25519Sign(seeds[k] as Uint8Array, message) }
  })
  // Warm the code paths and the key cache on the first VERIFY_KEYS samples; time the rest.
  for (let i = 0; i < VERIFY_KEYS; i++) {
    const s = samples[i] as (typeof samples)[number]
    ed25519Verify(s.key, s.message, s.signature)
  }
  const t0 = performance.now()
  let ok = 0
  for (let i = VERIFY_KEYS; i < VERIFY_SAMPLES; i++) {
    const s = samples[i] as (typeof samples)[number]
    if (ed25519Verify(s.key, s.message, s.signature)) ok++
  }
  const timed = VERIFY_SAMPLES - VERIFY_KEYS
  const us = ((performance.now() - t0) * 1000) / timed
  if (ok !== timed) throw new Error('a valid signature did not verify')
  return us
}

function runSize(validators: number, miners: number, subnets: number, height: number, verifyUs: number): SizeResult {
  const t0 = performance.now()
  const r = runSimulation({
    seed: 1,
    validators,
    miners,
    subnets,
    windows: 50,
    until: { kind: 'height', height },
    hostMs: () => performance.now(),
  })
  const wallMs = performance.now() - t0
  const c = r.consensus
  const us = c.cpuUsPerMessageProcessed ?? Number.NaN
  return {
    validators,
    miners,
    subnets,
    heights: r.heights,
    wallS: round(wallMs / 1000, 1),
    simulatedSPerWallS: round(r.simulatedMs / wallMs),
    messagesProcessedPerHeightPerValidator: round(c.messagesProcessedPerHeightPerValidator, 1),
    usPerMessageProcessed: round(us, 1),
    consensusCpuMsPerHeightPerValidator: round(c.consensusCpuMsPerHeightPerValidator ?? Number.NaN),
    messageCpuMsPerHeightPerValidator: round((us * c.messagesProcessedPerHeightPerValidator) / 1000),
    perMessageOverEd25519Verify: round(us / verifyUs),
  }
}

export async function runSimBench(json: boolean, args: readonly string[]): Promise<void> {
  const verifyBefore = ed25519VerifyUs('before')
  const sizes = [
    runSize(4, 20, 2, 20, verifyBefore),
    ...(args.includes('--small') ? [] : [runSize(100, 100, 8, 5, verifyBefore)]),
  ]
  // Timed again after the runs: the ratio uses the mean, and a large spread says the machine was busy.
  const verifyAfter = ed25519VerifyUs('after')
  const verifyUs = (verifyBefore + verifyAfter) / 2
  const results = sizes.map((s) => ({
    ...s,
    perMessageOverEd25519Verify: round(s.usPerMessageProcessed / verifyUs),
  }))
  const result = {
    ed25519VerifyUs: { before: round(verifyBefore, 1), after: round(verifyAfter, 1) },
    sizes: results,
    machine: { loadAverage1m: round(loadavg()[0] as number), cores: availableParallelism() },
  }
  if (json) {
    console.log(JSON.stringify(result, null, 2))
    return
  }
  console.log(
    `ed25519Verify: ${result.ed25519VerifyUs.before} µs before the runs, ${result.ed25519VerifyUs.after} µs after`,
  )
  for (const s of results)
    console.log(
      `${s.validators} validators, ${s.miners} miners, ${s.subnets} subnets, to height ${s.heights}: ${s.wallS} s wall (${s.simulatedSPerWallS} simulated s per wall s); ` +
        `${s.messagesProcessedPerHeightPerValidator} messages processed per height per validator, ${s.usPerMessageProcessed} µs CPU each ` +
        `= ${s.perMessageOverEd25519Verify} × one ed25519 verification (${s.messageCpuMsPerHeightPerValidator} ms per height per validator; ` +
        `${s.consensusCpuMsPerHeightPerValidator} ms with client transactions' checks)`,
    )
  console.log(`machine: load ${result.machine.loadAverage1m}, ${result.machine.cores} cores`)
}
