/** Counters a node's roles keep (reported by `GET /status`; the sharding figures of the testnet report). */
export interface NodeMetrics {
  /** Bytes of backbone fetched for the stages this node ran. */
  backboneBytes: number
  /** Bytes of adapter states fetched. */
  adapterBytes: number
  tasksRun: number
  submissions: number
  challengesMade: number
  verdicts: number
}

export function newNodeMetrics(): NodeMetrics {
  return { backboneBytes: 0, adapterBytes: 0, tasksRun: 0, submissions: 0, challengesMade: 0, verdicts: 0 }
}
