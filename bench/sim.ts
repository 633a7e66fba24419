/**
 * `npm run bench -- sim [--json]`: consensus CPU per message in the simulator, next to one
 * ed25519 verification timed in the same process, at 4 and at 100 validators.
 *
 * Each size runs `r3mes sim`'s simulation (seed 1, calm network) to a fixed height with host
 * timing on. A message counts when a validator decoded it and handed it to its node (a
 * duplicated copy dropped as seen before decoding does not count); its CPU is the decoding,
 * admission, signature check, core step and WAL append, less the chain application's block
 * execution (reported apart). The simulated validators share one process: by default one
 * decoding of each message and one verification of each signature and beacon proof serve all
 * of them. The 4-validator size runs twice: first with every validator decoding its own copy
 * and verifying in its own memo scope (`isolateValidators`), which is what a validator in a
 * process of its own pays and the figure the goal is about, then shared. The ed25519 figure is one verification
 * by node:crypto (`ed25519VerifyUncached`: the memo of verified signatures would answer the
 * second timing, of the same samples, from memory) by 100 signers over distinct messages.
 */
import { availableParallelism, loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { ed25519PublicKey, ed25519Sign, ed25519VerifyUncached } from '../src/codec/ed25519.ts'
import { sha256 } from '../src/codec/hash.ts'
import { runSimulation } from '../src/sim/simulation.ts'

const VERIFY_SAMPLES = 4_000
const VERIFY_KEYS = 100

interface SizeResult {
  /** Each validator decoded and verified on its own (`isolateValidators`), as in a process of its own. */
  readonly isolated: boolean
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
  /** µs per message of each run when the size ran several times (the figures above are the median run's). */
  readonly runsUsPerMessage?: readonly number[]
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits))

/**
 * µs per verification of a valid signature (`ed25519VerifyUncached`): VERIFY_KEYS signers (as many as the large run's
 * validators, their parsed keys cached as a node's are) over distinct messages.
 */
function ed25519VerifyUs(): number {
  const seeds = Array.from({ length: VERIFY_KEYS }, (_, k) => sha256(`bench-sim-key-${k}`))
  const keys = seeds.map((seed) => ed25519PublicKey(seed))
  const samples = Array.from({ length: VERIFY_SAMPLES }, (_, i) => {
    const k = i % VERIFY_KEYS
    const message = sha256(`bench-sim-message-${i}`)
    return { key: keys[k] as Uint8Array, message, signature: ed25519Sign(seeds[k] as Uint8Array, message) }
  })
  // Warm the code paths and the key cache on the first VERIFY_KEYS samples; time the rest.
  for (let i = 0; i < VERIFY_KEYS; i++) {
    const s = samples[i] as (typeof samples)[number]
    ed25519VerifyUncached(s.key, s.message, s.signature)
  }
  const t0 = performance.now()
  let ok = 0
  for (let i = VERIFY_KEYS; i < VERIFY_SAMPLES; i++) {
    const s = samples[i] as (typeof samples)[number]
    if (ed25519VerifyUncached(s.key, s.message, s.signature)) ok++
  }
  const timed = VERIFY_SAMPLES - VERIFY_KEYS
  const us = ((performance.now() - t0) * 1000) / timed
  if (ok !== timed) throw new Error('a valid signature did not verify')
  return us
}

async function runSize(
  validators: number,
  miners: number,
  subnets: number,
  height: number,
  verifyUs: number,
  isolated = false,
): Promise<SizeResult> {
  const t0 = performance.now()
  const r = await runSimulation({
    isolateValidators: isolated,
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
    isolated,
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

/** Runs of the 4-validator size with each validator on its own (odd: the median is one of them). */
const ISOLATED_RUNS = 3

export async function runSimBench(json: boolean, args: readonly string[]): Promise<void> {
  // A run to warm the code paths up (the first run's figures are mostly compilation), discarded.
  await runSize(4, 20, 2, 20, 1, true)
  const verifyBefore = ed25519VerifyUs()
  // The validator on its own, three times, the median run kept: one run swings with whatever
  // else the machine does (1.6 to 2.1× one verification over five single runs of one hour).
  const isolated: SizeResult[] = []
  for (let k = 0; k < ISOLATED_RUNS; k++) isolated.push(await runSize(4, 20, 2, 100, verifyBefore, true))
  isolated.sort((a, b) => a.usPerMessageProcessed - b.usPerMessageProcessed)
  const sizes = [
    { ...(isolated[ISOLATED_RUNS >> 1] as SizeResult), runsUsPerMessage: isolated.map((r) => r.usPerMessageProcessed) },
    await runSize(4, 20, 2, 100, verifyBefore),
    ...(args.includes('--small') ? [] : [await runSize(100, 100, 8, 5, verifyBefore)]),
  ]
  // Timed again after the runs: the ratio uses the mean, and a large spread says the machine was busy.
  const verifyAfter = ed25519VerifyUs()
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
      `${s.validators} validators, ${s.miners} miners, ${s.subnets} subnets, ${s.isolated ? 'each validator verifying on its own' : 'verifications shared'}, to height ${s.heights}: ${s.wallS} s wall (${s.simulatedSPerWallS} simulated s per wall s); ` +
        `${s.messagesProcessedPerHeightPerValidator} messages processed per height per validator, ${s.usPerMessageProcessed} µs CPU each ` +
        `= ${s.perMessageOverEd25519Verify} × one ed25519 verification (${s.messageCpuMsPerHeightPerValidator} ms per height per validator; ` +
        `${s.consensusCpuMsPerHeightPerValidator} ms with client transactions' checks)` +
        (s.runsUsPerMessage === undefined ? '' : `; the median of runs at ${s.runsUsPerMessage.join(', ')} µs`),
    )
  console.log(`machine: load ${result.machine.loadAverage1m}, ${result.machine.cores} cores`)
}
