/**
 * The aggregator role: a validator the chain picked for a window aggregates each subnet once
 * the window has closed, within the aggregation deadline. The role machine only watches the
 * blocks; each (window, subnet) to aggregate is its own `aggregationMachine` (aggregate-work.ts),
 * spawned side by side: their fetches overlap, and one slow holder does not make the other
 * subnets miss the deadline. A (window, subnet) is tried once: a gradient not served in time
 * is left out (declared unavailable), so only a failure of the aggregator's own leaves the
 * pointer where it was, and the next window's aggregate carries training on.
 *
 *   watching (on each block: spawn the aggregations now due; collect their results)
 */
import { assign, enqueueActions, setup } from 'xstate'
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

export interface AggregatorComponents extends AggregationComponents {
  readonly chain: Pick<ChainReader, 'currentWindow' | 'window' | 'params' | 'subnets' | 'claims' | 'adapterPointer'>
  readonly key: Pick<KeyPair, 'address'>
}

interface AggregatorContext {
  readonly components: AggregatorComponents
  /** The `window/subnet` pairs already started (each is tried once). */
  readonly started: ReadonlyMap<string, true>
  /** The finished aggregations by `window/subnet` (the new adapter CID of those submitted). */
  readonly aggregated: ReadonlyMap<string, AggregationResult>
}

/** What to start at `height`: the closed windows this node aggregates whose deadline has not passed. */
export function aggregationsDue(
  components: AggregatorComponents,
  height: number,
  started: ReadonlyMap<string, true>,
): { key: string; window: number; subnet: number }[] {
  const { chain, key } = components
  const current = chain.currentWindow()
  if (current === null) return []
  const deadline = chain.params.aggregationDeadlineBlocks
  const due: { key: string; window: number; subnet: number }[] = []
  // A window is aggregated after it closes and before its deadline, so only the last two can be due.
  for (let id = Math.max(0, current.id - 2); id < current.id; id++) {
    const w = chain.window(id)
    if (w === null || !w.closed || w.aggregator !== key.address || height > w.closeHeight + deadline) continue
    for (const { id: subnet } of chain.subnets()) {
      const pair = `${id}/${subnet}`
      if (!started.has(pair)) due.push({ key: pair, window: id, subnet })
    }
  }
  return due
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
              // Nothing accepted: nothing to aggregate, and the pointer stays.
              if (claims.length === 0) continue
              enqueue.spawnChild('aggregation', {
                id: `aggregation-${job.window}-${job.subnet}`,
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
          actions: assign({
            aggregated: ({ context, event }) =>
              remembered(context.aggregated, `${event.output.window}/${event.output.subnet}`, event.output),
          }),
        },
      },
    },
  },
})
