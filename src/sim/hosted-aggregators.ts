/**
 * The aggregators of a simulated network, run by the machine the nodes run: one
 * `aggregatorMachine` (src/actors/roles/aggregator.ts) per validator, handed every block as a
 * node hands its roles one. It decides as on a node which aggregations are due to it, spawns
 * one `aggregationMachine` (aggregate-work.ts) per due (window, subnet, attempt), declares the
 * gradients not served in time unavailable, stores the new state and sends the aggregate. Only
 * what lies outside a node's machines is the simulation's:
 * - the chain: the hosted machines' view (hosted-roles.ts, `SimChainView`), a `ChainReader`
 *   over the state of the validator that executed the block first, its open aggregations and
 *   each window's claims and tasks listed once a block for all machines;
 * - transactions: each validator's outbox (participants.ts, sent as `TxSender` sends them);
 * - content: `SimContent` (content.ts); the new state is published there;
 * - the computation (`AggregateComputation`): each claim's gradient fetched as the node fetches
 *   content (availability.ts: unavailable when nobody serves it within the aggregation's fetch
 *   deadline), then the cost model's time (cost-model.ts, `aggregationMs`) and its adapter
 *   state (`adapterBytesOf` over the claims aggregated). The node fetches once per task from
 *   all its replicas (they store the same bytes); the simulation's content makes a withheld
 *   claim unavailable even where a replica stored the same bytes (its owner alone decides,
 *   content.ts), so here each claim is asked for, its owner first, as a verifier asks for it.
 * A wrong aggregator is the machine with its `wrongAggregate` misbehaviour, as a node configured
 * so: its computation gives another state (`wrongAdapterBytesOf`). The machines wait on promises
 * the simulated clock settles, and act at the simulated instant their work settled (turns.ts).
 */
import { type Actor, createActor } from 'xstate'
import type { AggregateComputation } from '../actors/roles/aggregate-work.ts'
import { type AggregatorComponents, aggregatorMachine } from '../actors/roles/aggregator.ts'
import { fetchClaimContent } from '../actors/roles/availability.ts'
import type { TxResultInfo } from '../actors/tx-sender.ts'
import type { KeyPair } from '../chain/keys.ts'
import type { ChainState, Claim } from '../chain/state.ts'
import type { Msg } from '../chain/tx.ts'
import type { Logger } from '../runtime/logger.ts'
import type { Misbehaviour } from '../topology/roles.ts'
import type { SimContent } from './content.ts'
import { aggregationMs, type CostModel } from './cost-model.ts'
import { outboxSender, type SimChainView } from './hosted-roles.ts'
import { adapterBytesOf, wrongAdapterBytesOf } from './misbehaviours.ts'
import type { Turns } from './turns.ts'

export interface HostedAggregatorsInit {
  /** Validators' account keys: each hosts an aggregator, as a validator node does. */
  readonly validators: readonly KeyPair[]
  /** Validators whose aggregates name a wrong adapter state (`wrongAggregate`). */
  readonly wrongAggregators: ReadonlySet<string>
  readonly costModel: CostModel
}

export interface HostedAggregatorsComponents {
  /** The hosted machines' chain view (hosted-roles.ts): its lists are made once a block for all of them. */
  readonly chain: SimChainView
  readonly turns: Turns
  readonly content: SimContent
  /** Send `msg` from `address`'s account; `settled` gets the chain's answer (as `TxSender.send` resolves). */
  readonly send: (address: string, msg: Msg, settled: (result: TxResultInfo) => void) => void
  readonly logger: Logger
}

/** What the hosted aggregators did, for the report. */
export interface HostedAggregatorStats {
  /** Accepted submissions the machines declared unavailable (nobody served the gradient in time). */
  declaredUnavailable: number
}

export class HostedAggregators {
  readonly stats: HostedAggregatorStats = { declaredUnavailable: 0 }
  readonly #actors: Actor<typeof aggregatorMachine>[] = []
  readonly #chain: SimChainView

  constructor(init: HostedAggregatorsInit, c: HostedAggregatorsComponents) {
    this.#chain = c.chain
    const chain = c.chain
    const stats = this.stats
    for (const key of init.validators) {
      const wrong = init.wrongAggregators.has(key.address)
      const components: AggregatorComponents = {
        chain,
        aggregation: simAggregation(key.address, { chain, content: c.content, turns: c.turns, init, stats }),
        content: c.content,
        tx: outboxSender(c, key.address),
        key,
        logger: c.logger,
        misbehaviours: new Set<Misbehaviour>(wrong ? ['wrongAggregate'] : []),
      }
      this.#actors.push(createActor(aggregatorMachine, { id: `aggregator:${key.address}`, input: components }).start())
    }
  }

  /** Block `height` was executed and `state` is the chain after it: every machine gets the block. */
  onBlock(state: ChainState, height: number): void {
    this.#chain.show(state, height)
    for (const actor of this.#actors) actor.send({ type: 'block', height })
  }

  stop(): void {
    for (const actor of this.#actors) actor.stop()
  }
}

/**
 * The simulation's `AggregateComputation` for `aggregator`: every claim's gradient asked for at
 * once (a withheld one must not eat the others' time), each as `fetchClaimContent` asks for it;
 * then the cost model's time and adapter state over the claims that came.
 */
function simAggregation(
  aggregator: string,
  s: {
    chain: SimChainView
    content: SimContent
    turns: Turns
    init: HostedAggregatorsInit
    stats: HostedAggregatorStats
  },
): AggregateComputation {
  return {
    fetch: async (job, { deadlineMs, signal }) => {
      const options = { deadlineMs, ...(signal === undefined ? {} : { signal }) }
      const fetched = await Promise.allSettled(
        job.claims.map((claim) => fetchClaimContent({ chain: s.chain, content: s.content }, claim, options)),
      )
      signal?.throwIfAborted()
      const included: Claim[] = []
      const unavailable: Claim[] = []
      for (const [i, claim] of job.claims.entries())
        (fetched[i]?.status === 'fulfilled' ? included : unavailable).push(claim)
      s.stats.declaredUnavailable += unavailable.length
      return {
        included,
        unavailable,
        compute: ({ wrong }) =>
          s.turns.after(
            aggregationMs(s.init.costModel),
            () =>
              wrong
                ? wrongAdapterBytesOf(aggregator, job.window, job.subnet)
                : adapterBytesOf(
                    job.window,
                    job.subnet,
                    included.map((c) => c.id),
                  ),
            signal,
          ),
      }
    },
  }
}
