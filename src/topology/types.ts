/**
 * A loaded topology, and the node plans it expands to. `Topology` is the file after defaults,
 * with chain parameters resolved against the preset and amounts in ur3mes; node references are
 * still as written (names or selectors) and are resolved by expand.ts.
 */
import type { Params } from '../chain/params.ts'
import type { NodeRole } from './roles.ts'
import type { Backend, FaultEntry, MisbehaviourKind, TopologyFile } from './schema.ts'

export interface HostedRole {
  /** Dedicated nodes holding only this role. */
  readonly count: number
  /** Existing nodes (validators, miners) that also hold it, as written. */
  readonly on: readonly string[]
  /** Stake of each dedicated node, ur3mes. */
  readonly stake: bigint
}

export interface Topology {
  /** The file it was read from (or the label given to an in-memory text). */
  readonly file: string
  readonly name: string
  readonly description: string
  readonly seed: number
  readonly model: string
  readonly backend: Backend
  readonly chain: { readonly id: string; readonly preset: TopologyFile['chain']['preset']; readonly params: Params }
  /** Stake of validator-i, ur3mes, one entry per validator; `listed` when the file gave one stake each. */
  readonly validators: { readonly stakes: readonly bigint[]; readonly listed: boolean }
  readonly subnets: readonly {
    readonly layers: readonly [number, number]
    readonly miners: number
    /** Subnet peers seeding this subnet (no training, no stake). */
    readonly peers: number
    /** ur3mes */
    readonly minerStake: bigint
  }[]
  readonly verifiers: HostedRole
  readonly arbiters: HostedRole
  readonly aggregator: { readonly on: readonly string[] }
  readonly serving: { readonly count: number; readonly port: number }
  readonly challengers: readonly {
    readonly nodes: readonly string[]
    readonly fraction: number
    /** Inner steps of a checked task re-executed (0: the whole task). */
    readonly steps: number
  }[]
  readonly misbehaviours: readonly {
    readonly node: string
    readonly kind: MisbehaviourKind
    readonly fromWindow: number
  }[]
  readonly network: TopologyFile['network']
  readonly faults: readonly FaultEntry[]
  readonly run: { readonly windows: number; readonly timeoutMs: number; readonly recoveryBlocks: number }
}

export interface LinkConditions {
  readonly delayMs: number
  readonly jitterMs: number
  readonly lossPercent: number
}

export interface NodePlan {
  /** Stable name: validator-<i>, miner-<subnet>-<i>, verifier-<i>, arbiter-<i>, serving-<i>. */
  readonly name: string
  /** Sorted. */
  readonly roles: readonly NodeRole[]
  /** The subnet a miner trains; absent for other nodes. */
  readonly subnet?: number
  /** Stake at genesis, ur3mes; 0 for serving nodes. */
  readonly stake: bigint
  readonly misbehaviours: readonly { readonly kind: MisbehaviourKind; readonly fromWindow: number }[]
  /** Share of submissions this node re-checks, when it is a challenger. */
  readonly challengeFraction?: number
  /** Inner steps of a checked task this node re-executes, when it is a challenger (0: the whole task). */
  readonly spotSteps?: number
  /** HTTP port of a serving node (0: pick a free one). */
  readonly servingPort?: number
  readonly network: LinkConditions
}

/** A fault with its node references resolved to names. */
export interface FaultPlan {
  readonly at: FaultEntry['at']
  readonly action: FaultEntry['action']
  /** Named targets, in plan order; empty with `proposer` alone, or for the defaults of resume, restart and heal. */
  readonly nodes: readonly string[]
  /** Also targets the proposer of the current height when the fault fires. */
  readonly proposer: boolean
  /** Partition sides, each in plan order; every node is in exactly one. */
  readonly groups?: readonly (readonly string[])[]
  readonly skewMs?: number
}

export interface NetworkPlan {
  readonly topology: Topology
  /** Validators, then miners by subnet, verifiers, arbiters, serving nodes. */
  readonly nodes: readonly NodePlan[]
  readonly faults: readonly FaultPlan[]
}
