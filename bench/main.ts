/**
 * `npm run bench -- <suite> [--json]`: benchmarks that print ratios measured side by side in
 * one run. Suites register here as they land.
 */
import { runChainBench } from './chain.ts'
import { runConsensusBench } from './consensus.ts'
import { runMlBench } from './ml.ts'
import { runNetBench } from './net.ts'

const suites: Record<string, (json: boolean, args: readonly string[]) => Promise<void>> = {
  chain: runChainBench,
  consensus: runConsensusBench,
  ml: runMlBench,
  net: runNetBench,
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
