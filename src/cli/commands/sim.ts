/**
 * `r3mes sim`: a whole network in one process (src/sim), replayable from a seed. Prints the
 * report of each run; with `--seeds K` runs K seeds from `--seed` on and lists the ones that
 * broke an invariant. Exits 1 when any run broke one, naming the seed that reproduces it.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { machineMonotonicMs } from '../../runtime/system-clock.ts'
import { type FaultFile, parseFaultFile } from '../../sim/faults.ts'
import { formatReport, parseStopCondition } from '../../sim/report.ts'
import { runSimulation, type SimulationReport } from '../../sim/simulation.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { intOption, numberOption } from '../options.ts'

function readFaults(file: string): FaultFile {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new InvalidArgumentError(`--faults ${file}: cannot read it (${(error as Error).message})`, {
      option: 'faults',
    })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new InvalidArgumentError(`--faults ${file}: not JSON (${(error as Error).message})`, { option: 'faults' })
  }
  return parseFaultFile(json, file)
}

async function run(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  if (args.positionals.length > 0) throw new InvalidArgumentError(`unexpected arguments: ${args.positionals.join(' ')}`)
  const v = args.values
  const validators = intOption(v, 'validators', 4, 1, 1000)
  const miners = intOption(v, 'miners', 8, 0, 100_000)
  const subnets = intOption(v, 'subnets', 2, 1, 64)
  const windows = intOption(v, 'windows', 3, 1, 10_000)
  const firstSeed = intOption(v, 'seed', 1, 0, 0xffff_ffff)
  const seeds = intOption(v, 'seeds', 1, 1, 1_000_000)
  const cheaterShare = numberOption(v, 'cheaters', 0.1, 0, 0.5)
  const challengers = v.challengers === undefined ? undefined : intOption(v, 'challengers', 2, 1, 10_000)
  if (v.replicated === true && v.witnesses !== undefined)
    throw new InvalidArgumentError(
      '--replicated and --witnesses: give one (--replicated is every validator a witness)',
      {
        option: 'witnesses',
      },
    )
  const witnesses = v.replicated === true ? validators : intOption(v, 'witnesses', 3, 0, validators)
  if (miners > 0 && miners < 2 * subnets)
    throw new InvalidArgumentError(`--miners ${miners}: at least 2 per subnet (${2 * subnets}), or 0`, {
      option: 'miners',
    })
  const until = typeof v.until === 'string' ? parseStopCondition(v.until) : undefined
  const faultFile = typeof v.faults === 'string' ? readFaults(v.faults) : undefined
  const printBlocks = v.blocks === true
  const reports: SimulationReport[] = []
  const failed: number[] = []
  // A run yields to the event loop only for its role machines' turns: Ctrl-C ends the process at once.
  io.blocking?.()
  for (let k = 0; k < seeds; k++) {
    if (io.signal?.aborted === true) return 130
    const seed = firstSeed + k
    const wallStart = machineMonotonicMs()
    const report = await runSimulation({
      seed,
      validators,
      miners,
      subnets,
      windows,
      cheaterShare,
      witnesses,
      ...(challengers === undefined ? {} : { challengers }),
      ...(faultFile === undefined ? {} : { faults: faultFile }),
      hostMs: machineMonotonicMs,
      ...(until === undefined ? {} : { until }),
    })
    const wallMs = machineMonotonicMs() - wallStart
    reports.push(report)
    if (report.violations.length > 0) failed.push(seed)
    if (seeds === 1 || report.violations.length > 0) for (const line of formatReport(report, wallMs)) io.out(line)
    else
      io.out(
        `seed ${seed}: ok, ${report.heights} heights, digest ${report.digest.slice(0, 16)}, cheats ${report.game.caught}/${report.game.cheats} caught`,
      )
    if (printBlocks) for (const line of report.blocks) io.out(`  block ${line}`)
  }
  if (seeds > 1) {
    const cheats = reports.reduce((n, r) => n + r.game.cheats, 0)
    const caught = reports.reduce((n, r) => n + r.game.caught, 0)
    const slashed = reports.reduce((n, r) => n + r.game.honestSlashed, 0)
    io.out(
      `${seeds} seeds: ${failed.length} failed${failed.length > 0 ? ` (${failed.join(', ')})` : ''}; cheats ${caught}/${cheats} caught; honest slashed ${slashed}`,
    )
  }
  const jsonFile = v.json
  if (typeof jsonFile === 'string')
    writeFileSync(jsonFile, `${JSON.stringify(seeds === 1 ? reports[0] : reports, null, 2)}\n`)
  if (failed.length > 0) {
    const faults = typeof v.faults === 'string' ? ` --faults ${v.faults}` : ''
    io.err(
      `r3mes sim: invariants broken for seed${failed.length > 1 ? 's' : ''} ${failed.join(', ')}; reproduce with: r3mes sim --validators ${validators} --miners ${miners} --subnets ${subnets} --windows ${windows} --seed ${failed[0]}${faults}`,
    )
    return ExitCode.failure
  }
  return ExitCode.ok
}

export const simCommand: Command = {
  name: 'sim',
  summary: 'simulate a whole network in one process, replayable from a seed',
  usage:
    'r3mes sim [--validators N] [--miners M] [--subnets S] [--windows W] [--seed N] [--seeds K] [--cheaters F] [--challengers C] [--faults FILE] [--json FILE] [--until EVENT] [--witnesses K | --replicated] [--blocks]',
  help: `Runs N validators (the real consensus node and chain application, in memory) over a
simulated network on a simulated clock, with M miners, verifiers, arbiters, challengers
and aggregators as the nodes' own role machines (training and re-execution by a
deterministic cost model), all sending real transactions; a share of the miners reveal
wrong gradients. Invariants are checked
after every block: one block and one app hash per height, token conservation, no honest
staker slashed, every wrong submission slashed within the longest game the parameters allow,
blocks again within a minute once faults heal. The same seed gives the same run byte for
byte (the digest covers every committed block).

Options:
  --validators N   validators (default 4)
  --miners M       miners, spread over the subnets (default 8; 0, or at least 2 per subnet)
  --subnets S      subnets (default 2)
  --windows W      training windows the miners work (default 3); the run goes on until
                   their games have settled
  --seed N         seed of the run (default 1)
  --seeds K        run K seeds from --seed on and list the ones that fail (default 1)
  --cheaters F     share of miners that cheat, 0 to 0.5 (default 0.1)
  --challengers C  honest challengers (default one per 5 miners, at least 2); griefers and
                   accomplices come on top, as the fault file draws them
  --faults FILE    JSON fault file: network {baseLatencyMs, jitterMs, loss, duplicate,
                   uploadBytesPerS}, partitions [{atS, forS, groups}], crashes [{validator,
                   atS, forS}], random {partitions, crashes, maxS} drawn from the seed
  --until EVENT    stop at height:N, window:N, cheat-caught or violation (the default)
  --json FILE      write the report (a list of reports with --seeds) as JSON
  --witnesses K    validators 0 to K-1 execute every block on their own chain application;
                   the others share one execution of each block, which changes nothing the
                   chain computes (same digest) but costs one execution instead of N
                   (default 3, at most N)
  --replicated     every validator executes every block itself (as --witnesses N)
  --blocks         print every committed block: height, block hash, app hash after it`,
  options: {
    validators: { type: 'string' },
    miners: { type: 'string' },
    subnets: { type: 'string' },
    windows: { type: 'string' },
    seed: { type: 'string' },
    seeds: { type: 'string' },
    cheaters: { type: 'string' },
    challengers: { type: 'string' },
    faults: { type: 'string' },
    until: { type: 'string' },
    json: { type: 'string' },
    blocks: { type: 'boolean' },
    witnesses: { type: 'string' },
    replicated: { type: 'boolean' },
  },
  allowPositionals: true,
  run,
}
