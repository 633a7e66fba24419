/**
 * `npm run bench -- <suite> [--json]`: benchmarks that print ratios measured side by side in
 * one run. Suites register here as they land; each is imported only when it runs, so a suite
 * needs only its own dependencies (the cuda suite runs on a GPU machine with just src/ml).
 */
type Suite = (json: boolean, args: readonly string[]) => Promise<void>

const suites: Record<string, Suite> = {
  catchup: async (json, args) => (await import('./catchup.ts')).runCatchupBench(json, args),
  chain: async (json) => (await import('./chain.ts')).runChainBench(json),
  consensus: async (json, args) => (await import('./consensus.ts')).runConsensusBench(json, args),
  cuda: async (json, args) => (await import('./cuda.ts')).runCudaBench(json, args),
  dispute: async (json, args) => (await import('./dispute.ts')).runDisputeBench(json, args),
  diloco: async (json, args) => (await import('./diloco.ts')).runDilocoBench(json, args),
  ml: async (json) => (await import('./ml.ts')).runMlBench(json),
  net: async (json) => (await import('./net.ts')).runNetBench(json),
  restart: async (json, args) => (await import('./restart.ts')).runRestartBench(json, args),
  sim: async (json, args) => (await import('./sim.ts')).runSimBench(json, args),
  training: async (json, args) => (await import('./training.ts')).runTrainingBench(json, args),
}

const [suite, ...rest] = process.argv.slice(2)
const json = rest.includes('--json')
const runSuite = suite === undefined ? undefined : suites[suite]
if (runSuite === undefined) {
  const known = Object.keys(suites)
  console.error(
    `usage: npm run bench -- <suite> [--json]; suites available: ${known.length === 0 ? 'none yet' : known.join(', ')}`,
  )
  process.exitCode = 64
} else {
  await runSuite(json, rest)
}
