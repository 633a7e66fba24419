/**
 * `r3mes chaos <scenario.yaml>`: a testnet under its fault schedule and planted misbehaviours,
 * then, once the network has settled, the invariants (src/testnet/invariants.ts). Exits 1
 * when one breaks, printing the seed and file that reproduce the run.
 */
import { writeFileSync } from 'node:fs'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { formatReport } from '../../testnet/report.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { withDashboardPort } from './dashboard.ts'
import { hostsRefused, loadPlan, runAllStages } from './testnet.ts'

async function run(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const [file, ...extra] = args.positionals
  if (file === undefined) throw new InvalidArgumentError('a scenario file is required: r3mes chaos <scenario.yaml>')
  if (extra.length > 0) throw new InvalidArgumentError(`unexpected arguments: ${extra.join(' ')}`)
  const refused = hostsRefused('chaos', args, io)
  if (refused !== undefined) return refused
  const plan = await loadPlan(file, io)
  if (typeof plan === 'number') return plan
  const result = await runAllStages(plan, args, io, true)
  io.out(formatReport(result.report))
  for (const f of result.faults)
    io.out(
      `  fault ${f.fault.action} ${f.targets.join(',')} at height ${f.heightAtFire} (${(f.firedAtMs / 1000).toFixed(1)} s)`,
    )
  const invariants = result.invariants ?? []
  for (const i of invariants) io.out(`  ${i.ok ? 'ok  ' : 'FAIL'} ${i.name}: ${i.detail}`)
  if (args.values.keep === true) io.out(`  run folder (logs, stores): ${result.layout.dir}`)
  const jsonFile = args.values.json
  if (typeof jsonFile === 'string')
    writeFileSync(jsonFile, `${JSON.stringify({ ...result.report, faults: result.faults, invariants }, null, 2)}\n`)
  const broken = invariants.filter((i) => !i.ok)
  const failed = !result.interrupted && (broken.length > 0 || invariants.length === 0)
  if (failed)
    io.err(
      `r3mes chaos: ${broken.length > 0 ? `invariants broken: ${broken.map((i) => i.name).join(', ')}` : 'the invariants were not checked'}; reproduce with: r3mes chaos ${file} (seed ${plan.topology.seed})`,
    )
  await result.finish()
  if (result.interrupted) return 130
  return failed ? ExitCode.failure : ExitCode.ok
}

export const chaosCommand: Command = {
  name: 'chaos',
  summary: 'run a testnet under scheduled faults and check the invariants',
  usage: 'r3mes chaos <scenario.yaml> [--json FILE] [--dir DIR] [--keep] [--hosts] [--dashboard [PORT]]',
  help: `Runs the network a scenario file describes (topology/chaos/ has examples) with its fault
schedule and misbehaving nodes, lets it settle after the last fault, then checks: one block
and one app hash per height on every node, token conservation, every acknowledged submission
on chain, every planted cheat caught, no honest node slashed, recovery within
run.recoveryBlocks after each fault. Exits 1 when an invariant breaks, naming the seed and
file that reproduce it.

Options:
  --json FILE        write the report, the faults fired and the invariant results as JSON
  --dir DIR          run folder (default: a new folder under the system temp folder)
  --keep             keep the run folder (node logs, stores) afterwards
  --log-level LEVEL  node log level in the run folder (default info)
  --hosts            each node in its own network namespace on a virtual LAN (as r3mes testnet)
  --dashboard [PORT] serve a live page of the run (as r3mes testnet), with the fault timeline
                     and each invariant's result`,
  options: {
    json: { type: 'string' },
    dir: { type: 'string' },
    keep: { type: 'boolean' },
    hosts: { type: 'boolean' },
    'log-level': { type: 'string' },
    dashboard: { type: 'string' },
  },
  allowPositionals: true,
  prepareArgs: withDashboardPort,
  run,
}
