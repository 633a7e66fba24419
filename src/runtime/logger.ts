/**
 * Structured logging (pino). Timestamps come from the component clock, so a simulated run
 * logs simulated time and two runs from one seed log the same lines.
 */
import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino'
import type { Clock } from './clock.ts'

export type { Logger }

export interface LoggerInit {
  /** Name of the process or node, e.g. `validator-0`. */
  name: string
  /** @default 'info' */
  level?: LevelWithSilent
  clock: Clock
  /** Where JSON lines go. @default standard error */
  destination?: DestinationStream
}

export function createLogger(init: LoggerInit): Logger {
  const options = {
    name: init.name,
    level: init.level ?? 'info',
    base: undefined,
    timestamp: () => `,"time":${init.clock.nowMs()}`,
  }
  return pino(options, init.destination ?? pino.destination(2))
}
