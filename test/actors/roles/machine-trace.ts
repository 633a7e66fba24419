/**
 * What the role-machine tests observe: the sequence of states each actor of a system went
 * through (by actor id, repeats folded), read from XState's inspection stream, and a silent
 * logger.
 */
import type { AnyActorRef, InspectionEvent } from 'xstate'
import { SimulatedClock } from '../../../src/runtime/clock.ts'
import { createLogger, type Logger } from '../../../src/runtime/logger.ts'

export const silentLogger: Logger = createLogger({ name: 'test', level: 'silent', clock: new SimulatedClock() })

export interface StateTrace {
  /** Pass as `createActor(machine, { inspect })`. */
  readonly inspect: (event: InspectionEvent) => void
  /** The states the actor `id` went through, in order (a state repeated by a self-transition once). */
  statesOf(id: string): string[]
  /** The ids of the actors seen whose id starts with `prefix`. */
  actorsLike(prefix: string): string[]
}

function stateName(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

export function stateTrace(): StateTrace {
  const seen = new Map<string, string[]>()
  return {
    inspect(event) {
      if (event.type !== '@xstate.snapshot') return
      const snapshot = event.snapshot as { value?: unknown }
      if (snapshot.value === undefined) return
      const id = (event.actorRef as AnyActorRef).id
      const states = seen.get(id) ?? []
      const name = stateName(snapshot.value)
      if (states.at(-1) !== name) states.push(name)
      seen.set(id, states)
    },
    statesOf: (id) => seen.get(id) ?? [],
    actorsLike: (prefix) => [...seen.keys()].filter((id) => id.startsWith(prefix)),
  }
}

/** Let the promises and actors started so far run (fakes resolve on the next turns). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
