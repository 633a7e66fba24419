/**
 * The runtime components every service is handed, in the js-libp2p style of
 * `(init) => (components) => Service`: a service lists what it uses from here and never
 * reaches for ambient time, randomness or a global logger.
 */
import type { Clock } from './clock.ts'
import type { Logger } from './logger.ts'
import type { SeededRandom } from './random.ts'

export interface RuntimeComponents {
  clock: Clock
  random: SeededRandom
  logger: Logger
}

import { createLogger } from './logger.ts'
import { SeededRandom as Random } from './random.ts'
import { SystemClock } from './system-clock.ts'

export interface RuntimeInit {
  name: string
  /** Seed for the component PRNG. @default 0 */
  seed?: number
  /** @default a SystemClock */
  clock?: Clock
  /** @default 'info' */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
}

export function createRuntimeComponents(init: RuntimeInit): RuntimeComponents {
  const clock = init.clock ?? new SystemClock()
  return {
    clock,
    random: new Random(init.seed ?? 0),
    logger: createLogger({ name: init.name, level: init.logLevel ?? 'info', clock }),
  }
}
