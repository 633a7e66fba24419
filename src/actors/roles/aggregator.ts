/**
 * The aggregator role: a validator the chain picked for a window aggregates each subnet once
 * the window has closed, within the aggregation deadline.
 */
import type { Window } from '../../chain/state.ts'
import type { NodeServices } from '../node-services.ts'
import { aggregateSubnet } from './aggregate-work.ts'
import type { RoleWork } from './role-machine.ts'

export class AggregatorWork implements RoleWork {
  readonly #s: NodeServices
  readonly #tried = new Set<string>()
  /** New adapter CIDs by `window/subnet`. */
  readonly aggregated = new Map<string, string>()

  constructor(services: NodeServices) {
    this.#s = services
  }

  async run(height: number): Promise<void> {
    const s = this.#s
    const current = s.window()
    if (current === null) return
    const deadline = s.chain.chain.state.params.aggregationDeadlineBlocks
    for (let id = Math.max(0, current.id - 2); id < current.id; id++) {
      const w = s.window(id) as Window | null
      if (w === null || !w.closed || w.aggregator !== s.address || height > w.closeHeight + deadline) continue
      // Subnets side by side: their fetches overlap, and one slow holder does not make the
      // other subnets miss the deadline.
      await Promise.all(
        s.subnetIds().map(async (subnet) => {
          const key = `${id}/${subnet}`
          if (this.#tried.has(key)) return
          this.#tried.add(key)
          const cid = await aggregateSubnet(s, id, subnet)
          if (cid !== null) {
            this.aggregated.set(key, cid)
            s.c.logger.info({ window: id, subnet, cid }, 'aggregated')
          }
        }),
      )
    }
  }
}
