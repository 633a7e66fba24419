/**
 * A node's event log of its actors: the inspection stream of the node's actor system (role
 * machines, their windows and tasks) and of the consensus actor, kept as a ring of recent
 * records (`GET /events`) and logged at debug level. A snapshot is recorded when an actor's
 * state changes, not on every event it takes (a block reaches every actor); the consensus
 * actor is recorded when its state, height or round changes, not on every vote.
 */
import type { AnyActorRef, InspectionEvent } from 'xstate'
import type { Clock } from '../runtime/clock.ts'
import type { Logger } from '../runtime/logger.ts'

/** Events every block brings to every actor (a block, the pointer the serving role reads at each): not news. */
const ROUTINE_EVENTS = new Set(['block', 'model.pointer'])

/** Records kept for `/events` (the oldest go first). */
const MAX_ACTOR_EVENTS = 500

export interface ActorEventRecord {
  readonly atMs: number
  readonly actor: string
  readonly kind: 'snapshot' | 'event'
  readonly event?: string
  readonly state?: unknown
}

/** What of the consensus actor's context the log shows. */
interface ConsensusCore {
  readonly core?: { readonly tip: { readonly height: number }; readonly round: number } | null
}

export class ActorEventLog {
  /** The most recent records, oldest first. */
  readonly events: ActorEventRecord[] = []
  readonly #clock: Clock
  readonly #log: Logger
  /** The last state recorded per live actor (by session id): an actor that ends is forgotten. */
  readonly #lastState = new Map<string, string>()

  constructor(components: { readonly clock: Clock; readonly logger: Logger }) {
    this.#clock = components.clock
    this.#log = components.logger.child({ component: 'actors' })
  }

  record(r: Omit<ActorEventRecord, 'atMs'>): void {
    const full = { atMs: this.#clock.nowMs(), ...r }
    this.events.push(full)
    if (this.events.length > MAX_ACTOR_EVENTS) this.events.shift()
    this.#log.debug(full, 'actor event')
  }

  /** The inspector of the node's actor system: state changes, and every event but the routine ones. */
  readonly inspectRoles = (ev: InspectionEvent): void => {
    const ref = ev.actorRef as AnyActorRef
    if (ev.type === '@xstate.snapshot') {
      const snapshot = ev.snapshot as { value?: unknown; status?: string }
      this.#changed(ref, JSON.stringify(snapshot.value ?? null), snapshot.status, () =>
        this.record({ actor: ref.id, kind: 'snapshot', event: ev.event.type, state: snapshot.value }),
      )
    } else if (
      ev.type === '@xstate.event' &&
      !ROUTINE_EVENTS.has(ev.event.type) &&
      !ev.event.type.startsWith('xstate.')
    ) {
      this.record({ actor: ref.id, kind: 'event', event: ev.event.type })
    }
  }

  /** The inspector of the consensus actor: its state, height and round as they change. */
  readonly inspectConsensus = (ev: InspectionEvent): void => {
    if (ev.type !== '@xstate.snapshot') return
    const ref = ev.actorRef as AnyActorRef
    const snapshot = ev.snapshot as { value?: unknown; status?: string; context?: ConsensusCore }
    // Only the consensus machine itself (the one with a core), not the actors it invokes for its IO.
    if (snapshot.context === undefined || !('core' in snapshot.context)) return
    const core = snapshot.context?.core ?? null
    const state = { value: snapshot.value, height: core?.tip.height ?? null, round: core?.round ?? null }
    this.#changed(ref, JSON.stringify(state), snapshot.status, () =>
      this.record({ actor: 'validator', kind: 'snapshot', event: ev.event.type, state }),
    )
  }

  #changed(ref: AnyActorRef, state: string, status: string | undefined, record: () => void): void {
    const key = ref.sessionId
    if (this.#lastState.get(key) !== state) record()
    if (status === undefined || status === 'active') this.#lastState.set(key, state)
    else this.#lastState.delete(key)
  }
}
