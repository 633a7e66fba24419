/**
 * Running an attack against the victim network: the attack loops until told to stop while the
 * network must commit `during` blocks, then `after` more once it stopped; live memory is
 * measured across the whole of it.
 */
import { AssertionError } from 'node:assert'
import { sleep } from '../../src/runtime/clock.ts'
import { clock } from '../net/helpers.ts'
import { assertMemoryBounded, liveBytes, type ValidatorNetwork } from './network.ts'

export interface AttackOptions {
  /** Blocks every node must commit while the attack runs. @default 3 */
  readonly during?: number
  /** Blocks every node must commit after it stopped. @default 2 */
  readonly after?: number
  readonly timeoutMs?: number
  /** The least time the attack runs, however fast blocks come. @default 4000 */
  readonly minMs?: number
}

/** `attack(running)` repeats its hostile writes while `running()`; returns the memory growth. */
export async function underAttack(
  network: ValidatorNetwork,
  what: string,
  attack: (running: () => boolean) => Promise<void>,
  options: AttackOptions = {},
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 45_000
  const before = liveBytes()
  let running = true
  let failure: unknown
  const attacking = attack(() => running).catch((error: unknown) => {
    // The victim cutting the attacker off mid-write is the expected end of many attacks; an
    // assertion that failed inside the attack is a failed test, reported once the attack ends.
    if (error instanceof AssertionError || !(error instanceof Error)) failure = error
  })
  try {
    await Promise.all([
      network.advance(options.during ?? 3, timeoutMs, `${what}: committing during the attack`),
      sleep(clock, options.minMs ?? 4_000),
    ])
  } finally {
    running = false
    await Promise.race([attacking, sleep(clock, 5_000)])
  }
  if (failure !== undefined) throw failure
  await network.advance(options.after ?? 2, timeoutMs, `${what}: committing after the attack`)
  network.assertAgreement()
  const growth = liveBytes() - before
  assertMemoryBounded(growth, what)
  return growth
}

/** Yield to the event loop between bursts, so the attack competes with the victim rather than starving it outright. */
export async function breathe(ms = 5): Promise<void> {
  await sleep(clock, ms)
}
