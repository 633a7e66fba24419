/**
 * The aggregator role: a validator the chain drew for an attempt at aggregating a (window,
 * subnet) aggregates it once the chain says it is due: every submission of it settled and the
 * subnet's pointer final (windows.ts), within the attempt's deadline. The role machine only
 * watches the blocks; each due (window, subnet, attempt) is its own `aggregationMachine`
 * (aggregate-work.ts), spawned side by side: their fetches overlap, and one slow holder does
 * not make the other subnets miss the deadline. An attempt is tried once; when it fails (or
 * its aggregate is slashed) the chain draws another validator for the next attempt, and a node
 * drawn for a later attempt of a (window, subnet) it already tried for another does it again.
 * A gradient not served in time does not fail the attempt: it is left out and declared
 * unavailable (aggregate-work.ts).
 *
 *   watching (on each block: spawn the aggregations now due to this node; collect their results)
 */
import { assign, enqueueActions, setup, stopChild } from 'xstate'
import type { KeyPair } from '../../chain/keys.ts'
import type { ChainReader } from '../../chain/reader.ts'
import {
  type AggregationComponents,
  type AggregationResult,
  acceptedClaims,
  aggregationFetchDeadlineMs,
  aggregationMachine,
} from './aggregate-work.ts'
import type { BlockEvent } from './block-event.ts'
import { remembered } from './bounded-memory.ts'
import { childIdOf } from './finished-child.ts'

export interface AggregatorComponents extends AggregationComponents {
  readonly chain: Pick<ChainReader, 'openAggregations' | 'claims' | 'adapterPointer' | 'params'>
  readonly key: Pick<KeyPair, 'address'>
}

interface AggregatorContext {
  readonly components: AggregatorComponents
  /** The `window/subnet/attempt` triples already started (each attempt is tried once). */
  readonly started: ReadonlyMap<string, true>
  /** The finished aggregations by `window/subnet` (the new adapter CID of those submitted). */
  readonly aggregated: ReadonlyMap<string, AggregationResult>
}

/**
 * What to start after block `height`: the aggregations the chain has due to this node (drawn
 * for their current attempt, deadline not passed) and not started yet.
 */
export function aggregationsDue(
  components: AggregatorComponents,
  height: number,
  started: ReadonlyMap<string, true>,
): { key: string; window: number; subnet: number; attempt: number }[] {
  const { chain, key } = components
  return chain
    .openAggregations()
    .filter((a) => a.stage === 'due' && a.aggregator === key.address && height < (a.deadline ?? 0))
    .map((a) => ({
      key: `${a.window}/${a.subnet}/${a.attempt}`,
      window: a.window,
      subnet: a.subnet,
      attempt: a.attempt,
    }))
    .filter((job) => !started.has(job.key))
}

type DoneEvent = { type: `xstate.done.actor.${string}`; output: AggregationResult }

export const aggregatorMachine = setup({
  types: {
    input: {} as AggregatorComponents,
    context: {} as AggregatorContext,
    events: {} as BlockEvent | DoneEvent,
  },
  actors: { aggregation: aggregationMachine },
}).createMachine({
  id: 'aggregator',
  context: ({ input }) => ({ components: input, started: new Map(), aggregated: new Map() }),
  initial: 'watching',
  states: {
    watching: {
      on: {
        block: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            let started = context.started
            for (const job of aggregationsDue(context.components, event.height, started)) {
              started = remembered(started, job.key, true)
              const claims = acceptedClaims(context.components.chain.claims(job.window), job.subnet)
              // Nothing accepted: nothing to aggregate (the chain marks such a window done itself).
              if (claims.length === 0) continue
              enqueue.spawnChild('aggregation', {
                id: `aggregation-${job.window}-${job.subnet}${job.attempt === 0 ? '' : `-${job.attempt}`}`,
                input: {
                  components: context.components,
                  window: job.window,
                  subnet: job.subnet,
                  claims,
                  pointer: context.components.chain.adapterPointer(job.subnet),
                  fetchDeadlineMs: aggregationFetchDeadlineMs(context.components.chain.params),
                },
              })
            }
            enqueue.assign({ started })
          }),
        },
        'xstate.done.actor.*': {
          actions: [
            assign({
              aggregated: ({ context, event }) =>
                remembered(context.aggregated, `${event.output.window}/${event.output.subnet}`, event.output),
            }),
            stopChild(({ event }) => childIdOf(event)),
          ],
        },
      },
    },
  },
})
