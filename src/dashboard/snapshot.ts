/**
 * The page's picture of the network at one poll (collector.ts builds it, the browser draws it):
 * plain JSON, every text field already checked against the node answers' schemas.
 */

export interface NodeView {
  readonly name: string
  readonly up: boolean
  /** Address and roles as the node last answered (kept while it is down). */
  readonly address: string | null
  readonly roles: readonly string[]
  readonly height: number | null
  readonly window: number | null
  readonly peers: number | null
  /** Consensus round at the current height (validators only). */
  readonly round: number | null
  /** Time between the node's last two blocks (ms), from the block times it recorded. */
  readonly blockIntervalMs: number | null
  /** Block time of its last block (ms since the epoch, the proposer's clock). */
  readonly lastBlockTimeMs: number | null
  readonly tokensTrained: number | null
  /** Resident memory of the node's process (bytes), from its `/metrics`. */
  readonly memoryBytes: number | null
  /** p99 event-loop lag of the node's process (ms), from its `/metrics`: a busy node answers late. */
  readonly eventLoopLagMs: number | null
}

/** One subnet's task of one shard: its replicas, who committed, and where their claims stand. */
export interface PipelineStage {
  readonly subnet: number
  readonly taskId: string
  readonly miners: readonly string[]
  readonly committed: readonly string[]
  /** Claim status per replica that revealed (owner → status). */
  readonly claims: Readonly<Record<string, string>>
}

/** A shard's path through the subnets, with which replica sends activations to which. */
export interface PipelineView {
  readonly shard: number
  readonly stages: readonly PipelineStage[]
  readonly links: readonly { readonly from: string; readonly to: string; readonly fromSubnet: number }[]
}

export interface ClaimCounts {
  readonly window: number
  readonly revealed: number
  readonly accepted: number
  readonly flagged: number
  readonly challenged: number
  /** Convicted: slashed after a dispute. */
  readonly slashed: number
  readonly aggregates: number
}

export interface WindowView {
  readonly id: number
  readonly openHeight: number
  readonly closeHeight: number
  readonly aggregator: string | null
  readonly tasks: number
  readonly commits: number
  readonly reveals: number
  readonly pipelines: readonly PipelineView[]
  /** Shards of the window beyond the pipelines drawn. */
  readonly pipelinesNotShown: number
}

export interface DisputeView {
  readonly id: string
  readonly kind: string
  readonly claimId: string
  readonly owner: string | null
  readonly challenger: string
  readonly bond: string
  /** l2, l3, resolved or lapsed. */
  readonly stage: string
  readonly attempt: number
  readonly verifier: string | null
  readonly panel: readonly string[]
  readonly votes: Readonly<Record<string, string>>
  readonly outcome: string | null
  readonly openedHeight: number
  readonly settledHeight: number | null
  /** Who lost stake or bond over it: the owner when convicted, the challenger when refuted, and penalized duties. */
  readonly slashed: readonly string[]
  /** Stake of each party (decimal ur3mes), as the chain holds it now. */
  readonly stakes: Readonly<Record<string, string>>
}

export interface FaultView {
  readonly action: string
  readonly targets: readonly string[]
  readonly heightAtFire: number
  readonly firedAtMs: number
}

export interface InvariantView {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

export interface DashboardSnapshot {
  readonly title: string
  /** 'testnet', 'chaos', or 'nodes' (nodes started by hand). */
  readonly kind: string
  /** Since the dashboard started (ms). */
  readonly elapsedMs: number
  /** The testnet's stage (setup, start, run, settle, check, stop), null for `--nodes`. */
  readonly stage: string | null
  readonly height: number
  /** Name (or address) of the latest block's proposer. */
  readonly proposer: string | null
  readonly nodes: readonly NodeView[]
  readonly window: WindowView | null
  readonly claims: readonly ClaimCounts[]
  readonly disputes: readonly DisputeView[]
  readonly supply: { readonly minted: string; readonly slashed: string } | null
  /** Held-out loss after each move of the model, from the serving node. */
  readonly loss: readonly { readonly window: number; readonly height: number; readonly loss: number }[]
  /** [seconds since start, tokens trained per second over the network] per poll. */
  readonly tokensPerSecond: readonly (readonly [number, number])[]
  /** [seconds since start, highest height] per poll. */
  readonly heights: readonly (readonly [number, number])[]
  /** Chaos runs: the faults fired so far. */
  readonly faults: readonly FaultView[] | null
  /** Chaos runs: each invariant's result, once checked. */
  readonly invariants: readonly InvariantView[] | null
  /** True when no node answered the chain queries at this poll (the chain view is the last one had). */
  readonly chainStale: boolean
}
