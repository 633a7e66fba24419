/**
 * Long-running ML jobs (pretraining, fine-tuning, golden checks) as plain data, so that they
 * can run in a worker thread: the node's main thread stays responsive while a job trains.
 */
export interface FinetuneJob {
  readonly kind: 'finetune'
  readonly backend: string
  /** Folder of the backbone artifact (manifest + CID-named layer files). */
  readonly backboneDir: string
  readonly steps: number
  readonly sequences: number
  readonly tokens: number
  readonly seed: string
  readonly lr: number
  /** Plain text files to fine-tune on; default: the fiction genres of the Brown Corpus. */
  readonly dataFiles?: readonly string[]
  /** Where to write the trained adapters bundle. */
  readonly outFile?: string
  readonly evalTokens: number
}

export interface PretrainJob {
  readonly kind: 'pretrain'
  readonly backend: string
  readonly config: string
  readonly outDir: string
  readonly steps: number
  readonly sequences: number
  readonly tokens: number
  readonly seed: string
  readonly lr: number
  readonly checkpointEvery: number
  readonly evalTokens: number
  /** The command line that started the job, recorded in the artifact's provenance. */
  readonly command: string
}

export interface CheckJob {
  readonly kind: 'check'
  readonly backends: readonly string[]
  readonly cases: number
  /** Rewrite the committed golden hashes from the ts backend instead of checking them. */
  readonly updateGolden: boolean
}

export type Job = FinetuneJob | PretrainJob | CheckJob

export type JobEvent =
  | {
      readonly type: 'progress'
      readonly step: number
      readonly steps: number
      readonly loss: number
      readonly tokensPerSecond: number
    }
  | { readonly type: 'log'; readonly message: string }

export interface FinetuneResult {
  readonly before: number
  readonly after: number
  readonly relativeImprovement: number
  readonly tokensPerSecond: number
  readonly backend: string
  readonly steps: number
  readonly adaptersCid?: string
  readonly adaptersFile?: string
}

export interface PretrainResult {
  readonly steps: number
  readonly resumedFrom: number
  readonly heldOutLoss: number
  readonly uniformLoss: number
  readonly tokensPerSecond: number
  readonly backend: string
  readonly outDir: string
  readonly layerCids: readonly string[]
}

export interface CheckResult {
  readonly cases: number
  readonly backends: readonly string[]
  readonly mismatches: number
  readonly goldenCompared: number
  readonly goldenMismatches: number
  readonly problems: readonly string[]
  readonly details: readonly string[]
}

export type JobResult = FinetuneResult | PretrainResult | CheckResult
