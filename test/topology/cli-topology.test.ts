import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ExitCode } from '../../src/cli/command.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { topologyJsonSchemaText } from '../../src/topology/json-schema.ts'
import { DEFAULT_TOPOLOGY_FILE } from '../../src/topology/load.ts'
import { cli } from '../helpers/cli.ts'

const clock = new SystemClock()

describe('r3mes topology', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'r3mes-topology-cli-'))
  })
  after(async () => {
    await rm(dir, { recursive: true })
  })

  it('check: a valid file gives exit 0 and a one-line summary', async () => {
    const { code, out } = await cli('topology', 'check', DEFAULT_TOPOLOGY_FILE)
    assert.equal(code, ExitCode.ok)
    assert.equal(out.trimEnd().split('\n').length, 1)
    assert.match(out, /ok: default: 9 nodes \(4 validators, 4 miners in 2 subnets, 1 verifier, 3 arbiters, 1 serving\)/)
  })

  it('check: an invalid file gives exit 65 and every problem, naming file, line and field', async () => {
    const file = join(dir, 'bad.yaml')
    await writeFile(file, 'name: bad\nseed: x\nsubnets:\n  - layers: [0, 8]\n    miners: 0\n')
    const { code, out, err } = await cli('topology', 'check', file)
    assert.equal(code, ExitCode.dataError)
    assert.equal(out, '')
    assert.match(err, new RegExp(`${file}:2:7: field 'seed': expected an integer`))
    assert.match(
      err,
      new RegExp(`${file}:5:13: field 'subnets\\[0\\]\\.miners': expected an integer in \\[1, 64\\], found 0`),
    )
  })

  it('check: several files are each checked; one bad file fails the command', async () => {
    const bad = join(dir, 'typo.yaml')
    await writeFile(bad, 'name: typo\nsubnet: []\n')
    const { code, out, err } = await cli('topology', 'check', DEFAULT_TOPOLOGY_FILE, bad, DEFAULT_TOPOLOGY_FILE)
    assert.equal(code, ExitCode.dataError)
    assert.equal(out.trimEnd().split('\n').length, 2)
    assert.match(err, /field 'subnet': .*did you mean 'subnets'/)
  })

  it('check: a self-referencing alias, an alias bomb or a key written twice: exit 65, the place, no stack trace', async () => {
    const files = {
      'cycle.yaml': [
        'name: x\nsubnets: &s\n  - layers: [0, 8]\n    miners: *s\n',
        /cycle\.yaml:4:13: field 'subnets\[0\]\.miners'/,
      ],
      'bomb.yaml': [
        `a: &a [${Array(9).fill('"lol"').join(', ')}]\n${'bcdefghijk'
          .split('')
          .map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghijk'[i]}`).join(', ')}]`)
          .join('\n')}\n`,
        /bomb\.yaml:\d+:\d+: field '[a-k]\[0\]': expected at most \d+ values once aliases are expanded/,
      ],
      'twice.yaml': [
        'name: a\nname: b\n',
        /twice\.yaml:2:1: field 'name': expected each key once in a mapping, found the key 'name' a second time/,
      ],
    } as const
    for (const [name, [text, place]] of Object.entries(files)) {
      const file = join(dir, name)
      await writeFile(file, text)
      const start = clock.monotonicMs()
      const { code, out, err } = await cli('topology', 'check', file)
      assert.ok(clock.monotonicMs() - start < 2_000, `${name} took ${clock.monotonicMs() - start} ms`)
      assert.equal(code, ExitCode.dataError, name)
      assert.equal(out, '')
      assert.match(err, place)
      assert.doesNotMatch(err, /\n\s+at /, `${name}: no stack trace`)
    }
  })

  it('check: no file is a usage error', async () => {
    const { code, err } = await cli('topology', 'check')
    assert.equal(code, ExitCode.usage)
    assert.match(err, /needs a topology file/)
  })

  it('refuses an unknown action with a usage error', async () => {
    const { code } = await cli('topology', 'launch')
    assert.equal(code, ExitCode.usage)
  })

  it('plan: lists the nodes and roles of the default, or prints them as JSON', async () => {
    const text = await cli('topology', 'plan')
    assert.equal(text.code, ExitCode.ok)
    assert.match(text.out, /^ {2}validator-1 +aggregator,arbiter,validator$/m)
    const json = await cli('topology', 'plan', DEFAULT_TOPOLOGY_FILE, '--json')
    const plan = JSON.parse(json.out)
    assert.equal(plan.nodes.length, 9)
    assert.equal(plan.nodes[0].stake, '20000000000')
  })

  it('schema: prints the JSON Schema, or writes the committed form to --out', async () => {
    const printed = await cli('topology', 'schema')
    assert.equal(printed.code, ExitCode.ok)
    assert.equal(JSON.parse(printed.out).title, 'R3MES topology')
    const file = join(dir, 'schema.json')
    const written = await cli('topology', 'schema', '--out', file)
    assert.equal(written.code, ExitCode.ok)
    assert.equal(await readFile(file, 'utf8'), topologyJsonSchemaText())
  })
})
