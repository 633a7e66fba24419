/** Counters a node's roles keep (reported by `GET /status` and `GET /metrics`; the sharding figures of the testnet report). */
export interface NodeMetrics {
  /** Bytes of backbone fetched for the stages this node ran. */
  backboneBytes: number
  /** Bytes of adapter states fetched. */
  adapterBytes: number
  tasksRun: number
  submissions: number
  challengesMade: number
  verdicts: number
  /** Tokens of the training batches this node's stages ran forward and backward. */
  tokensTrained: number
  /** Wall time spent computing those stages' forward and backward passes (ms). */
  trainingMs: number
}

export function newNodeMetrics(): NodeMetrics {
  return {
    backboneBytes: 0,
    adapterBytes: 0,
    tasksRun: 0,
    submissions: 0,
    challengesMade: 0,
    verdicts: 0,
    tokensTrained: 0,
    trainingMs: 0,
  }
}
