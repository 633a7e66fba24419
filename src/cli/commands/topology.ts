/** `r3mes topology`: check a topology file, show the nodes it expands to, export its JSON Schema. */
import { writeFile } from 'node:fs/promises'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { TopologyError } from '../../topology/errors.ts'
import { expandTopology } from '../../topology/expand.ts'
import { topologyJsonSchemaText } from '../../topology/json-schema.ts'
import { DEFAULT_TOPOLOGY_FILE, loadTopology } from '../../topology/load.ts'
import { summarizePlan } from '../../topology/summary.ts'
import type { NetworkPlan } from '../../topology/types.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'

/** Load and expand, or print every problem of the file and return the exit code. */
async function planOf(file: string, io: CliIo): Promise<NetworkPlan | number> {
  try {
    return expandTopology(await loadTopology(file))
  } catch (error) {
    if (!(error instanceof TopologyError)) throw error
    io.err(error.message)
    return ExitCode.dataError
  }
}

/** Every file is checked, so one command checks a whole folder of scenarios. */
async function check(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const files = args.positionals.slice(1)
  if (files.length === 0) throw new InvalidArgumentError('r3mes topology check needs a topology file')
  let code: number = ExitCode.ok
  for (const file of files) {
    const plan = await planOf(file, io)
    if (typeof plan === 'number') code = plan
    else io.out(`${plan.topology.file}: ok: ${summarizePlan(plan)}`)
  }
  return code
}

async function show(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const [, file = DEFAULT_TOPOLOGY_FILE, ...extra] = args.positionals
  if (extra.length > 0) throw new InvalidArgumentError(`unexpected arguments: ${extra.join(' ')}`)
  const plan = await planOf(file, io)
  if (typeof plan === 'number') return plan
  if (args.values.json === true) {
    io.out(JSON.stringify(plan, (_key, value) => (typeof value === 'bigint' ? value.toString() : value)))
    return ExitCode.ok
  }
  io.out(summarizePlan(plan))
  for (const node of plan.nodes) {
    const subnet = node.subnet === undefined ? '' : ` subnet ${node.subnet}`
    const cheats = node.misbehaviours.map((m) => ` ${m.kind} from window ${m.fromWindow}`).join(',')
    io.out(`  ${node.name.padEnd(14)} ${node.roles.join(',')}${subnet}${cheats === '' ? '' : `, misbehaves:${cheats}`}`)
  }
  for (const fault of plan.faults) {
    const at =
      'height' in fault.at
        ? `height ${fault.at.height}`
        : 'ms' in fault.at
          ? `${fault.at.ms} ms`
          : `${fault.at.afterMs} ms after the previous fault`
    const who =
      fault.groups !== undefined
        ? fault.groups.map((g) => g.join(',')).join(' | ')
        : [...fault.nodes, ...(fault.proposer ? ['proposer'] : [])].join(',')
    io.out(`  at ${at}: ${fault.action} ${who}${fault.skewMs === undefined ? '' : ` by ${fault.skewMs} ms`}`.trimEnd())
  }
  return ExitCode.ok
}

async function schema(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  if (args.positionals.length > 1)
    throw new InvalidArgumentError(`unexpected arguments: ${args.positionals.slice(1).join(' ')}`)
  const out = args.values.out
  if (typeof out === 'string') {
    await writeFile(out, topologyJsonSchemaText())
    io.out(`JSON Schema written to ${out}`)
  } else io.out(topologyJsonSchemaText().trimEnd())
  return ExitCode.ok
}

export const topologyCommand: Command = {
  name: 'topology',
  summary: 'check a topology file, list the nodes it describes, export its JSON Schema',
  usage: 'r3mes topology <check FILE... | plan [FILE] | schema [--out FILE]>',
  help: `Actions:
  check FILE...   load and check topology files: prints a one-line summary of each and exits 0, or
                  prints every problem (file, line, field, expected, found) and exits ${ExitCode.dataError}
  plan [FILE]     the nodes and faults the file expands to (default: the embedded default.yaml)
  schema          print the JSON Schema of topology files (for editors)

Options:
  --json          plan: print the plan as one JSON object
  --out FILE      schema: write it to FILE (topology/schema.json is the committed copy)

The format is documented in docs/TOPOLOGY.md.`,
  options: { json: { type: 'boolean' }, out: { type: 'string' } },
  allowPositionals: true,
  async run(args, io) {
    const [action] = args.positionals
    if (action === 'check') return check(args, io)
    if (action === 'plan') return show(args, io)
    if (action === 'schema') return schema(args, io)
    throw new InvalidArgumentError(`unknown action '${action ?? ''}'; expected check, plan or schema`)
  },
}
