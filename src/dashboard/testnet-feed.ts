/**
 * A testnet or chaos run as the dashboard sees it: its node processes (read the way the run
 * reads them, through a Unix socket on `--hosts`), its stage, the faults fired and, once
 * checked, the invariants.
 */
import { DASHBOARD_NODE_REQUEST_TIMEOUT_MS } from '../runtime/limits.ts'
import type { InvariantResult } from '../testnet/invariants.ts'
import type { Testnet } from '../testnet/testnet.ts'
import type { RunFeed } from './collector.ts'
import type { DashboardNode } from './node-source.ts'

export class TestnetFeed implements RunFeed {
  #net: Testnet | undefined
  #stage: string | null = null
  #invariants: readonly InvariantResult[] | undefined

  /** The run's Testnet, once made. */
  attach(net: Testnet): void {
    this.#net = net
  }

  setStage(stage: string): void {
    this.#stage = stage
  }

  setInvariants(results: readonly InvariantResult[]): void {
    this.#invariants = results
  }

  nodes(): readonly DashboardNode[] {
    return (this.#net?.nodes ?? []).map((n) => ({
      name: n.name,
      get: (path: string) => n.get<unknown>(path, DASHBOARD_NODE_REQUEST_TIMEOUT_MS),
    }))
  }

  stage(): string | null {
    return this.#stage
  }

  faults() {
    return (this.#net?.faults ?? []).map((f) => ({
      action: f.fault.action,
      targets: f.targets,
      heightAtFire: f.heightAtFire,
      firedAtMs: f.firedAtMs,
    }))
  }

  invariants(): readonly InvariantResult[] | undefined {
    return this.#invariants
  }
}
