/**
 * The node's actor system: one machine per role the node hosts, spawned under the role's name
 * (its id and system id, so `/events` and `/status` name it), each handed every executed
 * block. Stopping the node machine stops every role machine, and their children with them.
 */
import { type AnyActorLogic, type AnyActorRef, enqueueActions, setup } from 'xstate'
import type { HostedRole } from './node-roles.ts'
import type { BlockEvent } from './roles/block-event.ts'

export type NodeEvent = BlockEvent | { type: 'stop' }

export const nodeMachine = setup({
  types: {
    input: {} as { roles: readonly HostedRole[] },
    context: {} as { roles: readonly AnyActorRef[]; height: number },
    events: {} as NodeEvent,
  },
}).createMachine({
  id: 'node',
  context: ({ input, spawn }) => {
    // Each role brings its own machine, so the logic is not one declared in `setup`.
    const spawnRole = spawn as unknown as (
      logic: AnyActorLogic,
      options: { id: string; systemId: string; input: unknown },
    ) => AnyActorRef
    return {
      height: 0,
      roles: input.roles.map((r) => spawnRole(r.logic, { id: r.name, systemId: r.name, input: r.input })),
    }
  },
  initial: 'running',
  states: {
    running: {
      on: {
        block: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            enqueue.assign({ height: event.height })
            for (const ref of context.roles) enqueue.sendTo(ref, event)
          }),
        },
        stop: 'stopped',
      },
    },
    // Final: the system stops every role machine, and with them their windows and tasks.
    stopped: { type: 'final' },
  },
})
