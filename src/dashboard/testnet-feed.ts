/**
 * A testnet or chaos run as the dashboard sees it: its node processes (read the way the run
 * reads them, through a Unix socket on `--hosts`), its stage, the faults fired and, once
 * checked, the invariants.
 */
import { DASHBOARD_NODE_REQUEST_TIMEOUT_MS } from '../runtime/limits.ts'
import type { InvariantResult } from '../testnet/invariants.ts'
import type { Testnet } from '../testnet/testnet.ts'
import type { RunFeed } from './collector.ts'
import { type DashboardNode, type HttpNodeComponents, httpNode } from './node-source.ts'

export class TestnetFeed implements RunFeed {
  readonly #components: HttpNodeComponents
  #net: Testnet | undefined
  #stage: string | null = null
  #invariants: readonly InvariantResult[] | undefined

  constructor(components: HttpNodeComponents) {
    this.#components = components
  }

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
    const onLan = this.#net?.lan !== undefined
    return (this.#net?.nodes ?? []).map((n) => {
      const api = n.ready?.api
      // The process figures come from `/metrics` as text, over TCP: on `--hosts` the node's
      // address is inside its namespace and only its JSON routes are read (through its socket).
      const text = !onLan && api !== undefined && n.running && !n.paused ? httpNode(api, this.#components) : undefined
      return {
        name: n.name,
        get: (path: string) => n.get<unknown>(path, DASHBOARD_NODE_REQUEST_TIMEOUT_MS),
        ...(text?.getText !== undefined ? { getText: text.getText } : {}),
      }
    })
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
